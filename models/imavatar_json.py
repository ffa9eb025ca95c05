"""IMavatar `flame_params.json` files: the tracked FLAME parameters and camera of a MonoGaussianAvatar dataset."""
from __future__ import annotations

import json
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import torch
from torch import Tensor

from models.atomic_file import replaced_atomically
from models.camera import Camera
from models.errors import AvatarError
from models.params import FlameSequence

NUM_SHAPE = 100
NUM_EXPRESSION = 50
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


def write_flame_params_json(path: str | PathLike, sequence: FlameSequence, camera: Camera, shape: Tensor | None = None,
                            world_mats: Tensor | None = None) -> None:
    """Write `sequence` seen by `camera` as an IMavatar `flame_params.json`, the inverse of read_flame_params_json.

    - intrinsics: [-fx / W, fy / H, (cx + 0.5) / W, (cy + 0.5) / H], IMavatar's normalised form (its loader scales
      by img_res[0] = the width it resizes to). imavatar_camera gives the camera back for square images, the only
      ones MonoGaussianAvatar reads consistently (it also scales fx by img_res[0] but renders img_res[0] rows).
    - world_mat: the camera's world -> OpenGL-camera matrix, or `world_mats` (F, 3, 4) / (3, 4) where given.
      IMavatar's FLAME has no translation, so each frame's translation t moves the camera instead:
      world_mat = W @ [I | t], which takes a head point p where the original camera takes p + t.
    - expression: zero-padded or cut to 50 coefficients. Only a FLAME-expression model's coefficients mean
      anything to IMavatar/MonoGaussianAvatar; another model's (e.g. the demo's 9) are written, but meaningless there.
    - shape_params: `shape` zero-padded or cut to 100 (zeros where not given).
    - file_path: "./image/<name>" where every frame's name is a distinct number (as the reader returns them),
      else "./image/<index + 1>".
    The file is written next to `path` under a temporary name, then renamed: a reader never sees half a file.
    """
    frames = len(sequence)
    if frames == 0:
        raise ValueError("an IMavatar flame_params.json needs at least one frame")
    if sequence.pose.shape[0] != frames or sequence.translation.shape[0] != frames:
        raise ValueError(f"sequence has {frames} expressions, {sequence.pose.shape[0]} poses and "
                         f"{sequence.translation.shape[0]} translations")
    intrinsics = [-camera.fx / camera.width, camera.fy / camera.height,
                  (camera.cx + 0.5) / camera.width, (camera.cy + 0.5) / camera.height]
    if world_mats is None:
        world_mats = (OPENGL_TO_OPENCV @ camera.world_to_camera.detach().float().cpu())[:3]
    world_mats = torch.as_tensor(world_mats, dtype=torch.float32, device="cpu")
    if tuple(world_mats.shape) not in ((3, 4), (frames, 3, 4)):
        raise ValueError(f"world_mats has shape {tuple(world_mats.shape)}, expected (3, 4) or ({frames}, 3, 4)")
    world_mats = world_mats.expand(frames, 3, 4)
    moved = torch.eye(4).repeat(frames, 1, 1)
    moved[:, :3, 3] = sequence.translation.detach().float().cpu()
    world_mats = world_mats @ moved  # (F, 3, 4): [W | w] @ [[I, t], [0, 1]] = [W | W t + w]
    expression = _fit(sequence.expression.reshape(frames, -1), NUM_EXPRESSION)
    shape = torch.zeros(1, NUM_SHAPE) if shape is None else _fit(shape.reshape(1, -1), NUM_SHAPE)
    data = {
        "intrinsics": intrinsics,
        "shape_params": shape[0].tolist(),
        "frames": [{"file_path": f"./image/{name}", "world_mat": world_mat.tolist(), "expression": row.tolist(),
                    "pose": pose.reshape(15).tolist()}
                   for name, world_mat, row, pose in zip(_image_names(sequence.names, frames), world_mats,
                                                         expression, sequence.pose.detach().float().cpu())],
    }
    with replaced_atomically(path) as temporary:
        temporary.write_text(json.dumps(data), encoding="utf-8")


def _fit(values: Tensor, size: int) -> Tensor:
    """(N, K) float32 values zero-padded or cut to (N, size)."""
    values = values.detach().float().cpu()
    return torch.nn.functional.pad(values, (0, max(size - values.shape[1], 0)))[:, :size]


def _image_names(names: tuple[str, ...], frames: int) -> list[str]:
    """The frames' image numbers: their own where each is a distinct number (the originals read int(name))."""
    numbers = [Path(str(name)).name for name in names]
    if len(numbers) == frames and all(number.isdecimal() for number in numbers):
        if len({int(number) for number in numbers}) == frames:
            return numbers
    return [str(index + 1) for index in range(frames)]


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
