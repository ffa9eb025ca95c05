"""The window's renderer: a background thread that always renders the newest request, so the window keeps
responding at the renderer's speed; requests that arrive while it works replace each other."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np
import torch

from avatar import Avatar
from avatar.splatting.rasterizer import Render, device_of, rasterize
from models.camera import Camera
from models.latest import Latest
from models.params import FlameParams

DEPTH_COVERED = 0.5  # pixels at least this opaque set the depth display's range
DEPTH_FAR_GREY = 0.15  # the far end of the depth range, on black; the near end is white


@dataclass
class RenderRequest:
    number: int  # increasing; the Frame that answers it carries it
    params: FlameParams
    camera: Camera
    background: torch.Tensor  # (3,) RGB in [0, 1]
    backend: str
    mode: str  # "RGB", "alpha" or "depth"
    captured_at: float | None = None  # perf_counter() when the camera frame that drove it was captured


@dataclass
class Frame:
    number: int  # the number of the request it answers
    image: np.ndarray  # (H, W, 3) float32 RGB: what the window shows
    seconds: float  # how long it took
    captured_at: float | None  # the request's


def display_image(render: Render, mode: str) -> torch.Tensor:
    """(H, W, 3) float RGB to show: the image, the opacity (white: opaque, on black), or the depth (near white, far
    dark grey, on black; normalised by its 1st-99th percentile over the pixels the avatar covers)."""
    if mode == "RGB":
        return render.image
    alpha = render.alpha.float()
    if mode == "alpha":
        grey = alpha
    elif mode == "depth":
        depth = render.depth.float() / alpha.clamp(min=1e-6)  # the mean depth where the pixel is covered
        covered = depth[alpha >= DEPTH_COVERED]
        if covered.numel() < 2:
            return torch.zeros(*alpha.shape, 3)
        near, far = torch.quantile(covered, torch.tensor([0.01, 0.99], device=covered.device)).tolist()
        nearness = 1 - ((depth - near) / max(far - near, 1e-6)).clamp(0, 1)
        grey = (DEPTH_FAR_GREY + (1 - DEPTH_FAR_GREY) * nearness) * alpha
    else:
        raise ValueError(f"render mode {mode!r}: choose RGB, alpha or depth")
    return grey[..., None].expand(*grey.shape, 3)


class RenderThread:
    """request() the newest (params, camera, settings); `latest` is the last finished Frame. An exception in the
    thread ends it and is kept in `error`, for the GUI thread to raise."""

    def __init__(self, avatar: Avatar):
        self.avatar = avatar
        self._on_device = {avatar.device.type: avatar}  # the avatar on each device a backend asked for
        self.latest: Frame | None = None
        self.error: BaseException | None = None
        self._requests: Latest[RenderRequest] = Latest()
        self._thread = threading.Thread(target=self._run, name="render", daemon=True)
        self._thread.start()

    def request(self, request: RenderRequest) -> None:
        self._requests.put(request)

    def avatar_for(self, backend: str) -> Avatar:
        """The avatar on `backend`'s device: moved there the first time that backend draws it, then kept, so that
        switching renderers moves it once, not its Gaussians every frame."""
        device = device_of(backend)
        if device not in self._on_device:
            self._on_device[device] = self.avatar.to(device)
        return self._on_device[device]

    def stop(self) -> None:
        self._requests.close()
        self._thread.join()

    def _run(self) -> None:
        with torch.inference_mode():
            while True:
                request = self._requests.take()
                if request is None or self._requests.closed:  # stopped: a request left untaken is not drawn
                    return
                start = time.perf_counter()
                try:
                    avatar = self.avatar_for(request.backend)
                    render = rasterize(avatar.gaussians(request.params), request.camera, request.background,
                                       request.backend, image_only=request.mode == "RGB")
                    image = display_image(render, request.mode).float().cpu().numpy()
                except BaseException as error:  # noqa: BLE001 - handed to the GUI thread, which raises it
                    self.error = error
                    return
                self.latest = Frame(request.number, np.ascontiguousarray(image), time.perf_counter() - start,
                                    request.captured_at)
