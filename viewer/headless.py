"""Render the scripted sweep of an avatar into a video, with a progress bar."""
from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from tqdm import tqdm

from avatar import Avatar
from avatar.rasterizer import rasterize
from viewer.orbit import OrbitCamera
from viewer.pixels import to_uint8
from viewer.sweep import sweep_frame
from viewer.video import Mp4Writer


def render_sweep(avatar: Avatar, orbit: OrbitCamera, video: Mp4Writer, frames: int, background: torch.Tensor,
                 backend: str = "auto", progress: bool = True) -> None:
    """Write `frames` frames of the sweep, seen through `orbit` at rest, to `video`.

    Ctrl-C stops it between two frames with a KeyboardInterrupt.
    """
    with torch.inference_mode(), interrupt_between_frames() as interrupted:
        for index in tqdm(range(frames), desc="rendering", unit="frame", disable=not progress, dynamic_ncols=True):
            if interrupted.is_set():
                raise KeyboardInterrupt
            params, camera = sweep_frame(index, frames, avatar.head.num_expressions, orbit)
            image = rasterize(avatar.gaussians(params), camera, background, backend, image_only=True).image
            video.write(to_uint8(image).cpu().numpy())  # the one copy back, in bytes


@contextmanager
def interrupt_between_frames() -> Iterator[threading.Event]:
    """Holds Ctrl-C (and a kill, SIGTERM) until the frame is done: inside a numba kernel it would surface as a
    SystemError."""
    interrupted = threading.Event()
    if threading.current_thread() is not threading.main_thread():  # only the main thread gets signals
        yield interrupted
        return
    previous = {number: signal.signal(number, lambda *_: interrupted.set()) for number in (signal.SIGINT,
                                                                                           signal.SIGTERM)}
    try:
        yield interrupted
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
