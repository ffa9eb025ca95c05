"""Reading and writing head models: FLAME 2020 / 2023 `.pkl` files and livehead's own `.npz`."""
from __future__ import annotations

import zipfile
from dataclasses import replace
from os import PathLike
from pathlib import Path

import numpy as np
import torch

from models.head_model import HeadModel, LandmarkEmbedding
from models.safe_pickle import UnsafePickleError, safe_load, to_numpy

FLAME_SHAPE_COMPONENTS = 300  # FLAME's shapedirs hold 300 identity columns, then the expression columns
FORMAT_VERSION = 1
VERSION_KEY = "livehead_head_model_version"
TENSOR_KEYS = ("v_template", "shapedirs", "exprdirs", "posedirs", "joint_regressor", "parents", "lbs_weights", "faces")
INTEGER_KEYS = ("parents", "faces")
WHAT_TO_DO = "give a FLAME 2020/2023 .pkl or a head model .npz written by livehead"


class HeadModelError(ValueError):
    """A head model file is missing or is not a valid head model; the message names the file and the fault."""


def load_head_model(path: str | PathLike, num_shape: int = 300, num_expressions: int = 100) -> HeadModel:
    """Read a FLAME `.pkl` (through the safe unpickler) or a livehead `.npz`, keeping at most `num_shape`
    identity and `num_expressions` expression components. Raises HeadModelError (or UnsafePickleError for a
    pickle that could run code)."""
    if num_shape < 0 or num_expressions < 0:
        raise ValueError("num_shape and num_expressions must not be negative")
    path = Path(path)
    if not path.is_file():
        raise HeadModelError(f"{path}: no such file; {WHAT_TO_DO}")
    if path.suffix == ".pkl":
        model = _load_flame_pkl(path)
    elif path.suffix == ".npz":
        model = _load_npz(path)
    else:
        raise HeadModelError(f"{path}: unknown head model format '{path.suffix}'; {WHAT_TO_DO}")
    return replace(model, shapedirs=model.shapedirs[..., :num_shape].contiguous(),
                   exprdirs=model.exprdirs[..., :num_expressions].contiguous(),
                   expression_names=model.expression_names[:num_expressions])


def save_head_model(model: HeadModel, path: str | PathLike) -> None:
    """Write `model` as an `.npz` of plain arrays, readable with allow_pickle=False."""
    save_npz(path, head_model_arrays(model))


def head_model_arrays(model: HeadModel) -> dict[str, np.ndarray]:
    """The arrays of a head model `.npz`; files of other things that contain a head model add keys beside them."""
    arrays = {key: getattr(model, key).detach().cpu().numpy() for key in TENSOR_KEYS}
    arrays[VERSION_KEY] = np.array(FORMAT_VERSION)
    arrays["expression_names"] = np.array(model.expression_names, dtype=str)
    if model.expression_min is not None:
        arrays["expression_min"] = np.array(model.expression_min, np.float32)
    for name, landmark in model.landmarks.items():
        if "/" in name:
            raise ValueError(f"landmark set name {name!r} must not contain '/'")
        arrays[f"landmarks/{name}/face_ids"] = landmark.face_ids.detach().cpu().numpy()
        arrays[f"landmarks/{name}/bary"] = landmark.bary.detach().cpu().numpy()
    return arrays


def save_npz(path: str | PathLike, arrays: dict[str, np.ndarray], compress: bool = True) -> None:
    """Write `arrays`; `compress=False` for large float arrays that barely compress and must load fast."""
    with open(path, "wb") as file:  # a file object keeps np.savez from appending ".npz" to the name
        (np.savez_compressed if compress else np.savez)(file, **arrays)


def read_npz(path: Path, what_to_do: str = WHAT_TO_DO, error: type[Exception] = HeadModelError
             ) -> dict[str, np.ndarray]:
    """All arrays of an `.npz`, never unpickling; a file that is not one raises `error` naming it."""
    if not zipfile.is_zipfile(path):  # checked first: np.load would try other formats, pickles among them
        raise error(f"{path}: not an .npz archive (not a zip file); {what_to_do}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise error(f"{path}: not a readable .npz ({type(err).__name__}: {err}); {what_to_do}") from err


def _load_flame_pkl(path: Path) -> HeadModel:
    try:
        data = safe_load(path)
    except UnsafePickleError:
        raise
    except Exception as err:  # random bytes can fail in many ways inside the unpickler
        raise HeadModelError(f"{path}: not a readable pickle ({type(err).__name__}: {err}); {WHAT_TO_DO}") from err
    if not isinstance(data, dict):
        raise HeadModelError(f"{path}: holds a {type(data).__name__}, not a FLAME model dict; {WHAT_TO_DO}")
    keys = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")
    _require_keys(path, data, keys)
    arrays = {key: _numeric(path, key, data[key]) for key in keys}

    num_vertices = _check_shape(path, "v_template", arrays["v_template"], (None, 3))[0]
    num_joints = _check_shape(path, "J_regressor", arrays["J_regressor"], (None, num_vertices))[0]
    for key, shape in {"shapedirs": (num_vertices, 3, None), "posedirs": (num_vertices, 3, 9 * (num_joints - 1)),
                       "weights": (num_vertices, num_joints), "kintree_table": (2, num_joints), "f": (None, 3)}.items():
        _check_shape(path, key, arrays[key], shape)

    parents = arrays["kintree_table"][0].astype(np.int64)
    parents[0] = -1  # the root's parent is stored as -1 or, by Python 2 code, as 2**32 - 1
    shapedirs = arrays["shapedirs"]
    # Pose correctives: (V, 3, P) -> (P, V * 3), so that pose_feature @ posedirs reshaped to (V, 3) is the offset.
    posedirs = arrays["posedirs"].reshape(num_vertices * 3, -1).T
    return _head_model(path, {
        "v_template": arrays["v_template"], "shapedirs": shapedirs[..., :FLAME_SHAPE_COMPONENTS],
        "exprdirs": shapedirs[..., FLAME_SHAPE_COMPONENTS:], "posedirs": posedirs,
        "joint_regressor": arrays["J_regressor"], "parents": parents, "lbs_weights": arrays["weights"],
        "faces": arrays["f"]}, expression_names=(), landmarks={})


def _load_npz(path: Path) -> HeadModel:
    return head_model_from_arrays(path, read_npz(path))


def head_model_from_arrays(path: Path, data: dict[str, np.ndarray]) -> HeadModel:
    """The head model held in the arrays of an `.npz` read from `path` (named in errors)."""
    if VERSION_KEY not in data:
        raise HeadModelError(f"{path}: not a livehead head model (no '{VERSION_KEY}' key); {WHAT_TO_DO}")
    version = _numeric(path, VERSION_KEY, data[VERSION_KEY])
    _check_shape(path, VERSION_KEY, version, ())
    if version > FORMAT_VERSION:
        raise HeadModelError(f"{path}: head model format version {version} is newer than this livehead reads "
                             f"({FORMAT_VERSION}); update livehead")
    _require_keys(path, data, TENSOR_KEYS + ("expression_names",))
    arrays = {key: _numeric(path, key, data[key]) for key in TENSOR_KEYS}

    num_vertices = _check_shape(path, "v_template", arrays["v_template"], (None, 3))[0]
    num_joints = _check_shape(path, "parents", arrays["parents"], (None,))[0]
    for key, shape in {"shapedirs": (num_vertices, 3, None), "exprdirs": (num_vertices, 3, None),
                       "posedirs": (9 * (num_joints - 1), num_vertices * 3),
                       "joint_regressor": (num_joints, num_vertices), "lbs_weights": (num_vertices, num_joints),
                       "faces": (None, 3)}.items():
        _check_shape(path, key, arrays[key], shape)
    expression_names = tuple(str(name) for name in data["expression_names"])
    if expression_names and len(expression_names) != arrays["exprdirs"].shape[2]:
        raise HeadModelError(f"{path}: {len(expression_names)} expression_names for "
                             f"{arrays['exprdirs'].shape[2]} expression components")

    landmarks = {}
    for name in sorted({key.split("/")[1] for key in data if key.startswith("landmarks/")}):
        keys = (f"landmarks/{name}/face_ids", f"landmarks/{name}/bary")
        _require_keys(path, data, keys)
        face_ids, bary = (_numeric(path, key, data[key]) for key in keys)
        _check_shape(path, keys[1], bary, face_ids.shape + (3,))
        if face_ids.size and not 0 <= face_ids.min() <= face_ids.max() < len(arrays["faces"]):
            raise HeadModelError(f"{path}: '{keys[0]}' refers to faces outside 0..{len(arrays['faces']) - 1}")
        landmarks[name] = LandmarkEmbedding(torch.from_numpy(face_ids.astype(np.int64)),
                                            torch.from_numpy(bary.astype(np.float32)))
    model = _head_model(path, arrays, expression_names, landmarks)
    if "expression_min" in data:
        minimum = _numeric(path, "expression_min", data["expression_min"])
        _check_shape(path, "expression_min", minimum, ())
        model = replace(model, expression_min=float(minimum))
    return model


def _head_model(path: Path, arrays: dict[str, np.ndarray], expression_names: tuple[str, ...],
                landmarks: dict[str, LandmarkEmbedding]) -> HeadModel:
    """Check what the array shapes cannot show (joint order, face indices) and build a float32 CPU model."""
    parents, faces = arrays["parents"], arrays["faces"]
    # pose_head chains transforms in index order, so every parent must come before its children.
    later = (parents[1:] < 0) | (parents[1:] >= np.arange(1, len(parents)))
    if len(parents) == 0 or parents[0] != -1 or later.any():
        raise HeadModelError(f"{path}: joint parents {parents.tolist()} are not a tree rooted at joint 0 with "
                             "parents before children")
    if faces.size and not 0 <= faces.min() <= faces.max() < len(arrays["v_template"]):
        raise HeadModelError(f"{path}: faces refer to vertices outside 0..{len(arrays['v_template']) - 1}")
    tensors = {key: torch.from_numpy(np.ascontiguousarray(
        arrays[key], dtype=np.int64 if key in INTEGER_KEYS else np.float32)) for key in TENSOR_KEYS}
    return HeadModel(**tensors, expression_names=expression_names, landmarks=landmarks)


def _require_keys(path: Path, data: dict, keys: tuple[str, ...]) -> None:
    missing = [key for key in keys if key not in data]
    if missing:
        raise HeadModelError(f"{path}: missing {', '.join(repr(key) for key in missing)}; not a complete head "
                             f"model; {WHAT_TO_DO}")


def _numeric(path: Path, key: str, value: object) -> np.ndarray:
    """The value of `key` as a numeric ndarray (chumpy stubs and sparse matrices become dense arrays)."""
    try:
        array = np.asarray(to_numpy(value, densify=True))
    except ValueError as err:
        raise HeadModelError(f"{path}: '{key}': {err}") from err
    if array.dtype.kind not in "biuf":
        raise HeadModelError(f"{path}: '{key}' is not a numeric array (it holds {array.dtype})")
    return array


def _check_shape(path: Path, key: str, array: np.ndarray, expected: tuple[int | None, ...]) -> tuple[int, ...]:
    """Raise unless `array` has the `expected` shape (None: any size); return its shape."""
    if array.ndim != len(expected) or any(want not in (None, got) for want, got in zip(expected, array.shape)):
        want = "(" + ", ".join("any" if size is None else str(size) for size in expected) + ")"
        raise HeadModelError(f"{path}: '{key}' has shape {tuple(array.shape)}, expected {want}")
    return array.shape
