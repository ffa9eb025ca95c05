"""IMavatar `flame_params.json` files: the tracked FLAME parameters and camera of a MonoGaussianAvatar dataset."""
from __future__ import annotations

import json
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import torch
from torch import Tensor

from avatar.camera import Camera
from avatar.errors import AvatarError
from models.params import FlameSequence

NUM_SHAPE = 100
FRAME_SHAPES = {"expression": (50,), "pose": (15,), "world_mat": (3, 4)}  # pose: 5 joints' axis-angle
OPENGL_TO_OPENCV = torch.diag(torch.tensor([1.0, -1.0, -1.0, 1.0]))  # flips y and z: camera looks down +z


@dataclass
class ImavatarSequence:
    """The frames of one `flame_params.json`, all float32."""

    params: FlameSequence  # expression (F, 50), pose (F, 5, 3), translation zeros, names from `file_path`
    world_mats: Tensor  # (F, 3, 4) world -> OpenGL camera (x right, y up, looking down -z)
    intrinsics: Tensor  # (4,) [fx, fy, cx, cy] divided by the image size, fx negative
    shape: Tensor  # (100,) FLAME identity, shared by every split of a subject


def read_flame_params_json(path: str | PathLike) -> ImavatarSequence:
    """Read an IMavatar `flame_params.json`; a missing or malformed file raises a one-line AvatarError."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as file:
            data = json.load(file)
    except FileNotFoundError:
        raise AvatarError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise AvatarError(f"{path}: not a readable JSON file ({err})") from err
    if not isinstance(data, dict):
        raise AvatarError(f"{path}: holds a JSON {type(data).__name__}, not an IMavatar flame_params object")
    _require_keys(path, "the file", data, ("intrinsics", "shape_params", "frames"))
    intrinsics = _numbers(path, "intrinsics", data["intrinsics"], (4,))
    shape = _numbers(path, "shape_params", data["shape_params"], (NUM_SHAPE,))
    frames = data["frames"]
    if not isinstance(frames, list) or not frames:
        raise AvatarError(f"{path}: 'frames' is not a non-empty list")

    names, columns = [], {key: [] for key in FRAME_SHAPES}
    for index, frame in enumerate(frames):
        where = f"frames[{index}]"
        if not isinstance(frame, dict):
            raise AvatarError(f"{path}: {where} is not an object")
        _require_keys(path, where, frame, ("file_path", *FRAME_SHAPES))
        names.append(Path(str(frame["file_path"])).name)  # "./image/12" -> "12"
        for key, shape_ in FRAME_SHAPES.items():
            columns[key].append(_numbers(path, f"{where}.{key}", frame[key], shape_))

    expression = torch.stack(columns["expression"])
    params = FlameSequence(expression=expression, pose=torch.stack(columns["pose"]).reshape(-1, 5, 3),
                           translation=torch.zeros(len(frames), 3), names=tuple(names))
    return ImavatarSequence(params, torch.stack(columns["world_mat"]), intrinsics, shape)


def imavatar_camera(intrinsics: Tensor, world_mat: Tensor, img_res: tuple[int, int] = (512, 512)) -> Camera:
    """The camera MonoGaussianAvatar renders a frame with (spec §6.1).

    intrinsics (4,) normalised, fx negative; world_mat (3, 4); img_res (H, W) = the config's `img_res`.
    The original scales fx and cx by img_res[0], fy and cy by img_res[1] (the same for its square images).
    Its projection lands at u = fx X/Z + cx - 0.5; our Camera puts pixel centres at integers and projects to
    u = fx X/Z + cx, hence the half pixel taken off the principal point.
    """
    r0, r1 = img_res
    fx, fy, cx, cy = (float(value) for value in intrinsics)
    world_to_gl = torch.eye(4)
    world_to_gl[:3] = world_mat
    return Camera(width=r1, height=r0, fx=-fx * r0, fy=fy * r1, cx=cx * r0 - 0.5, cy=cy * r1 - 0.5,
                  world_to_camera=OPENGL_TO_OPENCV @ world_to_gl, znear=0.01, zfar=100.0)


def _require_keys(path: Path, where: str, data: dict, keys) -> None:
    missing = [key for key in keys if key not in data]
    if missing:
        raise AvatarError(f"{path}: {where} has no {', '.join(repr(key) for key in missing)}")


def _numbers(path: Path, key: str, value, shape: tuple[int, ...]) -> Tensor:
    """`value` (nested lists of numbers) as a float32 tensor of `shape`."""
    try:
        tensor = torch.tensor(value, dtype=torch.float32)
    except (TypeError, ValueError, RuntimeError):
        raise AvatarError(f"{path}: '{key}' is not a list of numbers of shape {shape}") from None
    if tuple(tensor.shape) != shape:
        raise AvatarError(f"{path}: '{key}' has shape {tuple(tensor.shape)}, expected {shape}")
    return tensor
