"""The value every avatar produces and every rasterizer consumes: a set of 3D Gaussians."""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import Tensor

from models.rotation import matrix_to_quaternion

SCALE_FLOOR = 1e-7  # smaller scales (and eigenvalues below its square) are raised to it: a log stays finite
# The real spherical harmonics of degrees 0-3 as 3DGS evaluates them (its forward.cu, computeColorFromSH).
SH_C0 = 0.28209479177387814
SH_C1 = 0.4886025119029199
SH_C2 = (1.0925484305920792, -1.0925484305920792, 0.31539156525252005, -1.0925484305920792, 0.5462742152960396)
SH_C3 = (-0.5900435899266435, 2.890611442640554, -0.4570457994644658, 0.3731763325901154, -0.4570457994644658,
         1.445305721320277, -0.5900435899266435)
SH_COEFFICIENTS = 16  # degree 3


@dataclass
class Gaussians:
    """N Gaussians in world space, with activated attributes (opacities and colours in [0, 1]).

    The shape of each Gaussian is given either by `quats` + `scales` or by `covars` (triangle-bound Gaussians,
    which stretch with their triangle). Quaternions are taken as 3DGS takes them: R(q) by the unit-quaternion
    formula applied to q as it is. MonoGaussianAvatar's are not unit length, and its rasterizer never
    normalised them; backends that normalise (gsplat) are given `covariances()` instead.

    The colour is either fixed (`colors`) or seen from where the camera is (`sh`, spherical harmonics of degree
    3, as 3DGS trains them): `view_colors(camera_position)` gives it, and `rasterize` draws it so.
    """

    means: Tensor  # (N, 3)
    opacities: Tensor  # (N,)
    colors: Tensor | None  # (N, 3) RGB; None with `sh`
    quats: Tensor | None = None  # (N, 4) w, x, y, z; unit length or not (see above)
    scales: Tensor | None = None  # (N, 3)
    covars: Tensor | None = None  # (N, 3, 3)
    sh: Tensor | None = None  # (N, 16, 3) each colour channel's coefficients, degree 0 first

    def __post_init__(self):
        n = self.means.shape[0]
        if (self.covars is None) == (self.quats is None or self.scales is None):
            raise ValueError("Gaussians need either covars or both quats and scales")
        if (self.colors is None) == (self.sh is None):
            raise ValueError("Gaussians need either colors or sh")
        expected = {"means": (n, 3), "opacities": (n,)}
        expected |= {"colors": (n, 3)} if self.sh is None else {"sh": (n, SH_COEFFICIENTS, 3)}
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

    def view_colors(self, camera_position: Tensor) -> Tensor:
        """(N, 3) RGB seen from `camera_position` (3,): fixed colours as they are; spherical harmonics evaluated
        in the direction from the camera centre to each mean, max(SH(dir) + 0.5, 0), as 3DGS's rasterizer does."""
        if self.sh is None:
            return self.colors
        direction = self.means - camera_position.to(self.means)
        x, y, z = (direction / direction.norm(dim=1, keepdim=True)).unbind(1)
        xx, yy, zz, xy, yz, xz = x * x, y * y, z * z, x * y, y * z, x * z
        basis = torch.stack([
            torch.full_like(x, SH_C0),
            -SH_C1 * y, SH_C1 * z, -SH_C1 * x,
            SH_C2[0] * xy, SH_C2[1] * yz, SH_C2[2] * (2 * zz - xx - yy), SH_C2[3] * xz, SH_C2[4] * (xx - yy),
            SH_C3[0] * y * (3 * xx - yy), SH_C3[1] * xy * z, SH_C3[2] * y * (4 * zz - xx - yy),
            SH_C3[3] * z * (2 * zz - 3 * xx - 3 * yy), SH_C3[4] * x * (4 * zz - xx - yy), SH_C3[5] * z * (xx - yy),
            SH_C3[6] * x * (xx - 3 * yy),
        ], dim=1)  # (N, 16)
        return ((basis[:, :, None] * self.sh).sum(dim=1) + 0.5).clamp(min=0.0)

    def seen_from(self, camera_position: Tensor) -> Gaussians:
        """These Gaussians with the fixed colours they have from `camera_position` (themselves if fixed already)."""
        if self.sh is None:
            return self
        return replace(self, colors=self.view_colors(camera_position), sh=None)


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
