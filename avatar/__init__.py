"""Avatars: everything that turns FLAME parameters into Gaussians, and the rasterizers that draw them.

    from avatar import load_avatar
    from avatar.rasterizer import rasterize
    from models.params import FlameParams

    avatar = load_avatar()  # the embedded demo; or load_avatar("my_avatar.npz")
    params = FlameParams.neutral(avatar.head.num_expressions)
    params.pose[2, 0] = 0.3  # open the jaw
    image = rasterize(avatar.gaussians(params), avatar.default_camera).image  # (H, W, 3)
"""
from __future__ import annotations

from os import PathLike
from pathlib import Path

from avatar.rigged import RiggedAvatar, load_rigged_avatar
from models.head_model_file import HeadModelError

Avatar = RiggedAvatar  # every avatar kind offers .head, .default_camera and .gaussians(params)


class AvatarError(ValueError):
    """An avatar cannot be loaded from what the user gave; the message says which file and why."""


def load_avatar(path: str | PathLike | None = None) -> Avatar:
    """The avatar stored at `path`, or the embedded demo avatar when `path` is None."""
    if path is None:
        from avatar.demo import load_demo_avatar

        return load_demo_avatar()
    path = Path(path)
    if not path.exists():
        raise AvatarError(f"{path}: no such file or folder")
    if path.suffix != ".npz":
        raise AvatarError(f"{path}: not an avatar livehead can load (expected an .npz written by livehead)")
    try:
        return load_rigged_avatar(path)
    except HeadModelError as err:
        raise AvatarError(str(err)) from err
