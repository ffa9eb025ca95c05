"""MonoGaussianAvatar's three networks at inference, as pure functions of their checkpoint weights.

Spec: ../shared/specs/monogaussianavatar.md §4. The geometry network and the deformer see only the canonical
points, so a loaded avatar runs them once; the Gaussian network runs every frame.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

Layers = dict[str, tuple[Tensor, Tensor]]  # layer name -> (weight (out, in), bias (out,))
NUM_EXPRESSIONS = 50
NUM_POSE_FEATURES = 36  # (R - I) of the 4 non-root FLAME joints
EMBEDDING_FREQUENCIES = 6  # the geometry network's positional encoding: 1, 2, 4, ... 32


def layers(state_dict: dict[str, Tensor], prefix: str) -> Layers:
    """The linear layers stored under `prefix` ("geometry_network."), weight-normed ones resolved.

    Weight norm (torch.nn.utils.weight_norm, dim 0): W[o] = weight_g[o] * weight_v[o] / |weight_v[o]|.
    """
    result = {}
    for key in state_dict:
        if key.startswith(prefix) and key.endswith(".bias"):  # every linear layer has a bias
            base = key[: -len(".bias")]
            if base + ".weight_v" in state_dict:
                v = state_dict[base + ".weight_v"]
                weight = state_dict[base + ".weight_g"] * v / v.norm(dim=1, keepdim=True)
            else:
                weight = state_dict[base + ".weight"]
            result[base[len(prefix):]] = (weight, state_dict[key])
    return result


def softplus(x: Tensor) -> Tensor:
    """The original's nn.Softplus(beta=100): a sharp ReLU."""
    return F.softplus(x, beta=100, threshold=20)


def linear(x: Tensor, layer: tuple[Tensor, Tensor]) -> Tensor:
    return F.linear(x, *layer)


def positional_encoding(points: Tensor) -> Tensor:
    """(N, 3) -> (N, 39): [x, sin(x), cos(x), sin(2x), cos(2x), ..., sin(32x), cos(32x)]."""
    parts = [points]
    for k in range(EMBEDDING_FREQUENCIES):
        parts += [torch.sin(points * 2.0**k), torch.cos(points * 2.0**k)]
    return torch.cat(parts, dim=-1)


@dataclass
class BaseAttributes:
    """The geometry network's per-point attributes, before activation and before the per-frame offsets."""

    colors: Tensor  # (N, 3)
    scales: Tensor  # (N, 3)
    quats: Tensor  # (N, 4) w, x, y, z
    opacities: Tensor  # (N, 1)


def geometry_network(net: Layers, points: Tensor) -> BaseAttributes:
    """(N, 3) canonical points -> their attributes.

    The original concatenates its heads as [colour, rotation, scale, opacity] but slices the result as
    [colour, scale, rotation, opacity]: the trained "scale" is the rotation head's first 3 channels, and the
    "rotation" is the rotation head's last channel followed by the scale head. Doing the same cat and slice
    keeps that swap visible.
    """
    encoded = positional_encoding(points)
    h = encoded
    for k in range(7):
        if k == 3:  # skip connection
            h = torch.cat([h, encoded], dim=-1) / math.sqrt(2)
        h = softplus(linear(h, net[f"lin{k}"]))
    colors = linear(linear(softplus(linear(h, net["out_layer.0"])), net["out_layer.2"]), net["out_layer.3"])
    rotations = linear(softplus(linear(h, net["rotations_layer.0"])), net["rotations_layer.2"])
    scales = linear(softplus(linear(h, net["scaling_layer.0"])), net["scaling_layer.2"])
    opacities = linear(softplus(linear(h, net["opacity_layer.0"])), net["opacity_layer.2"])
    features = torch.cat([colors, rotations, scales, opacities], dim=-1)
    return BaseAttributes(features[:, 0:3], features[:, 3:6], features[:, 6:10], features[:, 10:11])


@dataclass
class Deformation:
    """The deformer's per-point FLAME quantities, in the x4 FLAME units of the checkpoint."""

    canonical_points: Tensor  # (N, 3) x_c: the points plus the learned canonical offset
    exprdirs: Tensor  # (N, 3, 50) expression blendshapes
    posedirs: Tensor  # (N, 36, 3) pose correctives
    skin_weights: Tensor  # (N, 6) over [ghost, root, neck, jaw, left eye, right eye]


def deformer_network(net: Layers, points: Tensor) -> Deformation:
    """(N, 3) canonical points -> their blendshapes, pose correctives, skinning weights and offset points."""
    h = points
    for k in range(4):
        h = softplus(linear(h, net[f"lin{k}"]))
    blend = linear(h, net["blendshapes"])  # (N, 261)
    n = points.shape[0]
    posedirs = blend[:, :108].reshape(n, NUM_POSE_FEATURES, 3)
    exprdirs = blend[:, 108:258].reshape(n, 3, NUM_EXPRESSIONS)
    logits = linear(softplus(linear(h, net["skinning_linear"])), net["skinning"])
    # The original's softmax has no max subtraction; identical unless it overflowed there.
    weights = torch.exp(20 * logits)
    return Deformation(points + blend[:, 258:261], exprdirs, posedirs, weights / weights.sum(-1, keepdim=True))


def gaussian_network(net: Layers, offsets: Tensor) -> BaseAttributes:
    """(N, 3) posed minus canonical positions -> per-frame attribute offsets (reference form; the avatar runs
    `FusedGaussianNetwork`)."""
    h = linear(F.relu(linear(F.relu(linear(offsets, net["lin0"])), net["lin1"])), net["lin2"])
    head = {name: linear(F.relu(linear(h, net[f"{name}.0"])), net[f"{name}.2"])
            for name in ("color_layer", "scaling_layer", "rotations_layer", "opacity_layer")}
    return BaseAttributes(head["color_layer"], head["scaling_layer"], head["rotations_layer"], head["opacity_layer"])


HEAD_ORDER = (("color_layer", 3), ("scaling_layer", 3), ("rotations_layer", 4), ("opacity_layer", 1))
OUTPUTS_PADDED = 16


@dataclass
class FusedGaussianNetwork:
    """The Gaussian network in 4 matrix products instead of 11.

    lin2 has no activation after it, so it folds into the heads' first layers, which stack into one 64 -> 256
    layer; the heads' last layers become one block-diagonal 256 -> 11 layer, padded with zero rows to 16
    outputs (twice as fast as 11). Same function, ~20% fewer multiply-adds, large products instead of small.
    """

    layer0: tuple[Tensor, Tensor]  # (64, 3), (64,)
    layer1: tuple[Tensor, Tensor]  # (64, 64), (64,)
    heads_in: tuple[Tensor, Tensor]  # (256, 64), (256,)
    heads_out: tuple[Tensor, Tensor]  # (16, 256), (16,): colour 3, scale 3, quaternion 4, opacity 1, zeros 5

    @staticmethod
    def fuse(net: Layers) -> FusedGaussianNetwork:
        w2, b2 = net["lin2"]
        firsts = [net[f"{name}.0"] for name, _ in HEAD_ORDER]
        w_in = torch.cat([w for w, _ in firsts])
        b_in = torch.cat([b for _, b in firsts]) + w_in @ b2
        lasts = [net[f"{name}.2"] for name, _ in HEAD_ORDER]
        padding = OUTPUTS_PADDED - sum(size for _, size in HEAD_ORDER)
        w_out = torch.block_diag(*[w for w, _ in lasts], torch.zeros(padding, 0))
        b_out = torch.cat([b for _, b in lasts] + [torch.zeros(padding)])
        return FusedGaussianNetwork(net["lin0"], net["lin1"], (w_in @ w2, b_in), (w_out, b_out))

    def to(self, device) -> FusedGaussianNetwork:
        return FusedGaussianNetwork(*((weight.to(device), bias.to(device))
                                      for weight, bias in (self.layer0, self.layer1, self.heads_in, self.heads_out)))

    def __call__(self, offsets: Tensor) -> Tensor:
        """(N, 3) -> (N, 11) [colour 3, scale 3, quaternion 4, opacity 1] offsets."""
        h = torch.relu_(torch.addmm(self.layer0[1], offsets, self.layer0[0].T))
        h = torch.relu_(torch.addmm(self.layer1[1], h, self.layer1[0].T))
        h = torch.relu_(torch.addmm(self.heads_in[1], h, self.heads_in[0].T))
        return torch.addmm(self.heads_out[1], h, self.heads_out[0].T)[:, :11]
