"""The one compositor: what an output frame shows, laid out as `layout` says (settings.LAYOUTS), for the
reenactment and the window's recorder alike.

- "avatar": the avatar's image alone;
- "side": the source picture (video frame or camera image) scaled to the avatar's height, left of the avatar;
- "grid": 2x2: the source and the avatar, then the avatar from its side (GRID_SIDE_YAW) and its alpha, grey.

Where there is no source picture, its panel is black.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from avatar import Avatar
from avatar.splatting.rasterizer import rasterize
from models.orbit import OrbitCamera
from models.params import FlameParams
from viewer.runs.overlay import draw_landmarks, fit_into
from viewer.runs.pixels import to_uint8

GRID_SIDE_YAW = math.radians(45.0)  # the grid's third panel: the avatar seen from its side


def source_panel_width(source_size: tuple[int, int] | None, height: int, default: int) -> int:
    """How wide the source's panel is beside an avatar `height` high: the source (width, height) scaled to that
    height, to an even width (H.264 needs even sizes); `default` where there is no source yet."""
    if source_size is None:
        return default
    return max(2, 2 * round(height * source_size[0] / source_size[1] / 2))


def layout_size(layout: str, width: int, height: int, source_size: tuple[int, int] | None) -> tuple[int, int]:
    """The output frame's (width, height) for an avatar image of width x height."""
    if layout == "grid":
        return 2 * width, 2 * height
    if layout == "side":
        return source_panel_width(source_size, height, width) + width, height
    return width, height


def beside(picture: np.ndarray | None, avatar_image: np.ndarray, panel_width: int) -> np.ndarray:
    """(H, panel_width + W, 3) uint8: `picture` fitted into a panel left of `avatar_image` (H, W, 3) uint8."""
    height = avatar_image.shape[0]
    panel = (fit_into(picture, panel_width, height) if picture is not None
             else np.zeros((height, panel_width, 3), np.uint8))
    return np.concatenate([panel, avatar_image], axis=1)


class Compositor:
    """Output frames of one avatar through its home camera, width x height, on `background` (RGB 0-255), laid out
    as `layout` says beside a source of `source_size` (width, height; None: none), with its landmarks drawn on it
    where `landmarks`."""

    def __init__(self, avatar: Avatar, width: int, height: int, background: tuple[int, int, int], renderer: str,
                 layout: str, source_size: tuple[int, int] | None, landmarks: bool = False):
        self.avatar, self.renderer, self.layout, self.landmarks = avatar, renderer, layout, landmarks
        orbit = OrbitCamera.home_of(avatar, width, height)
        self.front = orbit.camera()
        orbit.rotate(GRID_SIDE_YAW, 0.0)
        self.side = orbit.camera()
        self.background = torch.tensor(background, dtype=torch.float32) / 255
        self.panel_width = source_panel_width(source_size, height, width) if layout == "side" else width

    def frame(self, params: FlameParams, picture: np.ndarray | None = None, points: np.ndarray | None = None,
              face_found: bool = True) -> np.ndarray:
        """(height, width, 3) uint8 RGB: the avatar posed by `params`, beside `picture` (H, W, 3) uint8, on which
        the landmarks are `points` (N, 2+) pixels or None ("no face" written on it without `face_found`)."""
        gaussians = self.avatar.gaussians(params)
        render = rasterize(gaussians, self.front, self.background, self.renderer, image_only=self.layout != "grid")
        avatar_image = to_uint8(render.image).cpu().numpy()  # images come back as bytes, from any device
        if self.layout == "avatar":
            return avatar_image
        if picture is not None and self.landmarks:
            picture = draw_landmarks(picture, points, face_found=face_found)
        top = beside(picture, avatar_image, self.panel_width)
        if self.layout == "side":
            return top
        side_image = rasterize(gaussians, self.side, self.background, self.renderer, image_only=True).image
        alpha = np.repeat(to_uint8(render.alpha).cpu().numpy()[:, :, None], 3, axis=2)
        return np.concatenate([top, np.concatenate([to_uint8(side_image).cpu().numpy(), alpha], axis=1)], axis=0)
