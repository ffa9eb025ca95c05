"""The value every avatar produces and every rasterizer consumes: a set of 3D Gaussians."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from models.rotation import matrix_to_quaternion

SCALE_FLOOR = 1e-7  # smaller scales (and eigenvalues below its square) are raised to it: a log stays finite


@dataclass
class Gaussians:
    """N Gaussians in world space, with activated attributes (opacities and colours in [0, 1]).

    The shape of each Gaussian is given either by `quats` + `scales` or by `covars` (triangle-bound Gaussians,
    which stretch with their triangle). Quaternions are taken as 3DGS takes them: R(q) by the unit-quaternion
    formula applied to q as it is. MonoGaussianAvatar's are not unit length, and its rasterizer never
    normalised them; backends that normalise (gsplat) are given `covariances()` instead.
    """

    means: Tensor  # (N, 3)
    opacities: Tensor  # (N,)
    colors: Tensor  # (N, 3) RGB
    quats: Tensor | None = None  # (N, 4) w, x, y, z; unit length or not (see above)
    scales: Tensor | None = None  # (N, 3)
    covars: Tensor | None = None  # (N, 3, 3)

    def __post_init__(self):
        n = self.means.shape[0]
        if (self.covars is None) == (self.quats is None or self.scales is None):
            raise ValueError("Gaussians need either covars or both quats and scales")
        expected = {"means": (n, 3), "opacities": (n,), "colors": (n, 3)}
        if self.covars is None:
            expected |= {"quats": (n, 4), "scales": (n, 3)}
        else:
            expected |= {"covars": (n, 3, 3)}
        for name, shape in expected.items():
            if tuple(getattr(self, name).shape) != shape:
                raise ValueError(f"Gaussians.{name} has shape {tuple(getattr(self, name).shape)}, expected {shape}")

    def __len__(self) -> int:
        return self.means.shape[0]

    def covariances(self) -> Tensor:
        """(N, 3, 3) world-space covariances: R S S^T R^T, with the quaternion taken as given, as in 3DGS."""
        if self.covars is not None:
            return self.covars
        rs = quaternion_to_matrix(self.quats) * self.scales[:, None, :]
        return rs @ rs.transpose(1, 2)

    def to(self, device) -> Gaussians:
        return Gaussians(**{k: (v.to(device) if v is not None else None) for k, v in self.__dict__.items()})


def quaternion_to_matrix(q: Tensor) -> Tensor:
    """(N, 4) quaternions (w, x, y, z) -> (N, 3, 3) matrices, by the 3DGS formula (exact for unit quaternions)."""
    w, x, y, z = q.unbind(-1)
    return torch.stack(
        [
            1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
            2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
            2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
        ],
        dim=-1,
    ).reshape(q.shape[:-1] + (3, 3))


def decompose_covariances(covariances: Tensor, floor: float = SCALE_FLOOR) -> tuple[Tensor, Tensor]:
    """(N, 3, 3) covariances -> unit quaternions and scales with R(q) diag(s^2) R(q)^T = covariance (eigenvalues
    below floor^2 raised to it)."""
    eigenvalues, vectors = torch.linalg.eigh((covariances + covariances.transpose(1, 2)) / 2)
    flip = torch.linalg.det(vectors) < 0  # a reflection: negating one eigenvector makes it a rotation
    vectors[flip, :, 0] = -vectors[flip, :, 0]
    scales = eigenvalues.clamp(min=floor**2).sqrt()
    return matrix_to_quaternion(vectors), scales
