"""A small synthetic MonoGaussianAvatar experiment, written in the original's on-disk layout (spec §1.1).

Its FLAME is a made-up 300-vertex ellipsoid head (x4 scale, like the original's), and its networks random
weights scaled so that no activation saturates: a stand-in with the real file formats and key shapes.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from avatar.point.experiment import FLAME_SHAPES, LAYERS, WEIGHT_NORM

SUBJECT, METHOD, SPLIT = "subj", "method", "train1"
MOVED_DATA_FOLDER = "/disk1/dataset/pointavatar/pointavatar_dataset"  # where a real config points, elsewhere
RINGS, SEGMENTS = 15, 20  # the head's latitude-longitude grid: 300 vertices


@dataclass
class FakeExperiment:
    train_dir: Path  # holds runconf.conf and checkpoints/
    checkpoint: Path  # train_dir/checkpoints/ModelParameters/latest.pth
    data_folder: Path  # holds subj/subj/{train1,test1}/flame_params.json


def write_experiment(root: Path, num_points: int = 3000, radius: float = 0.02, seed: int = 0, train_frames: int = 6,
                     test_frames: int = 3, data_folder_in_config: str | None = None) -> FakeExperiment:
    """Write `root/experiments/...` and `root/dataset/...`; `data_folder_in_config` None: the config names a
    data folder that does not exist, as a dataset moved since training."""
    generator = torch.Generator().manual_seed(seed)
    train_dir = root / "experiments" / SUBJECT / METHOD / SPLIT / "train"
    checkpoint = train_dir / "checkpoints" / "ModelParameters" / "latest.pth"
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    data_folder = root / "dataset"
    (train_dir / "runconf.conf").write_text(config_text(data_folder_in_config or MOVED_DATA_FOLDER))
    torch.save({"epoch": 77, "radius": radius, "model_state_dict": state_dict(num_points, generator)}, checkpoint)

    shape = (torch.randn(100, generator=generator) * 0.5).tolist()
    for sub_dir, count in (("train1", train_frames), ("test1", test_frames)):
        path = data_folder / SUBJECT / SUBJECT / sub_dir / "flame_params.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(flame_params(count, shape, generator)))
    return FakeExperiment(train_dir, checkpoint, data_folder)


# The original's registration order (spec §1.3): the first prefix a key starts with gives its place.
KEY_ORDER = ("FLAMEServer.", "geometry_network.scaling_layer", "geometry_network.rotations_layer",
             "geometry_network.opacity_layer", "geometry_network.lin", "geometry_network.out_layer",
             "deformer_network.FLAMEServer.", "deformer_network.", "rendering_network.", "gaussian_deformer_network.",
             "pc.")


def state_dict(num_points: int, generator: torch.Generator) -> dict[str, Tensor]:
    """All 125 keys of spec §1.3, in the original's order."""
    def randn(*shape: int) -> Tensor:
        return torch.randn(*shape, generator=generator)

    flame = fake_flame(generator)
    entries = {f"FLAMEServer.{key}": value for key, value in flame.items()}
    entries |= {f"deformer_network.FLAMEServer.{key}": value for key, value in flame.items()}  # the same tensors
    for prefix, kind, inputs, outputs in LAYERS:
        # Unit-scale outputs (He-style gain for the softplus/ReLU layers), but small blendshapes and
        # skinning logits: the original's softmax of 20 * logits has no max subtraction.
        gain = {"deformer_network.blendshapes": 0.005, "deformer_network.skinning": 0.1}.get(prefix, 1.0)
        if kind == WEIGHT_NORM:  # W = g * v / |v|: the row norm is g
            entries |= {f"{prefix}.bias": randn(outputs) * 0.01,
                        f"{prefix}.weight_g": torch.full((outputs, 1), math.sqrt(2) * gain),
                        f"{prefix}.weight_v": randn(outputs, inputs)}
        else:
            entries |= {f"{prefix}.weight": randn(outputs, inputs) * gain * math.sqrt(2 / inputs),
                        f"{prefix}.bias": randn(outputs) * 0.01}
    entries |= rendering_network(generator)
    entries["pc.points"] = random_ball(num_points, 0.8, generator)

    def rank(key: str) -> int:
        return next(index for index, prefix in enumerate(KEY_ORDER) if key.startswith(prefix))

    return dict(sorted(entries.items(), key=lambda entry: rank(entry[0])))


def fake_flame(generator: torch.Generator) -> dict[str, Tensor]:
    """FLAME buffers with the original's keys and order, for a 300-vertex ellipsoid about 1 unit across."""
    latitude = torch.linspace(0.1, math.pi - 0.1, RINGS)[:, None].expand(RINGS, SEGMENTS)
    longitude = torch.linspace(0, 2 * math.pi, SEGMENTS + 1)[:SEGMENTS][None, :].expand(RINGS, SEGMENTS)
    vertices = torch.stack([0.45 * latitude.sin() * longitude.sin(), 0.55 * latitude.cos(),
                            0.5 * latitude.sin() * longitude.cos()], dim=-1).reshape(-1, 3)
    num_vertices = len(vertices)
    # Two triangles per grid cell, the longitude wrapping around.
    ring, segment = torch.meshgrid(torch.arange(RINGS - 1), torch.arange(SEGMENTS), indexing="ij")
    a, b = ring * SEGMENTS + segment, ring * SEGMENTS + (segment + 1) % SEGMENTS
    c, d = a + SEGMENTS, b + SEGMENTS
    faces = torch.cat([torch.stack([a, c, b], -1).reshape(-1, 3), torch.stack([b, c, d], -1).reshape(-1, 3)])
    num_faces = len(faces)

    # Joints regressed from the vertices nearest to a root, neck, jaw and two eyes.
    joints = torch.tensor([[0, -0.5, 0], [0, -0.4, -0.1], [0, -0.2, 0.2], [0.15, 0.1, 0.45], [-0.15, 0.1, 0.45]])
    regressor = torch.softmax(-torch.cdist(joints, vertices) ** 2 / 0.02, dim=1)
    lbs_weights = torch.softmax(2 * torch.randn(num_vertices, 5, generator=generator), dim=1)

    def landmarks(*shape: int) -> tuple[Tensor, Tensor]:
        bary = torch.rand(*shape, 3, generator=generator) + 0.1
        return torch.randint(num_faces, shape, generator=generator), bary / bary.sum(-1, keepdim=True)

    static, dynamic, full = landmarks(51), landmarks(79, 17), landmarks(1, 68)
    flame = {
        "eye_pose": torch.zeros(1, 6), "neck_pose": torch.zeros(1, 3), "parents": torch.tensor([-1, 0, 1, 1, 1]),
        "lmk_faces_idx": static[0], "lmk_bary_coords": static[1],
        "dynamic_lmk_faces_idx": dynamic[0], "dynamic_lmk_bary_coords": dynamic[1],
        "full_lmk_faces_idx": full[0], "full_lmk_bary_coords": full[1],
        "neck_kin_chain": torch.tensor([1, 0]), "faces_tensor": faces,
        "v_template": vertices, "shapedirs": 0.01 * torch.randn(num_vertices, 3, 150, generator=generator),
        "posedirs": 0.01 * torch.randn(36, 3 * num_vertices, generator=generator),
        "J_regressor": regressor, "lbs_weights": lbs_weights,
    }
    assert all(key in flame for key in FLAME_SHAPES)
    return flame


def rendering_network(generator: torch.Generator) -> dict[str, Tensor]:
    """The unused texture network's weights (it is saved all the same)."""
    entries = {}
    for index, (inputs, outputs) in enumerate(((3, 64), (64, 64), (64, 3))):
        entries |= {f"rendering_network.lin{index}.bias": torch.zeros(outputs),
                    f"rendering_network.lin{index}.weight_g": torch.ones(outputs, 1),
                    f"rendering_network.lin{index}.weight_v": torch.randn(outputs, inputs, generator=generator)}
    return entries


def random_ball(count: int, radius: float, generator: torch.Generator) -> Tensor:
    """(count, 3) points uniform in a ball."""
    direction = torch.nn.functional.normalize(torch.randn(count, 3, generator=generator), dim=1)
    return direction * radius * torch.rand(count, 1, generator=generator) ** (1 / 3)


def flame_params(count: int, shape: list[float], generator: torch.Generator) -> dict:
    """An IMavatar flame_params.json's contents: a fixed camera 4 units away, shifted a little per frame."""
    shift = 0.03 * torch.randn(count, 2, generator=generator)
    expression = 0.5 * torch.randn(count, 50, generator=generator)
    pose = 0.1 * torch.randn(count, 15, generator=generator)
    frames = [{"file_path": f"./image/{index + 1}",
               "world_mat": [[1, 0, 0, shift[index, 0].item()], [0, 1, 0, shift[index, 1].item()], [0, 0, 1, -4.0]],
               "expression": expression[index].tolist(), "pose": pose[index].tolist()} for index in range(count)]
    return {"frames": frames, "intrinsics": [-4.2, 4.3, 0.49, 0.52], "shape_params": shape}


def config_text(data_folder: str) -> str:
    """A runconf.conf like the original's (the fields a loader reads, and a few others)."""
    return f"""train {{
  exps_folder = "/disk1/code/monogaussianavatar/data/experiments/"
  methodname = "{METHOD}"
  dataset_class = "datasets.real_dataset.FaceDataset"
  max_points_training = 102400
  max_batch = 8
  optimize_expression = true
  optimize_camera = true
}}
dataset {{
  data_folder = {json.dumps(data_folder)}
  subject_name = "{SUBJECT}"
  json_name = "flame_params.json"
  use_mean_expression = true
  use_var_expression = true
  canonical_pose = 0.4
  train {{
    sub_dir = [
      "train1"
    ]
    img_res = [
      512
      512
    ]
    subsample = 1
    load_images = true
  }}
  test {{
    sub_dir = [
      "test1"
    ]
    img_res = [
      512
      512
    ]
    subsample = 200
    load_images = true
  }}
}}
model {{
  prune_thresh = 0.1
  point_cloud {{
    n_init_points = 400
    max_points = 100000
  }}
}}
"""
