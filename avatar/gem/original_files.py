"""The original GEM files (Zielon/GEM, shared/specs/gem.md §3.4, §4.1, §4.6) -> a GemModel and its animation track.

    {root}/checkpoints/GAUSSIAN_PCA_256/{id}.ptk or {id}_parts.ptk         the eigen model (a torch.save pickle)
    {root}/checkpoints/GAUSSIAN_PCA_256/{id}_coeffs.ptk or _coeffs_parts.ptk  per-frame coefficients (raw PCA units)
    {root}/experiments/regressor/{id}/relative_gem*/model.pth              the mapping network, with the REFINED basis

The `.ptk` files mix numpy arrays with CUDA-tagged tensors: they are read through the restricted unpickler, every
tensor on the CPU. The faithful model takes means, sigma and colours from the `.ptk` and the components from the
regressor checkpoint when there is one: its basis was refined while the mapping network trained.
"""
from __future__ import annotations

import pickle
import zipfile
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from avatar.gem.model import ATTRIBUTES, CHANNELS, EigenBasis, GemModel
from models.errors import AvatarError
from models.safe_pickle import UnsafePickleError, safe_torch_load

EIGEN_KEYS = ("colors", "tex_map", *ATTRIBUTES, "config")
GIVE_EIGEN_FILE = "give checkpoints/GAUSSIAN_PCA_256/{id}.ptk or {id}_parts.ptk of an original GEM"


@dataclass
class OriginalGem:
    model: GemModel
    track: Tensor | None  # (F, P, K) the `_coeffs` file in sigma units (the frames GEM was built from), if present
    regressor: Path | None  # the checkpoint whose refined components the model uses; None: the `.ptk` basis


def load_original_gem(path: str | PathLike, regressor: str | PathLike | None | Literal[False] = None) -> OriginalGem:
    """Read an original GEM eigen model with its coefficient track.

    regressor: the mapping network's `model.pth` whose refined basis to use; None looks for it where the original
    keeps it (`find_regressor`); False uses the `.ptk` basis (what the original's `pca_viewer.py` shows).
    Raises AvatarError with one line naming the file and what to do.
    """
    path = Path(path)
    if is_coefficient_file(path):
        raise AvatarError(f"{path}: a GEM coefficient track, not an eigen model; give {eigen_file_of(path)} instead")
    data = _read_pickle(path, GIVE_EIGEN_FILE)
    parts, sizes = _check_eigen_file(path, data)
    counts = {attribute: int(data["config"][attribute]) for attribute in ATTRIBUTES}
    if regressor is None:
        regressor = find_regressor(path, parts)
    shapes = {f"{attribute}_{part}": (counts[attribute], size * CHANNELS[attribute])
              for attribute in ATTRIBUTES for part, size in zip(parts, sizes)}
    refined = read_refined_components(Path(regressor), path, parts, shapes) if regressor else {}

    bases = {}
    for attribute in ATTRIBUTES:
        n, per_part = counts[attribute], []
        for part in parts:
            entry = data[attribute][part]
            components = refined.get(f"{attribute}_{part}", _tensor(entry["components"])[:n])
            per_part.append(EigenBasis(components, _tensor(entry["variance"])[:n].sqrt(), _tensor(entry["mean"])))
        bases[attribute] = tuple(per_part)
    colors = torch.cat([_tensor(data["colors"][part]) for part in parts])
    tex_map = torch.cat([torch.as_tensor(data["tex_map"][part]).long() for part in parts])
    model = GemModel(parts, bases, colors, tex_map)

    track_path = coefficients_file_of(path)
    track = read_coefficient_track(track_path, model) if track_path.is_file() else None
    return OriginalGem(model, track, Path(regressor) if regressor else None)


def is_coefficient_file(path: Path) -> bool:
    return path.stem.endswith(("_coeffs", "_coeffs_parts"))


def coefficients_file_of(path: Path) -> Path:
    """{id}.ptk -> {id}_coeffs.ptk; {id}_parts.ptk -> {id}_coeffs_parts.ptk (`pca_gauss.py`'s names)."""
    stem = path.stem
    if stem.endswith("_parts"):
        return path.with_name(f"{stem[:-len('_parts')]}_coeffs_parts{path.suffix}")
    return path.with_name(f"{stem}_coeffs{path.suffix}")


def eigen_file_of(path: Path) -> Path:
    """The inverse of `coefficients_file_of`."""
    return path.with_name(path.name.replace("_coeffs", "", 1))


def find_regressor(path: Path, parts: tuple[str, ...]) -> Path | None:
    """The original keeps the mapping network in {root}/experiments/regressor/{id}/{exp_name}/model.pth, root being
    the folder that holds `checkpoints/`; its exp_names start with "relative_gem" (full or parts configs alike).
    The first of those (by name) whose basis has exactly the eigen model's parts, or None."""
    if len(path.parents) < 3:
        return None
    capture_id = path.stem[:-len("_parts")] if path.stem.endswith("_parts") else path.stem
    folder = path.parents[2] / "experiments" / "regressor" / capture_id
    for candidate in sorted(folder.glob("relative_gem*/model.pth")):
        if _regressor_parts(candidate, _apperance_state(candidate)) == set(parts):
            return candidate
    return None


def read_refined_components(regressor: Path, eigen_path: Path, parts: tuple[str, ...],
                            shapes: dict[str, tuple[int, int]]) -> dict[str, Tensor]:
    """`components.{attribute}_{part}` of the regressor's GEM state, checked against the eigen model's parts and
    `shapes` ({attribute}_{part} -> (components, values))."""
    state = _apperance_state(regressor)
    found = _regressor_parts(regressor, state)
    if found != set(parts):
        raise AvatarError(
            f"{regressor}: its GEM basis has the parts {sorted(found)} but {eigen_path.name} has {list(parts)}; "
            "give the regressor model.pth trained with this eigen model (full and parts models have their own)")
    refined = {}
    for key, shape in shapes.items():
        components = state.get(f"components.{key}")
        if components is None or tuple(components.shape) != shape:
            found_shape = None if components is None else tuple(components.shape)
            raise AvatarError(f"{regressor}: components.{key} has the shape {found_shape}, but {eigen_path.name} "
                              f"needs {shape}; give the regressor model.pth trained with this eigen model")
        refined[key] = components.float()
    return refined


def read_coefficient_track(path: Path, model: GemModel) -> Tensor:
    """(F, P, K) the `_coeffs` file divided by sigma (the original's `gt_coeffs`), parts and slices as the model."""
    data = _read_pickle(path, "give the {id}_coeffs.ptk written with the eigen model, or remove it")
    slices, columns = model.coefficient_slices(), []
    try:
        frames = {np.shape(data[attribute][part])[0] for attribute in ATTRIBUTES for part in model.parts}
        if len(frames) != 1:
            raise AvatarError(f"{path}: its parts and attributes have different frame counts {sorted(frames)}")
        for p, part in enumerate(model.parts):
            for attribute in ATTRIBUTES:
                n = slices[attribute].stop - slices[attribute].start
                sigma = model.bases[attribute][p].sigma
                # a direction the data never took (sigma 0, past a part's rank) has coefficient 0, not 0/0
                columns.append(_tensor(data[attribute][part])[:, :n] / torch.where(sigma > 0, sigma, torch.inf))
        track = torch.cat(columns, dim=1)
    except (KeyError, TypeError, IndexError, RuntimeError) as err:
        raise AvatarError(f"{path}: not the coefficient track of {eigen_file_of(path).name} ({_one_line(err)}); "
                          "give the matching {id}_coeffs.ptk, or remove it") from err
    return track.view(track.shape[0], len(model.parts), model.coefficients_per_part)


def _read_pickle(path: Path, what_to_do: str) -> Any:
    try:
        return safe_torch_load(path)
    except UnsafePickleError as err:
        raise AvatarError(str(err)) from err
    except FileNotFoundError as err:
        raise AvatarError(f"{path}: no such file") from err
    except (OSError, zipfile.BadZipFile, pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError,
            RuntimeError, AttributeError, IndexError) as err:
        raise AvatarError(f"{path}: not a readable torch.save file ({_one_line(err)}); {what_to_do}") from err


def _check_eigen_file(path: Path, data: Any) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """The parts and their Gaussian counts, after checking every key, type and shape the reconstruction uses."""
    def fail(problem: str) -> AvatarError:
        return AvatarError(f"{path}: {problem}; {GIVE_EIGEN_FILE}")

    if isinstance(data, dict) and set(data) == set(ATTRIBUTES):
        raise AvatarError(f"{path}: a GEM coefficient track, not an eigen model; give {eigen_file_of(path)} instead")
    if not isinstance(data, dict) or any(key not in data for key in EIGEN_KEYS):
        keys = sorted(map(str, data)) if isinstance(data, dict) else type(data).__name__
        raise fail(f"not a GEM eigen model (expected the keys {', '.join(EIGEN_KEYS)}; found {keys})")
    try:
        parts = tuple(data["geometry"])
        sizes = tuple(int(data["colors"][part].shape[0]) for part in parts)
        if not parts:
            raise fail("no parts")
        for part, size in zip(parts, sizes):
            if tuple(data["colors"][part].shape) != (size, 3) or tuple(data["tex_map"][part].shape) != (size,):
                raise fail(f"colors/tex_map of part {part!r} do not have the shapes ({size}, 3) and ({size},)")
        for attribute in ATTRIBUTES:
            n, channels = int(data["config"][attribute]), CHANNELS[attribute]
            if tuple(data[attribute]) != parts:
                raise fail(f"{attribute!r} has the parts {list(data[attribute])}, not {list(parts)}")
            for part, size in zip(parts, sizes):
                entry = data[attribute][part]
                shapes = {key: tuple(np.shape(entry[key])) for key in ("components", "variance", "mean")}
                if (int(entry["channels"]) != channels or len(shapes["components"]) != 2
                        or shapes["components"][0] < n or shapes["components"][1] != size * channels
                        or shapes["variance"][0] < n or shapes["mean"] != (size * channels,)):
                    raise fail(f"{attribute}/{part} has shapes {shapes} and {entry['channels']} channels; expected "
                               f"{n}+ components of {size} x {channels} values")
    except AvatarError:
        raise
    except (KeyError, TypeError, IndexError, AttributeError, ValueError) as err:
        raise fail(f"not a GEM eigen model ({_one_line(err)})") from err
    return parts, sizes


def _apperance_state(regressor: Path) -> dict[str, Tensor]:
    """The GEM state inside a regressor checkpoint: ((optimisers, (resnet, apperance)), iteration)."""
    try:
        checkpoint = torch.load(regressor, map_location="cpu", weights_only=True)
        state = checkpoint[0][1][1]
        if not isinstance(state, dict) or not all(isinstance(value, Tensor) for value in state.values()):
            raise TypeError("no GEM state dict")
    except FileNotFoundError as err:
        raise AvatarError(f"{regressor}: no such file") from err
    except (OSError, RuntimeError, pickle.UnpicklingError, TypeError, IndexError, KeyError, ValueError) as err:
        raise AvatarError(f"{regressor}: not a GEM regressor checkpoint ({_one_line(err)}); expected the original "
                          "GEM's experiments/regressor/{id}/relative_gem*/model.pth") from err
    return state


def _regressor_parts(regressor: Path, state: dict[str, Tensor]) -> set[str]:
    prefix = "components.geometry_"
    parts = {key[len(prefix):] for key in state if key.startswith(prefix)}
    if not parts:
        raise AvatarError(f"{regressor}: no GEM basis (components.*) in its state; give the regressor model.pth "
                          "of a GEM mapping network")
    return parts


def _tensor(value: Any) -> Tensor:
    """A float32 CPU tensor from a numpy array (numpy<2 or not) or a tensor."""
    return torch.as_tensor(np.asarray(value, dtype=np.float32))


def _one_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0]}" if lines else type(err).__name__
