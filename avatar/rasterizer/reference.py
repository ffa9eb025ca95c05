"""The brute-force reference for `cpu.py`: the 3DGS forward rasterizer written for obvious correctness, in float64.

It projects every Gaussian (pinhole mean, EWA covariance), sorts by depth, and walks every Gaussian front to
back over all pixels of the tiles its rectangle covers, with whole-image numpy arrays. Seconds per frame: for
tests and benchmarks only.

3DGS projects means through its view-projection matrix; with the matrices of `to_3dgs` that is exactly
u = fx x / z + cx, v = fy y / z + cy (tests check it), which this file uses in float64. (3DGS itself works in
float32 with w + 1e-7, about 1e-5 px away, which matters only where a threshold test lands that close.)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from avatar.gaussians import Gaussians
from avatar.rasterizer.render import NEAR, Render
from models.camera import Camera

TILE = 16


@dataclass
class Projection:
    """Each Gaussian on the image, float64 (N,) arrays."""

    pixel_x: np.ndarray  # the mean's pixel: u = fx x / z + cx (pixel centres at integers)
    pixel_y: np.ndarray
    depth: np.ndarray  # camera-space z
    a: np.ndarray  # the 2D covariance [[a, b], [b, c]] in pixels^2, the 0.3 low-pass filter included
    b: np.ndarray
    c: np.ndarray


def project_reference(gaussians: Gaussians, camera: Camera) -> Projection:
    """Pinhole means and EWA covariances, as the 3DGS forward pass projects them."""
    g = gaussians.to("cpu").to(torch.float64)
    means, covariances = g.means.numpy(), g.covariances().numpy()  # (N, 3), (N, 3, 3)
    rotation = camera.world_to_camera[:3, :3].double().numpy()
    p_view = means @ rotation.T + camera.world_to_camera[:3, 3].double().numpy()  # camera space
    depth = p_view[:, 2]
    # EWA splatting: cov2D = J W Sigma W^T J^T, the Jacobian taken at x/z, y/z clamped to 1.3 tan(fov/2)
    focal_x, focal_y = camera.fx, camera.fy
    tan_fovx, tan_fovy = camera.width / (2.0 * focal_x), camera.height / (2.0 * focal_y)
    tx = np.clip(p_view[:, 0] / depth, -1.3 * tan_fovx, 1.3 * tan_fovx) * depth
    ty = np.clip(p_view[:, 1] / depth, -1.3 * tan_fovy, 1.3 * tan_fovy) * depth
    jacobian = np.zeros((len(means), 2, 3))
    jacobian[:, 0, 0] = focal_x / depth
    jacobian[:, 0, 2] = -focal_x * tx / depth**2
    jacobian[:, 1, 1] = focal_y / depth
    jacobian[:, 1, 2] = -focal_y * ty / depth**2
    jw = jacobian @ rotation
    cov2d = jw @ covariances @ jw.transpose(0, 2, 1)
    return Projection(focal_x * p_view[:, 0] / depth + camera.cx, focal_y * p_view[:, 1] / depth + camera.cy, depth,
                      cov2d[:, 0, 0] + 0.3, cov2d[:, 0, 1], cov2d[:, 1, 1] + 0.3)


def rasterize_reference(
    gaussians: Gaussians, camera: Camera, background: Tensor | None = None  # (3,), default white
) -> Render:
    """Render like the 3DGS CUDA forward pass; the returned tensors are float64."""
    g = gaussians.to("cpu").to(torch.float64)
    opacities, colors = g.opacities.numpy(), g.colors.numpy()
    background = np.ones(3) if background is None else background.double().numpy()
    width, height = camera.width, camera.height
    projected = project_reference(gaussians, camera)
    pixel_x, pixel_y, depth = projected.pixel_x, projected.pixel_y, projected.depth
    a, b, c = projected.a, projected.b, projected.c

    color = np.zeros((height, width, 3))
    accumulated_depth = np.zeros((height, width))
    transmittance = np.ones((height, width))
    done = np.zeros((height, width), dtype=bool)
    grid_x, grid_y = (width + TILE - 1) // TILE, (height + TILE - 1) // TILE
    for i in np.argsort(depth, kind="stable"):
        det = a[i] * c[i] - b[i] ** 2
        if depth[i] <= NEAR or det == 0:
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
        added = contributes & ~finished
        weight = np.where(added, alpha * t, 0.0)
        color[rows, cols] += weight[..., None] * colors[i]
        accumulated_depth[rows, cols] += weight * depth[i]
        transmittance[rows, cols] = np.where(added, test_t, t)
        done[rows, cols] |= finished

    image = color + transmittance[..., None] * background
    return Render(
        torch.from_numpy(image), torch.from_numpy(1.0 - transmittance), torch.from_numpy(accumulated_depth)
    )
