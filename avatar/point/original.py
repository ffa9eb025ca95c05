"""The original MonoGaussianAvatar's per-frame computation, done directly: the reference for the fast path.

Every frame it runs what the original runs every frame (spec §5.1): the geometry network and the deformer on
all points, the FLAME skeleton, un-posing each point from the canonical pose with a 4x4 inverse, re-posing it,
and the Gaussian network. It leaves out only the original's discarded Jacobian (spec Q8), so it is a lower
bound on the original's cost. Tests compare `PointAvatar` with it; bench/ times both.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from avatar.point.head import canonical_pose, checkpoint_head_model
from avatar.point.networks import deformer_network, gaussian_network, geometry_network, layers
from models.head_model import joint_transforms, pose_head

SCALE_MAX = 0.025  # the original's hard-coded scale range (for 512-pixel images)


@dataclass
class RasterizerInputs:
    """What the original hands diff-gaussian-rasterization for one frame."""

    means: Tensor  # (N, 3)
    scales: Tensor  # (N, 3) radius included
    quats: Tensor  # (N, 4) w, x, y, z; NOT unit length: normalised per channel over the points
    opacities: Tensor  # (N, 1)
    colors: Tensor  # (N, 3)


def ghost_bone(transforms: Tensor) -> Tensor:
    """(B, 5, 4, 4) FLAME joint transforms -> (B, 6, 4, 4) with the identity ghost bone first."""
    eye = torch.eye(4, dtype=transforms.dtype, device=transforms.device).expand(transforms.shape[0], 1, 4, 4)
    return torch.cat([eye, transforms], dim=1)


def original_frame(state_dict: dict[str, Tensor], radius: float, canonical_expression: Tensor,
                   canonical_jaw: float, expression: Tensor, pose: Tensor) -> RasterizerInputs:
    """expression (50,), pose (5, 3) -> the rasterizer's inputs, computed the way the original does."""
    head = checkpoint_head_model(state_dict)
    canonical_transforms, canonical_feature = joint_transforms(
        head, canonical_expression[None], canonical_pose(canonical_jaw)[None])
    pose_head(head, expression[None], pose[None])  # the original poses the whole mesh every frame too
    transforms, feature = joint_transforms(head, expression[None], pose[None])

    points = state_dict["pc.points"]
    base = geometry_network(layers(state_dict, "geometry_network."), points)
    deform = deformer_network(layers(state_dict, "deformer_network."), points)

    def blend(expr: Tensor, feat: Tensor) -> Tensor:  # (N, 3) blendshape and pose-corrective offsets
        return torch.einsum("nkl,l->nk", deform.exprdirs, expr) + torch.einsum("nik,i->nk", deform.posedirs, feat)

    homogeneous = F.pad(deform.canonical_points, (0, 1), value=1.0)[..., None]  # (N, 4, 1)
    canonical_skin = torch.einsum("nj,jab->nab", deform.skin_weights, ghost_bone(canonical_transforms)[0])
    rest = (torch.inverse(canonical_skin) @ homogeneous)[:, :3, 0] - blend(canonical_expression, canonical_feature[0])
    posed = F.pad(rest + blend(expression, feature[0]), (0, 1), value=1.0)[..., None]
    skin = torch.einsum("nj,jab->nab", deform.skin_weights, ghost_bone(transforms)[0])
    means = (skin @ posed)[:, :3, 0]

    offsets = gaussian_network(layers(state_dict, "gaussian_deformer_network."), means - deform.canonical_points)
    return RasterizerInputs(
        means=means,
        scales=SCALE_MAX * torch.sigmoid(base.scales + offsets.scales) + radius,
        quats=F.normalize(base.quats + offsets.quats, dim=0),  # over the points, as the original's dim=1 of (B, N, 4)
        opacities=torch.sigmoid(base.opacities + offsets.opacities),
        colors=torch.sigmoid(base.colors + offsets.colors),
    )
