"""A Gaussian Eigen Model (GEM): buffers, and one pure function that turns eigen coefficients into Gaussians.

Every attribute of every part is linear in its coefficients: X = c (sigma * B) + mean, one matrix-vector
product per attribute and part. The attributes are stored activated (positions, opacities, scales and unit
quaternions as the rasterizer takes them), so nothing is exponentiated after reconstruction; quaternions are
normalised. Coefficients are in standard deviations (sigma units): 0 is the mean avatar, +-3 the usual range.
The model can live on the GPU with its sigma-scaled rows in half precision (`GemModel.to`): those rows are what
each frame reads, so half the bytes; the products are added to float32 means, and the Gaussians are float32.
`reference.py` is the direct float64 form of the same maths that this must agree with.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import torch
from torch import Tensor

from models.rotation import matrix_to_quaternion, quaternion_multiply

ATTRIBUTES = ("geometry", "opacity", "scales", "rotation")  # the order of the coefficient slices in a part
CHANNELS = {"geometry": 3, "opacity": 1, "scales": 3, "rotation": 4}
TEST_TIME_FROZEN_PARTS = ("scalp", "neck")  # what the original holds still at test time in parts mode


@dataclass
class EigenBasis:
    """One attribute of one part."""

    components: Tensor  # (K, N_p * C) orthonormal rows, channels interleaved per Gaussian [g0c0, g0c1, ..., g1c0]
    sigma: Tensor  # (K,) standard deviation along each component
    mean: Tensor  # (N_p * C,)
    scaled: Tensor = field(init=False, repr=False)  # (K, N_p * C) sigma-scaled rows: what a frame multiplies

    def __post_init__(self):
        self.scaled = self.sigma[:, None] * self.components

    def to(self, device, dtype: torch.dtype | None = None) -> EigenBasis:
        """A copy whose sigma-scaled rows (in `dtype`: float16, bfloat16; None: float32 as built) and mean are on
        `device`: what a frame reads. The components and sigma, which only projecting and saving read, stay."""
        basis = replace(self, mean=self.mean.to(device))
        basis.scaled = basis.scaled.to(device, dtype)
        return basis


@dataclass
class GemModel:
    """The parts (one "full", or FLAME regions), each with one EigenBasis per attribute, and static colours."""

    parts: tuple[str, ...]
    bases: dict[str, tuple[EigenBasis, ...]]  # attribute -> one basis per part, in `parts` order
    colors: Tensor  # (N, 3) RGB in [0, 1], or (N, 16, 3) spherical harmonics; parts concatenated in `parts` order
    tex_map: Tensor  # (N,) int64: the head-model vertex nearest each Gaussian
    rest: dict[str, Tensor] = field(init=False, repr=False)  # attribute -> (N, C) the mean avatar, parts concatenated

    def __post_init__(self):
        self.rest = {attribute: torch.cat([basis.mean.view(-1, CHANNELS[attribute]) for basis in bases])
                     for attribute, bases in self.bases.items()}

    def __len__(self) -> int:
        return self.colors.shape[0]

    def to(self, device, basis_dtype: torch.dtype | None = None) -> GemModel:
        """A copy on `device`, the sigma-scaled rows in `basis_dtype` (see `EigenBasis.to`)."""
        bases = {attribute: tuple(basis.to(device, basis_dtype) for basis in bases)
                 for attribute, bases in self.bases.items()}
        return replace(self, bases=bases, colors=self.colors.to(device), tex_map=self.tex_map.to(device))

    @property
    def counts(self) -> dict[str, int]:
        """Components per attribute (the same in every part)."""
        return {attribute: self.bases[attribute][0].components.shape[0] for attribute in ATTRIBUTES}

    @property
    def coefficients_per_part(self) -> int:
        return sum(self.counts.values())

    @property
    def part_sizes(self) -> tuple[int, ...]:
        return tuple(basis.mean.shape[0] // CHANNELS["geometry"] for basis in self.bases["geometry"])

    def coefficient_slices(self) -> dict[str, slice]:
        """Where each attribute's coefficients sit within a part's vector."""
        slices, start = {}, 0
        for attribute, count in self.counts.items():
            slices[attribute] = slice(start, start + count)
            start += count
        return slices

    def gaussians_of_parts(self, names: Iterable[str]) -> Tensor:
        """(N,) bool: the Gaussians of the parts called `names` (GEM's test time freezes "scalp" and "neck")."""
        names = set(names)
        return torch.cat([torch.full((size,), part in names) for part, size in zip(self.parts, self.part_sizes)])


def frozen_at_test_time(model: GemModel, hair_gaussians: Tensor | None = None,
                        parts: Iterable[str] = TEST_TIME_FROZEN_PARTS) -> Tensor | None:
    """The original's test-time masking (spec §4.5) as `eigen_gaussians`' frozen_gaussians: in parts mode the
    Gaussians of `parts`; in full mode `hair_gaussians` (N,) bool (its hair vertex mask looked up at tex_map,
    which the GEM files do not carry: None when unknown)."""
    return hair_gaussians if len(model.parts) == 1 else model.gaussians_of_parts(parts)


@dataclass
class EigenGaussians:
    """What a GEM reconstructs, before it becomes `Gaussians`."""

    means: Tensor  # (N, 3)
    quats: Tensor  # (N, 4) unit, w x y z
    scales: Tensor  # (N, 3) as reconstructed: linear, so in principle of either sign (only their squares count)
    opacities: Tensor  # (N,) as reconstructed: linear, may leave [0, 1] slightly (rasterizers clamp alpha)


def eigen_gaussians(model: GemModel, coefficients: Tensor, root: Tensor | None = None,
                    frozen_gaussians: Tensor | None = None) -> EigenGaussians:
    """Reconstruct the Gaussians.

    coefficients: (P, K) sigma units, one row per part, sliced as `model.coefficient_slices()`.
    root: (4, 4) rigid transform applied last (positions R p + t, quaternions q(R) * q with w >= 0), or None;
        on the model's device.
    frozen_gaussians: (N,) bool, Gaussians held at their mean in every attribute. GEM's test-time masking is
        this in both its modes: the hair Gaussians in full mode, whole parts (`model.gaussians_of_parts`) in
        parts mode, which is the same as zero coefficients for those parts.
    """
    slices = model.coefficient_slices()
    out = {}
    for attribute in ATTRIBUTES:
        values = torch.empty_like(model.rest[attribute])  # (N, C), filled part by part: no concatenation
        start = 0
        for p, basis in enumerate(model.bases[attribute]):
            rows = values[start:start + basis.mean.shape[0] // values.shape[1]]
            weights = coefficients[p, slices[attribute]]
            if basis.scaled.dtype == values.dtype:
                torch.addmv(basis.mean, basis.scaled.T, weights, out=rows.view(-1))
            else:  # half-precision rows: the product in their precision, added to the float32 mean
                torch.add(basis.mean, basis.scaled.T @ weights.to(basis.scaled.dtype), out=rows.view(-1))
            start += rows.shape[0]
        if frozen_gaussians is not None:
            values = torch.where(frozen_gaussians[:, None], model.rest[attribute], values)
        out[attribute] = values
    quats = torch.nn.functional.normalize(out["rotation"], dim=-1)
    means = out["geometry"]
    if root is not None:
        means = means @ root[:3, :3].T + root[:3, 3]
        # q(R) * q for every q at once: the product with a fixed left factor is a 4x4 matrix
        left = quaternion_multiply(matrix_to_quaternion(root[:3, :3]),
                                   torch.eye(4, dtype=quats.dtype, device=quats.device))  # (4, 4)
        quats = quats @ left
        quats = torch.where(quats[:, :1] < 0, -quats, quats)  # pytorch3d's quaternion_multiply standardises
    return EigenGaussians(means, quats, out["scales"], out["opacity"][:, 0])
