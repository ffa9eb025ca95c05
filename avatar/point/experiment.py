"""Finding and reading a MonoGaussianAvatar experiment: its checkpoint, its config and its dataset's tracking.

The layout the original's training writes (spec §1.1):

    <train>/runconf.conf
    <train>/checkpoints/ModelParameters/{latest,<epoch>}.pth       {"epoch", "radius", "model_state_dict"}
    <train>/checkpoints/InputParameters/{latest,<epoch>}.pth       per-frame values fitted in training (optional)
    {dataset.data_folder}/{subject}/{subject}/{sub_dir}/{dataset.json_name}
"""
from __future__ import annotations

import pickle
import warnings
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import torch
from pyhocon import ConfigFactory, ConfigTree
from torch import Tensor

from models.camera import Camera
from models.errors import AvatarError
from models.imavatar_json import ImavatarSequence, imavatar_camera, read_flame_params_json
from models.params import FlameSequence

WHAT_TO_GIVE = ("give a MonoGaussianAvatar experiment's train folder, its checkpoints folder or a "
                "checkpoints/ModelParameters/*.pth")
DEFAULT_CANONICAL_JAW = 0.2  # the original's value when the config has no dataset.canonical_pose
DEFAULT_IMG_RES = (512, 512)

# Every state-dict key the renderer reads and its shape (spec §1.3). Free sizes: N points (pc.points),
# V FLAME vertices (v_template), F faces (faces_tensor); "3V" is three times V.
FLAME_SHAPES = {
    "v_template": ("V", 3),  # x4, with the subject's shape baked in
    "shapedirs": ("V", 3, 150),  # 100 shape then 50 expression directions
    "posedirs": (36, "3V"),
    "J_regressor": (5, "V"),
    "lbs_weights": ("V", 5),
    "faces_tensor": ("F", 3),
    "parents": (5,),
    "lmk_faces_idx": (51,),
    "lmk_bary_coords": (51, 3),
    "dynamic_lmk_faces_idx": (79, 17),
    "dynamic_lmk_bary_coords": (79, 17, 3),
    "full_lmk_faces_idx": (1, 68),
    "full_lmk_bary_coords": (1, 68, 3),
}
INTEGER_KEYS = {"parents", "faces_tensor", "lmk_faces_idx", "dynamic_lmk_faces_idx", "full_lmk_faces_idx"}
WEIGHT_NORM, LINEAR = "weight-normed", "linear"
LAYERS = [  # (key prefix, kind, inputs, outputs)
    # Geometry network: a 7-layer trunk on the 39-wide positional encoding (lin2 leaves room for the skip
    # connection), then four heads.
    ("geometry_network.lin0", WEIGHT_NORM, 39, 256),
    *[(f"geometry_network.lin{i}", WEIGHT_NORM, 256, 217 if i == 2 else 256) for i in range(1, 7)],
    ("geometry_network.out_layer.0", LINEAR, 256, 256),
    ("geometry_network.out_layer.2", LINEAR, 256, 256),
    ("geometry_network.out_layer.3", LINEAR, 256, 3),
    ("geometry_network.scaling_layer.0", LINEAR, 256, 256),
    ("geometry_network.scaling_layer.2", LINEAR, 256, 3),
    ("geometry_network.rotations_layer.0", LINEAR, 256, 256),
    ("geometry_network.rotations_layer.2", LINEAR, 256, 4),
    ("geometry_network.opacity_layer.0", LINEAR, 256, 256),
    ("geometry_network.opacity_layer.2", LINEAR, 256, 1),
    # Deformer: per point 36x3 pose and 3x50 expression blendshapes and a 3-D offset (261), 6 skinning logits.
    ("deformer_network.lin0", WEIGHT_NORM, 3, 128),
    *[(f"deformer_network.lin{i}", WEIGHT_NORM, 128, 128) for i in range(1, 4)],
    ("deformer_network.blendshapes", LINEAR, 128, 261),
    ("deformer_network.skinning_linear", WEIGHT_NORM, 128, 128),
    ("deformer_network.skinning", LINEAR, 128, 6),
    # Gaussian network: per-frame corrections from each point's deformation offset.
    ("gaussian_deformer_network.lin0", WEIGHT_NORM, 3, 64),
    ("gaussian_deformer_network.lin1", WEIGHT_NORM, 64, 64),
    ("gaussian_deformer_network.lin2", WEIGHT_NORM, 64, 64),
    *[(f"gaussian_deformer_network.{head}.{i}", LINEAR, 64, 64 if i == 0 else outputs)
      for head, outputs in (("scaling_layer", 3), ("rotations_layer", 4), ("opacity_layer", 1), ("color_layer", 3))
      for i in (0, 2)],
]


@dataclass
class Experiment:
    """What a MonoGaussianAvatar experiment holds that rendering needs."""

    checkpoint_path: Path  # the ModelParameters .pth used
    state_dict: dict[str, Tensor]  # model_state_dict, validated, float32 / int64 on the CPU
    radius: float  # added to every Gaussian's scale
    canonical_expression: Tensor  # (50,) mean expression of the training frames (spec §2.4)
    canonical_jaw: float  # jaw opening (rad) of the canonical pose
    camera: Camera  # the dataset's camera (first training frame)
    timeline: FlameSequence  # the dataset's frames, train then test, named "<sub_dir>/<frame>"


def open_experiment(path: str | PathLike, data_folder: str | PathLike | None = None) -> Experiment:
    """Read the experiment at `path`: its `train` folder, `checkpoints` folder, `checkpoints/ModelParameters`
    folder or a `ModelParameters/*.pth`. `data_folder` replaces the config's `dataset.data_folder` (the dataset
    moved since training). Raises AvatarError with a one-line message naming the file at fault."""
    checkpoint_path = find_checkpoint(Path(path))
    state_dict, radius = read_checkpoint(checkpoint_path)
    train_dir = checkpoint_path.absolute().parent.parent.parent  # <train>/checkpoints/ModelParameters/X.pth
    config_path = train_dir / "runconf.conf"
    config = _read_config(config_path)

    def setting(key, kind, default=None):
        return _setting(config_path, config, key, kind, default)

    subject = setting("dataset.subject_name", str)
    folders = _data_folders(Path(setting("dataset.data_folder", str)), data_folder, subject)
    json_name = setting("dataset.json_name", str, "flame_params.json")
    img_res = setting("dataset.test.img_res", list, setting("dataset.train.img_res", list, list(DEFAULT_IMG_RES)))
    if len(img_res) != 2 or not all(isinstance(size, int) and size > 0 for size in img_res):
        raise AvatarError(f"{config_path}: 'dataset.*.img_res' is {img_res}, expected two positive integers")

    train_dirs = setting("dataset.train.sub_dir", list)
    if not train_dirs:
        raise AvatarError(f"{config_path}: 'dataset.train.sub_dir' is empty; the training data is needed")
    train = []
    for sub_dir in train_dirs:
        json_path = _find(folders, sub_dir, json_name)
        if not json_path.is_file():  # the canonical expression cannot be had without the training tracking
            raise AvatarError(f"{json_path}: no such file, and the training data of {config_path} is needed; pass "
                              f"--data-folder DIR (the folder that holds {subject}/{subject}/{sub_dir})")
        train.append((sub_dir, read_flame_params_json(json_path)))
    test = [(sub_dir, read_flame_params_json(json_path)) for sub_dir in setting("dataset.test.sub_dir", list, [])
            if (json_path := _find(folders, sub_dir, json_name)).is_file()]

    subsample = setting("dataset.train.subsample", int, 1)
    if subsample < 1:
        raise AvatarError(f"{config_path}: 'dataset.train.subsample' is {subsample}, expected 1 or more")
    # The original averages the json expressions (not the fitted ones) of its training frames, in float32.
    train_expressions = torch.cat([sequence.params.expression for _, sequence in train])  # (T, 50)
    canonical_expression = train_expressions[::subsample].mean(dim=0)
    # Training fits a row per frame it takes; with subsample > 1 most frames have none, and a timeline that
    # mixed fitted and json frames would jump between them, so then the jsons' tracking is used throughout.
    fitted = _fitted_train_params(checkpoint_path, len(train_expressions)) if subsample == 1 else None

    first = train[0][1]
    return Experiment(
        checkpoint_path=checkpoint_path, state_dict=state_dict, radius=radius,
        canonical_expression=canonical_expression,
        canonical_jaw=setting("dataset.canonical_pose", float, DEFAULT_CANONICAL_JAW),
        camera=imavatar_camera(first.intrinsics, first.world_mats[0], tuple(img_res)),
        timeline=_timeline(train, test, fitted),
    )


def find_checkpoint(path: Path) -> Path:
    """The ModelParameters .pth at or under `path`: `latest.pth`, else the highest `<epoch>.pth`."""
    if not path.exists():
        raise AvatarError(f"{path}: no such file or folder; {WHAT_TO_GIVE}")
    if path.is_file():
        return path
    candidates = (path, path / "ModelParameters", path / "checkpoints" / "ModelParameters",
                  path / "train" / "checkpoints" / "ModelParameters")
    folder = next((folder for folder in candidates if folder.name == "ModelParameters" and folder.is_dir()), None)
    if folder is None:
        raise AvatarError(f"{path}: not a MonoGaussianAvatar experiment (no checkpoints/ModelParameters folder); "
                          f"{WHAT_TO_GIVE}")
    if (folder / "latest.pth").is_file():
        return folder / "latest.pth"
    numbered = [file for file in folder.glob("*.pth") if file.stem.isdigit()]
    if not numbered:
        raise AvatarError(f"{folder}: no checkpoint (no latest.pth or <epoch>.pth); has the training saved one?")
    return max(numbered, key=lambda file: int(file.stem))


def read_checkpoint(path: Path) -> tuple[dict[str, Tensor], float]:
    """The validated model_state_dict (float32 / int64 on the CPU) and radius of a ModelParameters .pth."""
    what_to_do = "give a MonoGaussianAvatar checkpoints/ModelParameters/*.pth"
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # what weights_only raises for both garbage and pickled Python objects
        raise AvatarError(f"{path}: not a readable tensor-only PyTorch file (corrupt, or it holds Python objects, "
                          f"which are not loaded for safety); {what_to_do}") from None
    except Exception as err:  # truncated zip archives, short files, unreadable files: many kinds
        reason = str(err).split(". ")[0].replace("\n", " ")[:150] or "file ends early"
        raise AvatarError(f"{path}: not a readable PyTorch file, truncated or corrupt? ({type(err).__name__}: "
                          f"{reason}); {what_to_do}") from err
    if not isinstance(checkpoint, dict) or "model_state_dict" not in checkpoint:
        held = f"a dict of {sorted(map(str, checkpoint))[:4]}" if isinstance(checkpoint, dict) \
            else f"a {type(checkpoint).__name__}"
        raise AvatarError(f"{path}: not a MonoGaussianAvatar checkpoint (holds {held}, not a dict with "
                          f"'model_state_dict' and 'radius'); {what_to_do}")
    radius = checkpoint.get("radius")
    if isinstance(radius, Tensor) and radius.numel() == 1:
        radius = radius.item()
    if not isinstance(radius, (int, float)) or isinstance(radius, bool):
        raise AvatarError(f"{path}: 'radius' is {type(radius).__name__}, expected a number; {what_to_do}")
    return _checked_state_dict(path, checkpoint["model_state_dict"]), float(radius)


def expected_shapes(num_points: int, num_vertices: int, num_faces: int) -> dict[str, tuple[int, ...]]:
    """Every key the renderer reads, with its shape, for these free sizes."""
    sizes = {"N": num_points, "V": num_vertices, "3V": 3 * num_vertices, "F": num_faces}
    shapes = {f"FLAMEServer.{key}": tuple(sizes.get(size, size) for size in shape)
              for key, shape in FLAME_SHAPES.items()}
    for prefix, kind, inputs, outputs in LAYERS:
        if kind == WEIGHT_NORM:  # the legacy torch weight_norm: W = g * v / |v| per output row
            shapes |= {f"{prefix}.bias": (outputs,), f"{prefix}.weight_g": (outputs, 1),
                       f"{prefix}.weight_v": (outputs, inputs)}
        else:
            shapes |= {f"{prefix}.weight": (outputs, inputs), f"{prefix}.bias": (outputs,)}
    shapes["pc.points"] = (num_points, 3)
    return shapes


def _checked_state_dict(path: Path, state_dict) -> dict[str, Tensor]:
    if not isinstance(state_dict, dict):
        raise AvatarError(f"{path}: 'model_state_dict' is a {type(state_dict).__name__}, not a dict")
    for key, value in state_dict.items():
        if not isinstance(value, Tensor):
            raise AvatarError(f"{path}: state dict entry '{key}' is a {type(value).__name__}, not a tensor")
    free_sizes = []
    for key in ("pc.points", "FLAMEServer.v_template", "FLAMEServer.faces_tensor"):  # each (size, 3)
        if key not in state_dict:
            raise AvatarError(f"{path}: the state dict has no '{key}'; not a MonoGaussianAvatar checkpoint")
        shape = tuple(state_dict[key].shape)
        if len(shape) != 2 or shape[1] != 3 or shape[0] == 0:
            raise AvatarError(f"{path}: '{key}' has shape {shape}, expected (n, 3) with n > 0")
        free_sizes.append(shape[0])

    for key, shape in expected_shapes(*free_sizes).items():
        if key not in state_dict:
            raise AvatarError(f"{path}: the state dict has no '{key}' (expected shape {shape}); not a complete "
                              "MonoGaussianAvatar checkpoint")
        tensor = state_dict[key]
        if tuple(tensor.shape) != shape:
            raise AvatarError(f"{path}: '{key}' has shape {tuple(tensor.shape)}, expected {shape}")
        if tensor.is_floating_point() == (key.rsplit(".", 1)[1] in INTEGER_KEYS):
            raise AvatarError(f"{path}: '{key}' holds {tensor.dtype}, expected "
                              f"{'integers' if tensor.is_floating_point() else 'floating point numbers'}")
    return {key: value.float() if value.is_floating_point() else value.long() for key, value in state_dict.items()}


def _read_config(path: Path) -> ConfigTree:
    if not path.is_file():
        raise AvatarError(f"{path}: no such file; a MonoGaussianAvatar checkpoint must stay in "
                          "<train>/checkpoints/ModelParameters/, beside <train>/runconf.conf")
    try:
        with warnings.catch_warnings():  # pyhocon calls pyparsing's deprecated camelCase names
            warnings.simplefilter("ignore", DeprecationWarning)
            return ConfigFactory.parse_file(str(path))
    except Exception as err:  # pyparsing and pyhocon raise many kinds
        reason = str(err).replace("\n", " ")[:150]
        raise AvatarError(f"{path}: not a readable HOCON config ({type(err).__name__}: {reason})") from err


def _setting(path: Path, config: ConfigTree, key: str, kind: type, default=None):
    """config[key] as `kind` (a str is taken as a one-item list); `default` when absent (None: required)."""
    try:
        value = config.get(key, None)
    except Exception:  # a parent of `key` is not an object
        value = None
    if value is None:
        if default is None:
            raise AvatarError(f"{path}: no '{key}'; not a MonoGaussianAvatar config")
        return default
    if kind is list and isinstance(value, str):
        value = [value]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or isinstance(value, bool) or \
            (kind is list and not all(isinstance(item, (str, int)) for item in value)):
        raise AvatarError(f"{path}: '{key}' is {value!r}, expected a {kind.__name__}")
    return value


def _data_folders(configured: Path, override: str | PathLike | None, subject: str) -> list[Path]:
    """The folders that may hold the split folders, most likely first."""
    if override is None:
        return [configured / subject / subject]
    override = Path(override)
    # Lenient: the folder the config names, or the one or two levels deeper that users tend to give.
    return [override / subject / subject, override / subject, override]


def _find(folders: list[Path], sub_dir: str, json_name: str) -> Path:
    """The first of the folders holding `sub_dir/json_name`, else the path in the first (for the error)."""
    paths = [folder / str(sub_dir) / json_name for folder in folders]
    return next((path for path in paths if path.is_file()), paths[0])


def _fitted_train_params(checkpoint_path: Path, count: int) -> tuple[Tensor, Tensor] | None:
    """The expression (count, 50) and pose (count, 15) training fitted for its frames (spec §1.2), if saved.

    Optional: an absent, unreadable or mismatched InputParameters file leaves the jsons' tracking in use."""
    path = checkpoint_path.absolute().parent.parent / "InputParameters" / checkpoint_path.name
    if not path.is_file():
        return None
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        expression = saved["expression_state_dict"]["weight"].float()
        pose = saved["flame_pose_state_dict"]["weight"].float()
    except Exception:  # any fault: fall back to the jsons
        return None
    if tuple(expression.shape) != (count, 50) or tuple(pose.shape) != (count, 15):
        return None
    return expression, pose


def _timeline(train: list[tuple[str, ImavatarSequence]], test: list[tuple[str, ImavatarSequence]],
              fitted: tuple[Tensor, Tensor] | None) -> FlameSequence:
    """Every frame of the train, then test jsons; the training frames use their fitted values when saved."""
    splits = train + test
    expression = torch.cat([sequence.params.expression for _, sequence in splits])  # (F, 50)
    pose = torch.cat([sequence.params.pose for _, sequence in splits])  # (F, 5, 3)
    if fitted is not None:
        num_train = len(fitted[0])
        expression[:num_train], pose[:num_train] = fitted[0], fitted[1].reshape(-1, 5, 3)
    names = tuple(f"{sub_dir}/{name}" for sub_dir, sequence in splits for name in sequence.params.names)
    return FlameSequence(expression, pose, torch.zeros(len(names), 3), names)
