"""The brute-force reference for `cpu.py`: the 3DGS forward rasterizer written for obvious correctness, in float64.

It projects the way 3DGS does, through the matrices `to_3dgs` gives (so it also checks the direct
u = fx x / z + cx that the fast path uses), sorts by depth, and walks every Gaussian front to back over all
pixels of the tiles its rectangle covers, with whole-image numpy arrays. Seconds per frame: for tests and
benchmarks only.

3DGS's projection (float32 matrices, w + 1e-7) puts means 1e-6 to 1e-5 px away from u = fx x / z + cx. That is
invisible, except where a threshold test (alpha >= 1/255, T < 1e-4) lands that close to its threshold and
can go either way: such pixels are flagged in `ambiguous`, and compared to nothing.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from avatar.camera import Camera, to_3dgs
from avatar.gaussians import Gaussians
from avatar.rasterizer import Render

TILE = 16
NEAR_THRESHOLD = 1e-4  # relative distance to a threshold below which a test counts as ambiguous


@dataclass
class ReferenceRender(Render):
    ambiguous: Tensor  # (H, W) bool: some threshold test of this pixel was decided within NEAR_THRESHOLD


def rasterize_reference(
    gaussians: Gaussians, camera: Camera, background: Tensor | None = None  # (3,), default white
) -> ReferenceRender:
    """Render like the 3DGS CUDA forward pass; the returned tensors are float64."""
    g = gaussians.to("cpu").to(torch.float64)
    means, opacities, colors = g.means.numpy(), g.opacities.numpy(), g.colors.numpy()
    covariances = g.covariances().numpy()  # (N, 3, 3)
    background = np.ones(3) if background is None else background.double().numpy()
    viewmatrix, full_proj, tan_fovx, tan_fovy = to_3dgs(camera)
    viewmatrix, full_proj = viewmatrix.double().numpy(), full_proj.double().numpy()
    width, height = camera.width, camera.height

    # projection, as 3DGS: row vectors times the transposed matrices, then ndc to pixels
    homogeneous = np.concatenate([means, np.ones((len(means), 1))], axis=1)
    p_view = homogeneous @ viewmatrix
    p_hom = homogeneous @ full_proj
    p_proj = p_hom[:, :3] * (1.0 / (p_hom[:, 3:] + 1e-7))
    pixel_x = ((p_proj[:, 0] + 1.0) * width - 1.0) * 0.5
    pixel_y = ((p_proj[:, 1] + 1.0) * height - 1.0) * 0.5
    depth = p_view[:, 2]

    # EWA splatting: cov2D = J W Sigma W^T J^T, the Jacobian taken at x/z, y/z clamped to 1.3 tan(fov/2)
    focal_x, focal_y = width / (2.0 * tan_fovx), height / (2.0 * tan_fovy)
    tx = np.clip(p_view[:, 0] / depth, -1.3 * tan_fovx, 1.3 * tan_fovx) * depth
    ty = np.clip(p_view[:, 1] / depth, -1.3 * tan_fovy, 1.3 * tan_fovy) * depth
    jacobian = np.zeros((len(means), 2, 3))
    jacobian[:, 0, 0] = focal_x / depth
    jacobian[:, 0, 2] = -focal_x * tx / depth**2
    jacobian[:, 1, 1] = focal_y / depth
    jacobian[:, 1, 2] = -focal_y * ty / depth**2
    rotation = viewmatrix[:3, :3].T  # world to camera
    jw = jacobian @ rotation
    cov2d = jw @ covariances @ jw.transpose(0, 2, 1)
    a, b, c = cov2d[:, 0, 0] + 0.3, cov2d[:, 0, 1], cov2d[:, 1, 1] + 0.3

    color = np.zeros((height, width, 3))
    accumulated_depth = np.zeros((height, width))
    transmittance = np.ones((height, width))
    done = np.zeros((height, width), dtype=bool)
    ambiguous = np.zeros((height, width), dtype=bool)
    grid_x, grid_y = (width + TILE - 1) // TILE, (height + TILE - 1) // TILE
    for i in np.argsort(depth, kind="stable"):
        det = a[i] * c[i] - b[i] ** 2
        if depth[i] <= 0.2 or det == 0:
            continue
        conic_a, conic_b, conic_c = c[i] * (1.0 / det), -b[i] * (1.0 / det), a[i] * (1.0 / det)
        mid = 0.5 * (a[i] + c[i])
        lambda1 = mid + np.sqrt(max(0.1, mid * mid - det))
        lambda2 = mid - np.sqrt(max(0.1, mid * mid - det))
        radius = np.ceil(3.0 * np.sqrt(max(lambda1, lambda2)))
        if not np.isfinite(radius):  # a negative-definite covariance: power > 0 everywhere, nothing drawn
            continue
        # the rectangle of tiles the Gaussian is listed in; it is tested against every pixel of those tiles
        x0 = int(np.clip(np.floor((pixel_x[i] - radius) / TILE), 0, grid_x))
        x1 = int(np.clip(np.floor((pixel_x[i] + radius + TILE - 1) / TILE), 0, grid_x))
        y0 = int(np.clip(np.floor((pixel_y[i] - radius) / TILE), 0, grid_y))
        y1 = int(np.clip(np.floor((pixel_y[i] + radius + TILE - 1) / TILE), 0, grid_y))
        if x0 == x1 or y0 == y1:
            continue
        rows = slice(y0 * TILE, min(y1 * TILE, height))
        cols = slice(x0 * TILE, min(x1 * TILE, width))
        dx = pixel_x[i] - np.arange(width)[cols][None, :]
        dy = pixel_y[i] - np.arange(height)[rows][:, None]
        power = -0.5 * (conic_a * dx * dx + conic_c * dy * dy) - conic_b * dx * dy
        alpha = np.minimum(0.99, opacities[i] * np.exp(power))
        t = transmittance[rows, cols]
        test_t = t * (1.0 - alpha)
        contributes = ~done[rows, cols] & (power <= 0.0) & (alpha >= 1.0 / 255.0)
        finished = contributes & (test_t < 1e-4)  # this Gaussian is not added; the pixel is complete
        ambiguous[rows, cols] |= ~done[rows, cols] & (
            (np.abs(power) < 1e-9)
            | (np.abs(alpha * 255.0 - 1.0) < NEAR_THRESHOLD)
            | (contributes & (np.abs(test_t * 1e4 - 1.0) < NEAR_THRESHOLD))
        )
        added = contributes & ~finished
        weight = np.where(added, alpha * t, 0.0)
        color[rows, cols] += weight[..., None] * colors[i]
        accumulated_depth[rows, cols] += weight * depth[i]
        transmittance[rows, cols] = np.where(added, test_t, t)
        done[rows, cols] |= finished

    image = color + transmittance[..., None] * background
    return ReferenceRender(
        torch.from_numpy(image), torch.from_numpy(1.0 - transmittance), torch.from_numpy(accumulated_depth),
        torch.from_numpy(ambiguous),
    )
