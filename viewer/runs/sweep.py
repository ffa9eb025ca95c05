"""The scripted sweep the headless mode records (`render_sweep`): each frame a pure function of its index.

neutral -> each expression up and back down -> jaw open and shut -> head turns left and right -> eyes look
left and right -> one full camera orbit around the head. Each phase lasts a fixed number of beats (the
expressions share theirs) and gets its share of the frames, so any frame count plays the whole sweep at a
matching speed; the last frame stops just short of where the first began, so the video loops.
"""
from __future__ import annotations

import math
from dataclasses import replace

import torch
from tqdm import tqdm

from avatar import Avatar
from avatar.splatting.rasterizer import rasterize
from models.camera import Camera
from models.orbit import OrbitCamera
from models.params import JAW, LEFT_EYE, NECK, RIGHT_EYE, FlameParams
from viewer.runs.interrupts import interrupt_between_frames
from viewer.runs.pixels import to_uint8
from viewer.runs.video import Mp4Writer

JAW_OPEN = 0.3  # radians: wide open
HEAD_TURN = 0.6  # radians of neck yaw each way
EYES_TURN = 0.3  # radians each way

# Beats per phase; the expressions share theirs, so that a rig of 32 (or FLAME's 100) does not crowd out the rest.
NEUTRAL_BEATS, EXPRESSIONS_BEATS, JAW_BEATS, HEAD_BEATS, EYES_BEATS, ORBIT_BEATS = 1, 18, 2, 4, 3, 6


def sweep_frame(index: int, count: int, num_expressions: int, orbit: OrbitCamera) -> tuple[FlameParams, Camera]:
    """Parameters and camera of frame `index` of a `count`-frame sweep; `orbit` is the camera at rest."""
    phases = [("neutral", -1, NEUTRAL_BEATS)]
    phases += [("expression", k, EXPRESSIONS_BEATS / num_expressions) for k in range(num_expressions)]
    phases += [("jaw", -1, JAW_BEATS), ("head", -1, HEAD_BEATS), ("eyes", -1, EYES_BEATS), ("orbit", -1, ORBIT_BEATS)]
    beat = index / count * sum(beats for _, _, beats in phases)
    for kind, expression, beats in phases:
        if beat < beats:
            break
        beat -= beats
    s = beat / beats  # progress through this phase, in [0, 1)
    up_and_down = math.sin(math.pi * s) ** 2  # 0 -> 1 -> 0, easing at both ends
    both_ways = math.sin(2 * math.pi * s)  # 0 -> 1 -> -1 -> 0

    params = FlameParams.neutral(num_expressions)
    view = orbit
    if kind == "expression":
        params.expression[expression] = up_and_down
    elif kind == "jaw":
        params.pose[JAW, 0] = JAW_OPEN * up_and_down
    elif kind == "head":
        params.pose[NECK, 1] = HEAD_TURN * both_ways
    elif kind == "eyes":
        params.pose[LEFT_EYE, 1] = params.pose[RIGHT_EYE, 1] = EYES_TURN * both_ways
    elif kind == "orbit":
        view = replace(orbit, yaw=orbit.yaw + 2 * math.pi * s)
    return params, view.camera()


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
