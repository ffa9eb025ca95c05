"""FLAME parameters -> GEM eigen coefficients: one ridge-regression matrix over features that make it nearly exact.

Features: [expression, R_jaw - I, R_left_eye - I, R_right_eye - I] (rotation matrices of the axis-angle pose,
row-major), and, given enough frames, the products expression x (R_jaw - I). Blendshapes move points linearly in
the expression; a point turned about a joint, R (p - c) + c, or skinned by a blend of joints, is linear in the
entries of the rotation matrices; and the jaw turns the blendshape offsets of the points it carries, R_jaw B e,
which is what the products hold. So the positions of a skinned avatar (pose correctives aside) are linear in these
features, and so are their GEM coefficients, which are linear in the positions. Quaternions and scales are not,
but vary little and smoothly. Measured on the demo (fitted on 160 samples, held-out positions, rms in % of the
head's size): 0.031 with the plain features, 0.0016 with the products; a small MLP (two hidden layers of 128) 0.22,
or 0.028 as a correction on top of the plain map: not clearly better, so there is none.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import Tensor

from models.params import JAW, LEFT_EYE, RIGHT_EYE, FlameParams, FlameSequence
from models.rotation import axis_angle_to_matrix

DRIVING_JOINTS = (JAW, LEFT_EYE, RIGHT_EYE)  # the root poses a GEM
# rigidly after reconstruction and GEM has no neck, so neither is in its coefficients
DEFAULT_RIDGE = 1e-4  # on standardised features, times the number of frames: small where data is ample


def flame_features(expression: Tensor, pose: Tensor, jaw_products: bool) -> Tensor:
    """(B, E) expression, (B, 5, 3) axis-angle pose -> (B, E + 27 [+ 9 E]) mapper features."""
    rotations = axis_angle_to_matrix(pose[:, DRIVING_JOINTS].to(expression.dtype))  # (B, 3, 3, 3)
    turns = (rotations - torch.eye(3, dtype=rotations.dtype, device=rotations.device)).flatten(2)  # (B, 3, 9)
    features = [expression, turns.flatten(1)]
    if jaw_products:
        features.append((expression[:, :, None] * turns[:, None, 0]).flatten(1))
    return torch.cat(features, dim=1)


def feature_count(num_expressions: int, jaw_products: bool) -> int:
    return num_expressions + 27 + (9 * num_expressions if jaw_products else 0)


@dataclass
class EigenMapper:
    """coefficients (P, K) = (W features + b).view(P, K), in sigma units."""

    weight: Tensor  # (P * K, features)
    bias: Tensor  # (P * K,)
    shape: tuple[int, int]  # (P, K): parts and coefficients per part of the GEM it drives
    num_expressions: int
    jaw_products: bool  # whether the features include expression x (R_jaw - I)

    def __post_init__(self):
        expected = (self.shape[0] * self.shape[1], feature_count(self.num_expressions, self.jaw_products))
        if tuple(self.weight.shape) != expected or tuple(self.bias.shape) != expected[:1]:
            raise ValueError(f"eigen mapper weight {tuple(self.weight.shape)} and bias {tuple(self.bias.shape)} do "
                             f"not match {expected} for {self.num_expressions} expressions and shape {self.shape}")

    def to(self, device) -> EigenMapper:
        return replace(self, weight=self.weight.to(device), bias=self.bias.to(device))

    def __call__(self, params: FlameParams) -> Tensor:
        """(P, K) coefficients for one frame's FLAME parameters, on the mapper's device (wherever they are)."""
        if params.expression.shape[0] != self.num_expressions:
            raise ValueError(f"the eigen mapper was fitted on {self.num_expressions} expression coefficients, "
                             f"but these parameters have {params.expression.shape[0]}")
        features = flame_features(params.expression[None].to(self.weight), params.pose[None].to(self.weight.device),
                                  self.jaw_products)[0]
        return torch.addmv(self.bias, self.weight, features).view(self.shape)

    def predict(self, sequence: FlameSequence) -> Tensor:
        """(F, P, K) coefficients for every frame of `sequence`."""
        features = flame_features(sequence.expression.to(self.weight), sequence.pose.to(self.weight), self.jaw_products)
        return torch.addmm(self.bias, features, self.weight.T).view(len(sequence), *self.shape)

    @staticmethod
    def fit(params: FlameSequence, coefficients: Tensor, ridge: float = DEFAULT_RIDGE) -> EigenMapper:
        """Least squares with a small ridge from F frames of FLAME parameters and their (F, P, K) coefficients in
        sigma units: the samples a GEM was built from, or an original GEM's `_coeffs` track with the FLAME
        parameters tracked for the same frames. The jaw products are used when there are at least twice as many
        frames as features: with fewer they fit the frames but follow faces outside them worse (measured on the
        demo with tracked faces: 3x the image error at 128 frames for 117 features, a fifth less at 256)."""
        frames, num_expressions = len(params), params.expression.shape[1]
        if frames < 2:
            raise ValueError(f"a mapper needs at least 2 frames to be fitted on; got {frames}")
        if coefficients.ndim != 3 or coefficients.shape[0] != frames:
            raise ValueError(f"{frames} frames of FLAME parameters but coefficients of shape "
                             f"{tuple(coefficients.shape)}; give one (parts, coefficients) row per frame, in the "
                             "same order")
        jaw_products = frames >= 2 * feature_count(num_expressions, True)
        x = flame_features(params.expression.double(), params.pose.double(), jaw_products)
        y = coefficients.double().flatten(1)
        x_mean, y_mean = x.mean(0), y.mean(0)
        x_scale = x.std(0).clamp(min=1e-8)  # standardised, so that one ridge suits every feature
        xs = (x - x_mean) / x_scale
        gram = xs.T @ xs + ridge * frames * torch.eye(x.shape[1], dtype=x.dtype)
        w = torch.linalg.solve(gram, xs.T @ (y - y_mean)) / x_scale[:, None]  # (features, P * K), raw features
        return EigenMapper(w.T.float().contiguous(), (y_mean - x_mean @ w).float(), tuple(coefficients.shape[1:]),
                           num_expressions, jaw_products)
