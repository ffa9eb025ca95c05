"""GEM reconstruction written straight from the spec (shared/specs/gem.md §4.3-4.5, §12), in float64, for clarity.

`model.eigen_gaussians` is the fast path (precomputed scaled bases, float32); tests hold the two together and
this one against what the original code produced.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from avatar.gem.model import ATTRIBUTES, CHANNELS, EigenGaussians, GemModel
from models.rotation import matrix_to_quaternion, quaternion_multiply


def reference_gaussians(model: GemModel, coefficients: Tensor, root: Tensor | None = None,
                        masking_keys: Sequence[str] = (), masking_mask: Tensor | None = None) -> EigenGaussians:
    """The original's `inverse_transform` + `parse_payload`, key by key.

    coefficients: (P, K) sigma units, part-major, each part [geometry | opacity | scales | rotation].
    root: (4, 4) root_RT or None.
    masking_keys, masking_mask: the original's test-time masking ({"keys": ..., "mask": ...}): in parts mode the
        parts named in `masking_keys` are replaced by their mean; in full mode (one part) the Gaussians in
        `masking_mask` (N,) bool take their mean rows.
    """
    full_mode = len(model.parts) == 1
    slices = model.coefficient_slices()
    attributes = {}
    for attribute in ATTRIBUTES:
        per_part = []
        for p, part in enumerate(model.parts):
            basis = model.bases[attribute][p]
            B, sigma, mu = basis.components.double(), basis.sigma.double(), basis.mean.double()
            c = coefficients[p, slices[attribute]].double()
            X = c @ (sigma[:, None] * B) + mu  # X_k = c_k (sigma_k * B_k) + mu_k
            if not full_mode and part in masking_keys:
                X = mu
            X = X.reshape(-1, CHANNELS[attribute])  # channels interleaved per Gaussian
            if full_mode and masking_mask is not None:
                X = torch.where(masking_mask[:, None], mu.reshape(-1, CHANNELS[attribute]), X)
            per_part.append(X)
        attributes[attribute] = torch.cat(per_part)  # parts in `parts` order

    means = attributes["geometry"]
    quats = attributes["rotation"] / attributes["rotation"].norm(dim=-1, keepdim=True)
    if root is not None:
        R, t = root[:3, :3].double(), root[:3, 3].double()
        means = means @ R.T + t  # p' = R p + t
        quats = quaternion_multiply(matrix_to_quaternion(R[None]).expand_as(quats), quats)  # q' = q(R) * q
        quats = torch.where(quats[:, :1] < 0, -quats, quats)  # standardised: w >= 0
    return EigenGaussians(means, quats, attributes["scales"], attributes["opacity"][:, 0])
