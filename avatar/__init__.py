"""Avatars: everything that turns FLAME parameters into Gaussians, and the rasterizers that draw them.

    from avatar import load_avatar
    from avatar.splatting.rasterizer import rasterize
    from models.params import FlameParams

    avatar = load_avatar()  # the embedded demo; or a MonoGaussianAvatar experiment, or a livehead .npz
    params = FlameParams.neutral(avatar.head.num_expressions)
    params.pose[JAW, 0] = 0.3  # open the jaw (models.params.JAW)
    image = rasterize(avatar.gaussians(params), avatar.default_camera).image  # (H, W, 3)
"""
from __future__ import annotations

from os import PathLike
from pathlib import Path

from avatar.contract import Avatar, EigenLayout
from models.errors import AvatarError
from models.head_model_file import HeadModelError, read_npz

__all__ = ["Avatar", "AvatarError", "EigenLayout", "load_avatar", "save_avatar"]


def load_avatar(path: str | PathLike | None = None, *, data_folder: str | PathLike | None = None,
                flame: str | PathLike | None = None, landmarks: str | PathLike | None = None) -> Avatar:
    """The avatar at `path`, or the embedded demo avatar when `path` is None.

    `path`: a livehead `.npz`; a MonoGaussianAvatar experiment: its `train` folder, its `checkpoints` folder
    or a `ModelParameters/*.pth`; an original GEM `.ptk`; a GaussianAvatars `point_cloud.ply` (or its folder)
    with `flame_param.npz` beside it, driven by the FLAME 2023 file `flame` (None: where a GaussianAvatars
    checkout keeps it, in a folder above) and tracked through the landmark embedding `landmarks` (None: the one
    beside the FLAME file). `data_folder` replaces the experiment config's `dataset.data_folder`
    (needed when the dataset has moved since training). Raises AvatarError with a one-line message.
    """
    if path is None:
        from avatar.demo import load_demo_avatar

        return load_demo_avatar()
    path = Path(path)
    if not path.exists():
        raise AvatarError(f"{path}: no such file or folder")
    if path.suffix == ".npz":
        return _load_npz_avatar(path)
    if path.suffix == ".ply" or (path / "point_cloud.ply").is_file():
        from avatar.flame_bound.avatar import FLAME_PARAMS, find_flame, load_flame_bound_avatar

        ply = path if path.suffix == ".ply" else path / "point_cloud.ply"
        if not (_is_bound(ply) or (ply.parent / FLAME_PARAMS).is_file() or flame is not None):
            return _load_static_ply(ply)  # a plain 3DGS PLY: nothing drives it
        return load_flame_bound_avatar(ply, Path(flame) if flame is not None else find_flame(ply),
                                       Path(landmarks) if landmarks is not None else None)
    if path.suffix == ".ptk":  # an original GEM eigen model (with its refined basis and track when found)
        from avatar.gem.avatar import GemAvatar

        return GemAvatar.from_original(path)
    if path.is_dir() or path.suffix == ".pth":
        from avatar.point.avatar import PointAvatar
        from avatar.point.experiment import open_experiment

        return PointAvatar.from_experiment(open_experiment(path, data_folder))
    raise AvatarError(f"{path}: not an avatar livehead can load (give an .npz written by livehead, a "
                      "MonoGaussianAvatar experiment folder or ModelParameters .pth, an original GEM .ptk or a "
                      "GaussianAvatars point_cloud.ply)")


def save_avatar(avatar: Avatar, path: str | PathLike) -> None:
    """Write `avatar` to one self-contained `.npz` that `load_avatar` reads back (in well under a second); an
    AvatarError, one line, for a kind that cannot be saved (its `file_kind` is None)."""
    if avatar.file_kind == "rigged":
        from avatar.rigged import save_rigged_avatar as save
    elif avatar.file_kind == "point":
        from avatar.point.avatar import save_point_avatar as save
    elif avatar.file_kind == "gem":
        from avatar.gem.file import save_gem as save
    elif avatar.file_kind == "flame_bound":
        from avatar.flame_bound.file import save_flame_bound_avatar as save
    else:
        raise AvatarError(f"a {type(avatar).__name__} cannot be saved as a livehead avatar file; open it from its "
                          "own files")
    save(avatar, path)


def _is_bound(ply: Path) -> bool:
    """Whether the PLY's Gaussians ride a mesh (GaussianAvatars' binding_0), from its header alone."""
    from avatar.splatting.ply import vertex_properties

    try:
        return "binding_0" in vertex_properties(ply)
    except (OSError, ValueError) as err:
        raise AvatarError(" ".join(str(err).split())) from None


def _load_static_ply(path: Path) -> Avatar:
    from avatar.splatting.ply import load_3dgs_ply
    from avatar.static import StaticAvatar

    try:
        return StaticAvatar.of(load_3dgs_ply(path))
    except (OSError, ValueError) as err:
        raise AvatarError(" ".join(str(err).split())) from None


def _load_npz_avatar(path: Path) -> Avatar:
    from avatar.point.avatar import load_point_avatar
    from avatar.rigged import KIND_KEY, load_rigged_avatar

    try:
        arrays = read_npz(path, "give an avatar file written by livehead")
        kind = str(arrays[KIND_KEY]) if KIND_KEY in arrays else None
        if kind == "rigged":
            return load_rigged_avatar(path, arrays)
        if kind == "point":
            return load_point_avatar(path, arrays)
        if kind == "gem":
            from avatar.gem.file import load_gem

            return load_gem(path, arrays)
        if kind == "flame_bound":
            from avatar.flame_bound.file import load_flame_bound_avatar_file

            return load_flame_bound_avatar_file(path, arrays)
    except HeadModelError as err:
        raise AvatarError(str(err)) from err
    raise AvatarError(f"{path}: not a livehead avatar file (no known '{KIND_KEY}'); give an avatar file written "
                      "by livehead")
