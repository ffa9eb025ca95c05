"""A tracked sequence on disk: livehead's own `.npz` (plain arrays, never pickled) and IMavatar json export."""
from __future__ import annotations

from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from models.atomic_file import replaced_atomically
from models.camera import Camera
from models.head_model_file import read_npz
from models.imavatar_json import write_flame_params_json
from models.params import FlameSequence

FORMAT_VERSION = 1
VERSION_KEY = "livehead_tracked_sequence_version"
SEQUENCE_KEYS = ("expression", "pose", "translation", "names")
KEYS = (VERSION_KEY, *SEQUENCE_KEYS, "face_found", "fit_error_px", "fps", "expression_names",
        "camera/intrinsics", "camera/world_to_camera")
WHAT_TO_DO = "give a tracked sequence .npz written by livehead"


class SequenceFileError(ValueError):
    """A tracked sequence file is missing or malformed; the one-line message names the file and the fault."""


@dataclass
class TrackedSequence:
    """What a tracker made of a video: FLAME parameters per frame, how well each frame went, and the camera."""

    params: FlameSequence  # expression (F, E), pose (F, 5, 3), translation (F, 3), names (F,)
    face_found: np.ndarray  # (F,) bool; where False, the frame's parameters were held or guessed, not fitted
    fit_error_px: np.ndarray  # (F,) float32: the fit's landmark error in pixels; NaN where no face was found
    fps: float  # the source's frame rate
    camera: Camera  # the camera the parameters were fitted through
    expression_names: tuple[str, ...] = ()  # one per expression coefficient, or () where they have none

    def __post_init__(self) -> None:
        self.face_found = np.asarray(self.face_found, dtype=bool)
        self.fit_error_px = np.asarray(self.fit_error_px, dtype=np.float32)
        self.expression_names = tuple(self.expression_names)
        problem = _inconsistency(self)
        if problem:
            raise ValueError(f"inconsistent tracked sequence: {problem}")

    def __len__(self) -> int:
        return len(self.params)


def save_tracked_sequence(path: str | PathLike, tracked: TrackedSequence) -> None:
    """Write `tracked` as an `.npz` readable with allow_pickle=False; written under a temporary name, then renamed."""
    params = tracked.params
    arrays = {
        VERSION_KEY: np.array(FORMAT_VERSION),
        "expression": params.expression.detach().cpu().numpy().astype(np.float32),
        "pose": params.pose.detach().cpu().numpy().astype(np.float32),
        "translation": params.translation.detach().cpu().numpy().astype(np.float32),
        "names": np.array(params.names, dtype=str).reshape(len(params)),
        "face_found": tracked.face_found,
        "fit_error_px": tracked.fit_error_px,
        "fps": np.array(float(tracked.fps)),
        "expression_names": np.array(tracked.expression_names, dtype=str).reshape(len(tracked.expression_names)),
    } | tracked.camera.to_arrays()
    with replaced_atomically(path) as temporary, open(temporary, "wb") as file:
        np.savez_compressed(file, **arrays)  # a file object keeps np.savez from appending ".npz" to the name


def load_tracked_sequence(path: str | PathLike) -> TrackedSequence:
    """Read a file written by save_tracked_sequence; anything else raises a one-line SequenceFileError."""
    path = Path(path)
    arrays = _read_npz(path)
    missing = [key for key in KEYS if key not in arrays]
    if missing:
        raise SequenceFileError(f"{path}: missing {', '.join(repr(key) for key in missing)}; {WHAT_TO_DO}")
    version = arrays[VERSION_KEY]
    if version.shape != () or version.dtype.kind not in "iu" or not 1 <= int(version) <= FORMAT_VERSION:
        raise SequenceFileError(f"{path}: tracked sequence format version {version} is not one this livehead reads "
                                f"(1..{FORMAT_VERSION}); update livehead")
    for key in ("expression", "pose", "translation", "fit_error_px", "fps", "camera/intrinsics",
                "camera/world_to_camera"):
        if arrays[key].dtype.kind not in "iuf":
            raise SequenceFileError(f"{path}: '{key}' is not numeric (it holds {arrays[key].dtype})")
    if arrays["camera/intrinsics"].shape != (8,) or arrays["camera/world_to_camera"].shape != (4, 4):
        raise SequenceFileError(f"{path}: the camera arrays have shapes {arrays['camera/intrinsics'].shape} and "
                                f"{arrays['camera/world_to_camera'].shape}, expected (8,) and (4, 4)")
    try:
        params = FlameSequence(*(torch.from_numpy(arrays[key].astype(np.float32)) for key in SEQUENCE_KEYS[:3]),
                               names=tuple(str(name) for name in arrays["names"].reshape(-1)))
        tracked = TrackedSequence(params, arrays["face_found"], arrays["fit_error_px"], float(arrays["fps"]),
                                  Camera.from_arrays(arrays), tuple(str(n) for n in arrays["expression_names"]))
    except (ValueError, TypeError) as err:  # _inconsistency's message, or an fps that is not one number
        raise SequenceFileError(f"{path}: {err}") from err
    return tracked


def export_imavatar(path: str | PathLike, tracked: TrackedSequence, shape: Tensor | None = None) -> None:
    """Write `tracked` as an IMavatar `flame_params.json` (see write_flame_params_json: the translation goes into
    each frame's world_mat, the expression is padded or cut to FLAME's 50)."""
    write_flame_params_json(path, tracked.params, tracked.camera, shape=shape)


def _inconsistency(tracked: TrackedSequence) -> str | None:
    """What is wrong with the shapes of `tracked`, in a few words; None if nothing."""
    params = tracked.params
    frames = len(params)
    if params.expression.ndim != 2:
        return f"expression has shape {tuple(params.expression.shape)}, expected (frames, coefficients)"
    expected = {"pose": (params.pose, (frames, 5, 3)), "translation": (params.translation, (frames, 3)),
                "face_found": (tracked.face_found, (frames,)), "fit_error_px": (tracked.fit_error_px, (frames,))}
    for key, (value, shape) in expected.items():
        if tuple(value.shape) != shape:
            return f"'{key}' has shape {tuple(value.shape)}, expected {shape} for {frames} frames"
    if len(params.names) != frames:
        return f"{len(params.names)} frame names for {frames} frames"
    if tracked.expression_names and len(tracked.expression_names) != params.expression.shape[1]:
        return f"{len(tracked.expression_names)} expression names for {params.expression.shape[1]} coefficients"
    if not (np.isfinite(tracked.fps) and tracked.fps > 0):
        return f"fps is {tracked.fps}, expected a positive number"
    return None


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise SequenceFileError(f"{path}: no such file; {WHAT_TO_DO}")
    return read_npz(path, WHAT_TO_DO, SequenceFileError)
