"""livehead's GEM file: one uncompressed `.npz` of plain arrays (never a pickle) that `load_avatar` reads back;
and, for the original's tools, its `.ptk` layout (spec §3.4).

    livehead_avatar_kind                "gem"
    <head model arrays>, camera/*       the head model that drives it (so the file also loads as a head model)
    gem/parts                           (P,) part names
    gem/{attribute}/{p}/components      (K, N_p * C) orthonormal rows; sigma (K,), mean (N_p * C,)
    gem/colors, gem/tex_map             (N, 3), (N,) parts concatenated
    gem/root_joint, gem/expression_range, gem/frozen_gaussians and gem/neck_joint (optional)
    mapper/weight, mapper/bias, ...     the EigenMapper (optional)
    timeline/*                          FLAME frames, with their eigen coefficients (optional)
"""
from __future__ import annotations

from os import PathLike
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from avatar.gem.avatar import GemAvatar
from avatar.gem.mapper import EigenMapper
from avatar.gem.model import ATTRIBUTES, CHANNELS, EigenBasis, GemModel
from avatar.rigged import KIND_KEY
from models.atomic_file import replaced_atomically
from models.camera import Camera
from models.errors import AvatarError
from models.head_model_file import HeadModelError, head_model_arrays, head_model_from_arrays, read_npz, save_npz
from models.params import FlameSequence

FORMAT_VERSION = 1
WHAT_TO_DO = "give a GEM file written by livehead (python -m avatar.gem build)"


def save_gem(avatar: GemAvatar, path: str | PathLike) -> None:
    """Write `avatar` (its mapper must be an EigenMapper, or None), under a temporary name, then renamed."""
    model = avatar.model
    arrays = head_model_arrays(avatar.head) | avatar.default_camera.to_arrays()
    arrays |= {KIND_KEY: np.array(GemAvatar.file_kind), "gem/version": np.array(FORMAT_VERSION),
               "gem/parts": np.array(model.parts, dtype=str), "gem/colors": model.colors.numpy(),
               "gem/tex_map": model.tex_map.numpy(), "gem/root_joint": avatar.root_joint.numpy(),
               "gem/expression_range": np.array(avatar.expression_range, np.float64)}
    for attribute in ATTRIBUTES:
        for p, basis in enumerate(model.bases[attribute]):
            for key in ("components", "sigma", "mean"):
                arrays[f"gem/{attribute}/{p}/{key}"] = getattr(basis, key).numpy()
    if avatar.frozen_gaussians is not None:
        arrays["gem/frozen_gaussians"] = avatar.frozen_gaussians.numpy()
    if avatar.neck_joint is not None:
        arrays["gem/neck_joint"] = avatar.neck_joint.numpy()
    if isinstance(avatar.mapper, EigenMapper):
        mapper = avatar.mapper
        arrays |= {"mapper/weight": mapper.weight.numpy(), "mapper/bias": mapper.bias.numpy(),
                   "mapper/shape": np.array(mapper.shape), "mapper/num_expressions": np.array(mapper.num_expressions),
                   "mapper/jaw_products": np.array(mapper.jaw_products)}
    elif avatar.mapper is not None:
        raise TypeError(f"cannot save a GEM whose mapper is a {type(avatar.mapper).__name__} (only EigenMapper)")
    if avatar.timeline is not None:
        arrays |= avatar.timeline.to_arrays()
    with replaced_atomically(path) as temporary:
        save_npz(temporary, arrays, compress=False)  # float arrays barely compress, and it must load fast


def load_gem(path: str | PathLike, arrays: dict[str, np.ndarray] | None = None) -> GemAvatar:
    """Read a file written by `save_gem` (`arrays`: its contents when already read); a bad one raises a one-line
    AvatarError."""
    path = Path(path)
    try:
        arrays = read_npz(path, WHAT_TO_DO) if arrays is None else arrays
        head = head_model_from_arrays(path, arrays)
    except HeadModelError as err:
        raise AvatarError(str(err)) from err

    def need(*keys: str) -> None:
        missing = [key for key in keys if key not in arrays]
        if missing:
            raise AvatarError(f"{path}: missing {', '.join(missing)}; not a complete GEM file; {WHAT_TO_DO}")

    def tensor(key: str, shape: tuple[int, ...], dtype=torch.float32) -> Tensor:
        value = arrays[key]
        if value.dtype.kind not in "biuf" or value.shape != shape:
            raise AvatarError(f"{path}: '{key}' holds {value.dtype} {value.shape}, expected numbers {shape}; "
                              f"{WHAT_TO_DO}")
        return torch.from_numpy(np.ascontiguousarray(value)).to(dtype)

    need(KIND_KEY, "gem/version", "gem/parts", "gem/colors", "gem/tex_map", "gem/root_joint", "gem/expression_range",
         "camera/intrinsics", "camera/world_to_camera")
    if int(arrays["gem/version"]) > FORMAT_VERSION:
        raise AvatarError(f"{path}: GEM format version {int(arrays['gem/version'])} is newer than this livehead reads "
                          f"({FORMAT_VERSION}); update livehead")
    parts = tuple(str(name) for name in arrays["gem/parts"].reshape(-1))
    if not parts:
        raise AvatarError(f"{path}: a GEM without parts; {WHAT_TO_DO}")
    need(*(f"gem/{attribute}/{p}/{key}" for attribute in ATTRIBUTES for p in range(len(parts))
           for key in ("components", "sigma", "mean")))
    sizes = [arrays[f"gem/geometry/{p}/mean"].shape[0] // CHANNELS["geometry"] for p in range(len(parts))]
    bases = {}
    for attribute in ATTRIBUTES:
        count = arrays[f"gem/{attribute}/0/sigma"].shape[0]  # the same in every part
        per_part = []
        for p, size in enumerate(sizes):
            values = size * CHANNELS[attribute]
            prefix = f"gem/{attribute}/{p}/"
            per_part.append(EigenBasis(tensor(prefix + "components", (count, values)),
                                       tensor(prefix + "sigma", (count,)), tensor(prefix + "mean", (values,))))
        bases[attribute] = tuple(per_part)
    n = sum(sizes)
    tex_map = tensor("gem/tex_map", (n,), torch.int64)
    if n and not 0 <= int(tex_map.min()) <= int(tex_map.max()) < head.v_template.shape[0]:
        raise AvatarError(f"{path}: gem/tex_map refers to vertices the head model does not have; {WHAT_TO_DO}")
    colors = tensor("gem/colors", (n, 16, 3) if arrays["gem/colors"].ndim == 3 else (n, 3))  # SH, or RGB
    model = GemModel(parts, bases, colors, tex_map)
    frozen = tensor("gem/frozen_gaussians", (n,), torch.bool) if "gem/frozen_gaussians" in arrays else None
    low, high = tensor("gem/expression_range", (2,)).tolist()
    neck_joint = tensor("gem/neck_joint", (3,)) if "gem/neck_joint" in arrays else None
    return GemAvatar(model, head, Camera.from_arrays(arrays), _mapper(path, arrays, model, tensor),
                     tensor("gem/root_joint", (3,)), frozen, _timeline(path, arrays, model, tensor), (low, high),
                     neck_joint)


def _mapper(path: Path, arrays: dict[str, np.ndarray], model: GemModel, tensor) -> EigenMapper | None:
    if "mapper/weight" not in arrays:
        return None
    shape = (len(model.parts), model.coefficients_per_part)
    try:
        mapper = EigenMapper(tensor("mapper/weight", arrays["mapper/weight"].shape),
                             tensor("mapper/bias", (shape[0] * shape[1],)),
                             tuple(int(size) for size in arrays["mapper/shape"]), int(arrays["mapper/num_expressions"]),
                             bool(arrays["mapper/jaw_products"]))
    except (KeyError, ValueError, TypeError) as err:
        raise AvatarError(f"{path}: a malformed eigen mapper ({err}); {WHAT_TO_DO}") from err
    if mapper.shape != shape:
        raise AvatarError(f"{path}: the eigen mapper gives {mapper.shape} coefficients, the GEM takes {shape}")
    return mapper


def _timeline(path: Path, arrays: dict[str, np.ndarray], model: GemModel, tensor) -> FlameSequence | None:
    if "timeline/expression" not in arrays:
        return None
    if arrays["timeline/expression"].ndim != 2:
        raise AvatarError(f"{path}: timeline/expression is not (frames, coefficients); {WHAT_TO_DO}")
    frames, num_expressions = arrays["timeline/expression"].shape
    eigen = None
    if "timeline/eigen" in arrays:
        eigen = tensor("timeline/eigen", (frames, len(model.parts), model.coefficients_per_part))
    names = tuple(str(name) for name in arrays.get("timeline/names", np.arange(frames)).reshape(-1))
    if len(names) != frames:
        raise AvatarError(f"{path}: {len(names)} timeline names for {frames} frames; {WHAT_TO_DO}")
    return FlameSequence(tensor("timeline/expression", (frames, num_expressions)),
                         tensor("timeline/pose", (frames, 5, 3)), tensor("timeline/translation", (frames, 3)),
                         names, eigen)


def save_original_gem(model: GemModel, path: str | PathLike, track: Tensor | None = None) -> None:
    """Write `model` in the original's `.ptk` layout (spec §3.4; a torch.save pickle: colours and tex_map as
    tensors, bases as float32 numpy arrays, `config` the component counts), and with `track` (F, P, K) sigma
    units also its `_coeffs` file beside it (raw PCA units, as `pca_gauss.py` writes them). Read them back with
    `load_original_gem` or `load_avatar`."""
    from avatar.gem.original_files import coefficients_file_of

    if model.colors.ndim != 2:
        raise ValueError("the original's .ptk holds fixed colours, and this GEM's are spherical harmonics; keep "
                         "its livehead .npz")
    path = Path(path)
    parts, sizes = model.parts, model.part_sizes
    offsets = np.cumsum((0,) + sizes)
    data = {"colors": {part: model.colors[offsets[p]:offsets[p + 1]].clone() for p, part in enumerate(parts)},
            "tex_map": {part: model.tex_map[offsets[p]:offsets[p + 1]].clone() for p, part in enumerate(parts)}}
    for attribute in ATTRIBUTES:
        data[attribute] = {part: {"components": _never_empty(basis.components, 0),
                                  "variance": _never_empty(basis.sigma.square(), 0),
                                  "mean": basis.mean.numpy().astype(np.float32), "channels": CHANNELS[attribute]}
                           for part, basis in zip(parts, model.bases[attribute])}
    data["config"] = dict(model.counts)
    with replaced_atomically(path) as temporary:
        torch.save(data, temporary)
    if track is not None:
        slices = model.coefficient_slices()
        coefficients = {attribute: {part: _never_empty(track[:, p, slices[attribute]] * model.bases[attribute][p].sigma,
                                                       1) for p, part in enumerate(parts)} for attribute in ATTRIBUTES}
        with replaced_atomically(coefficients_file_of(path)) as temporary:
            torch.save(coefficients, temporary)


def _never_empty(values: Tensor, dim: int) -> np.ndarray:
    """float32 values, with one zero slice along `dim` where there are none: the `config` counts say how many are
    used, and an empty array would pickle as a call of `bytes`, which the restricted unpickler refuses."""
    if values.shape[dim] == 0:
        shape = list(values.shape)
        shape[dim] = 1
        values = torch.zeros(shape)
    return values.numpy().astype(np.float32)
