"""MonoGaussianAvatar point avatars, with everything that does not change per frame computed once.

At load: the geometry network's attributes, the deformer's blendshapes, pose correctives and skinning weights,
and each point un-posed from the canonical pose (spec §5.2). Per frame: the FLAME skeleton, one product for the
blendshapes, skinning, and the small Gaussian network. `original.py` is the direct form this must agree with.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm import tqdm

from avatar.contract import placed
from avatar.point.experiment import Experiment
from avatar.point.head import canonical_pose, checkpoint_head_model
from avatar.point.networks import FusedGaussianNetwork, deformer_network, geometry_network, layers
from avatar.point.original import SCALE_MAX, ghost_bone
from avatar.rigged import KIND_KEY
from avatar.splatting.gaussians import Gaussians
from models.camera import Camera
from models.errors import AvatarError
from models.head_model import HeadModel, joint_transforms
from models.head_model_file import HeadModelError, head_model_arrays, head_model_from_arrays, save_npz
from models.params import FlameParams, FlameSequence

CHUNK = 20_000  # points per step of the load-time networks: bounds their memory, drives the progress bar
FRAME_CHUNK = 4096  # points per step of the per-frame work
ARRAY_KEYS = ("rest_points", "canonical_points", "blend_dirs", "skin_weights", "base_attributes",
              "canonical_expression")
NETWORK_KEYS = ("layer0", "layer1", "heads_in", "heads_out")


@dataclass
class PointAvatar:
    """A MonoGaussianAvatar: N points with learned FLAME blendshapes and skinning, and attribute networks."""

    head: HeadModel  # the subject's FLAME (x4 units), for tracking
    default_camera: Camera  # the training camera
    timeline: FlameSequence | None  # the dataset's tracked frames, when it was found
    radius: float  # added to every scale (from training's point-size schedule)
    canonical_expression: Tensor  # (50,) the expression the canonical points were learned in
    rest_points: Tensor  # (N, 3) points un-posed from the canonical pose: zero expression, zero pose
    canonical_points: Tensor  # (N, 3) x_c: the Gaussian network's input is the displacement from these
    blend_dirs: Tensor  # (N * 3, 86): [expression blendshapes (50) | pose correctives (36)] per coordinate
    skin_weights: Tensor  # (N, 6) over [ghost, root, neck, jaw, left eye, right eye]
    base_attributes: Tensor  # (N, 11) the geometry network's, before activation: colour, scale, quaternion, opacity
    gaussian_network: FusedGaussianNetwork
    posing_head: HeadModel | None = None  # `head` on the avatar's device, where it poses; None: `head`, on the CPU
    expression_range: tuple[float, float] = (-3.0, 3.0)  # FLAME expression components, in standard deviations
    eigen_layout: ClassVar[None] = None
    file_kind: ClassVar[str] = "point"

    @staticmethod
    def from_checkpoint(state_dict: dict[str, Tensor], radius: float, canonical_expression: Tensor,
                        canonical_jaw: float, default_camera: Camera,
                        timeline: FlameSequence | None = None) -> PointAvatar:
        """Run the load-time networks on a validated `model_state_dict` (a progress bar for large N)."""
        head = checkpoint_head_model(state_dict)
        geometry = layers(state_dict, "geometry_network.")
        deformer = layers(state_dict, "deformer_network.")
        canonical_transforms, canonical_feature = joint_transforms(
            head, canonical_expression[None], canonical_pose(canonical_jaw)[None])
        canonical_transforms = ghost_bone(canonical_transforms)[0]  # (6, 4, 4)
        blend_coefficients = torch.cat([canonical_expression, canonical_feature[0]])  # (86,)

        parts = []
        points = state_dict["pc.points"]
        with torch.inference_mode():
            for start in tqdm(range(0, len(points), CHUNK), desc="preparing the avatar", unit="chunk",
                              disable=len(points) <= CHUNK, leave=False):
                chunk = points[start:start + CHUNK]
                base, deform = geometry_network(geometry, chunk), deformer_network(deformer, chunk)
                n = len(chunk)
                blend_dirs = torch.cat([deform.exprdirs, deform.posedirs.transpose(1, 2)], dim=2)  # (n, 3, 86)
                # Un-pose from the canonical pose: invert its blended transform, remove its blendshapes.
                skin = torch.einsum("nj,jab->nab", deform.skin_weights, canonical_transforms)[:, :3]  # (n, 3, 4)
                unskinned = torch.linalg.solve(skin[:, :, :3], deform.canonical_points - skin[:, :, 3])
                rest = unskinned - blend_dirs @ blend_coefficients
                parts.append((rest, deform.canonical_points, blend_dirs.reshape(n * 3, -1), deform.skin_weights,
                              torch.cat([base.colors, base.scales, base.quats, base.opacities], dim=1)))
        columns = [torch.cat(column).contiguous() for column in zip(*parts)]
        network = FusedGaussianNetwork.fuse(layers(state_dict, "gaussian_deformer_network."))
        return PointAvatar(head, default_camera, timeline, float(radius), canonical_expression.clone(), *columns,
                           network)

    @staticmethod
    def from_experiment(experiment: Experiment) -> PointAvatar:
        """From a checkpoint and its dataset, as `open_experiment` found them."""
        return PointAvatar.from_checkpoint(experiment.state_dict, experiment.radius, experiment.canonical_expression,
                                           experiment.canonical_jaw, experiment.camera, experiment.timeline)

    def __len__(self) -> int:
        return self.rest_points.shape[0]

    @property
    def device(self) -> torch.device:
        """Where it poses, and its Gaussians come out."""
        return self.rest_points.device

    def to(self, device, dtype: torch.dtype | None = None) -> PointAvatar:
        """A copy that poses on `device` (avatar/contract.py); float32 whatever `dtype`."""
        return placed(self, device, *ARRAY_KEYS, "gaussian_network")

    def gaussians(self, params: FlameParams) -> Gaussians:
        """The Gaussians for FLAME expression (50,) and pose (5, 3) (+ translation): exactly what the original
        hands its rasterizer, non-unit quaternions included. On the avatar's device, from parameters on any."""
        device = self.device
        head = self.head if self.posing_head is None else self.posing_head
        expression = params.expression.to(device, torch.float32)
        transforms, feature = joint_transforms(head, expression[None], params.pose[None].to(device, torch.float32))
        bones = ghost_bone(transforms)[0, :, :3].reshape(6, 12)  # top 3 rows of each 4x4
        coefficients = torch.cat([expression, feature[0]])  # (86,)
        n = len(self)
        means, attributes = torch.empty(n, 3, device=device), torch.empty(n, 11, device=device)
        # In chunks that stay in the cache: the network's 256-wide layer is 100 MB for 100k points at once.
        for start in range(0, n, FRAME_CHUNK):
            part = slice(start, start + FRAME_CHUNK)
            skin = (self.skin_weights[part] @ bones).view(-1, 3, 4)  # each point's blended transform
            count = skin.shape[0]
            posed = torch.addmv(self.rest_points[part].reshape(-1), self.blend_dirs[3 * start:3 * (start + count)],
                                coefficients).view(count, 1, 3)
            chunk_means = means[part]
            torch.add((skin[:, :, :3] * posed).sum(-1), skin[:, :, 3], out=chunk_means)  # no bmm: slow for 3 x 3
            attributes[part] = self.gaussian_network(chunk_means - self.canonical_points[part])
        attributes += self.base_attributes
        colors, scales, quats, opacities = attributes.split([3, 3, 4, 1], dim=1)
        # The original normalises each quaternion channel over all points, not each quaternion (spec Q1), and
        # its rasterizer uses them as they are; Gaussians.covariances() builds the same matrices.
        return Gaussians(means=means + params.translation.to(means), opacities=torch.sigmoid(opacities[:, 0]),
                         colors=torch.sigmoid(colors), quats=F.normalize(quats, dim=0),
                         scales=SCALE_MAX * torch.sigmoid(scales) + self.radius)


def save_point_avatar(avatar: PointAvatar, path: str | Path) -> None:
    """One uncompressed `.npz` (its float arrays barely compress, and it must load fast): the head model, the
    cached per-point tensors, the Gaussian network, the camera and the timeline."""
    arrays = head_model_arrays(avatar.head) | avatar.default_camera.to_arrays()
    arrays |= {f"point/{key}": getattr(avatar, key).numpy() for key in ARRAY_KEYS}
    arrays["point/radius"] = np.array(avatar.radius)
    for key in NETWORK_KEYS:
        weight, bias = getattr(avatar.gaussian_network, key)
        arrays[f"point/network/{key}/weight"], arrays[f"point/network/{key}/bias"] = weight.numpy(), bias.numpy()
    if avatar.timeline is not None:
        timeline = avatar.timeline
        arrays |= {"timeline/expression": timeline.expression.numpy(), "timeline/pose": timeline.pose.numpy(),
                   "timeline/translation": timeline.translation.numpy(),
                   "timeline/names": np.array(timeline.names, dtype=str)}
    arrays[KIND_KEY] = np.array(PointAvatar.file_kind)
    save_npz(path, arrays, compress=False)


def load_point_avatar(path: Path, arrays: dict[str, np.ndarray]) -> PointAvatar:
    """The avatar in `arrays`, read from the livehead `.npz` at `path`."""
    network_keys = [f"point/network/{key}/{part}" for key in NETWORK_KEYS for part in ("weight", "bias")]
    missing = [key for key in ["camera/intrinsics", "point/radius", *(f"point/{k}" for k in ARRAY_KEYS),
                               *network_keys] if key not in arrays]
    if missing:
        raise AvatarError(f"{path}: missing {', '.join(missing)}; not a complete point avatar file")
    try:
        head = head_model_from_arrays(path, arrays)
    except HeadModelError as err:
        raise AvatarError(str(err)) from err
    cached = {key: torch.from_numpy(arrays[f"point/{key}"]) for key in ARRAY_KEYS}
    n = cached["rest_points"].shape[0]
    expected = {"rest_points": (n, 3), "canonical_points": (n, 3), "blend_dirs": (3 * n, 86),
                "skin_weights": (n, 6), "base_attributes": (n, 11), "canonical_expression": (50,)}
    for key, shape in expected.items():
        if tuple(cached[key].shape) != shape:
            raise AvatarError(f"{path}: 'point/{key}' has shape {tuple(cached[key].shape)}, expected {shape}")
    network = FusedGaussianNetwork(*((torch.from_numpy(arrays[f"point/network/{key}/weight"]),
                                      torch.from_numpy(arrays[f"point/network/{key}/bias"])) for key in NETWORK_KEYS))
    timeline = None
    if "timeline/expression" in arrays:
        timeline = FlameSequence(*(torch.from_numpy(arrays[f"timeline/{key}"])
                                   for key in ("expression", "pose", "translation")),
                                 names=tuple(str(name) for name in arrays["timeline/names"]))
    return PointAvatar(head, Camera.from_arrays(arrays), timeline, float(arrays["point/radius"]),
                       cached.pop("canonical_expression"), **cached, gaussian_network=network)
