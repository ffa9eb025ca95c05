"""The reference for `cpu.py`: the 3DGS forward rasterizer written for obvious correctness, in float64, one
function per stage as cpu.py has one numba kernel per stage (tests compare each pair):

- `project_reference`: every Gaussian's pixel, depth, 2D covariance (EWA) and its inverse, and the rectangle of
  16x16 tiles it is listed in; nothing for one in front of the near plane or degenerate;
- `bin_reference`: per tile, the Gaussians listed there, in increasing depth (ties in index order);
- `composite_reference`: per tile, its pixels blended front to back over that list.

`rasterize_reference` is the three in a row. Whole-tile numpy arrays: seconds per frame, for tests and
benchmarks only.

3DGS projects means through its view-projection matrix; with the matrices of `to_3dgs` that is exactly
u = fx x / z + cx, v = fy y / z + cy (tests check it), which this file uses in float64. (3DGS itself works in
float32 with w + 1e-7, about 1e-5 px away, which matters only where a threshold test lands that close.)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from avatar.splatting.gaussians import Gaussians
from avatar.splatting.rasterizer.render import NEAR, Render
from models.camera import Camera

TILE = 16


@dataclass
class Projection:
    """Each Gaussian on the image, float64 (N,) arrays unless said."""

    pixel_x: np.ndarray  # the mean's pixel: u = fx x / z + cx (pixel centres at integers)
    pixel_y: np.ndarray
    depth: np.ndarray  # camera-space z
    a: np.ndarray  # the 2D covariance [[a, b], [b, c]] in pixels^2, the 0.3 low-pass filter included
    b: np.ndarray
    c: np.ndarray
    conic: np.ndarray  # (N, 3) its inverse [[qa, qb], [qb, qc]] as (qa, qb, qc); NaN where not drawn
    tiles: np.ndarray  # (N, 4) int: the tile rectangle [x0, x1) x [y0, y1) it is listed in; 0s: not drawn


def project_reference(gaussians: Gaussians, camera: Camera) -> Projection:
    """Pinhole means, EWA covariances and tile rectangles, as the 3DGS forward pass projects them."""
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
    a, b, c = cov2d[:, 0, 0] + 0.3, cov2d[:, 0, 1], cov2d[:, 1, 1] + 0.3
    pixel_x, pixel_y = focal_x * p_view[:, 0] / depth + camera.cx, focal_y * p_view[:, 1] / depth + camera.cy
    conic, tiles = np.full((len(means), 3), np.nan), np.zeros((len(means), 4), np.int64)
    grid_x, grid_y = (camera.width + TILE - 1) // TILE, (camera.height + TILE - 1) // TILE
    for i in range(len(means)):
        det = a[i] * c[i] - b[i] ** 2
        if depth[i] <= NEAR or det == 0:
            continue
        mid = 0.5 * (a[i] + c[i])
        radius = np.ceil(3.0 * np.sqrt(mid + np.sqrt(max(0.1, mid * mid - det))))  # the larger eigenvalue's
        if not np.isfinite(radius):  # a negative-definite covariance: power > 0 everywhere, nothing drawn
            continue
        x0, x1, y0, y1 = (np.clip(np.floor((pixel_x[i] - radius) / TILE), 0, grid_x),
                          np.clip(np.floor((pixel_x[i] + radius + TILE - 1) / TILE), 0, grid_x),
                          np.clip(np.floor((pixel_y[i] - radius) / TILE), 0, grid_y),
                          np.clip(np.floor((pixel_y[i] + radius + TILE - 1) / TILE), 0, grid_y))
        if x0 < x1 and y0 < y1:  # off the image otherwise
            conic[i], tiles[i] = (c[i] / det, -b[i] / det, a[i] / det), (x0, x1, y0, y1)
    return Projection(pixel_x, pixel_y, depth, a, b, c, conic, tiles)


def bin_reference(projection: Projection, width: int, height: int) -> list[np.ndarray]:
    """Per tile (row-major), the indices of the Gaussians listed there: every tile of each one's rectangle, in
    increasing depth, ties in index order (3DGS sorts (tile, depth) keys stably)."""
    grid_x, grid_y = (width + TILE - 1) // TILE, (height + TILE - 1) // TILE
    listed: list[list[int]] = [[] for _ in range(grid_x * grid_y)]
    for i in np.argsort(projection.depth, kind="stable"):
        x0, x1, y0, y1 = projection.tiles[i]
        for ty in range(y0, y1):
            for tx in range(x0, x1):
                listed[ty * grid_x + tx].append(int(i))
    return [np.array(indices, np.int64) for indices in listed]


def composite_reference(projection: Projection, listed: list[np.ndarray], opacities: np.ndarray,
                        colors: np.ndarray, background: np.ndarray, width: int, height: int) -> Render:
    """Every tile's pixels blended front to back over the Gaussians `listed` there (alpha <= 0.99, skip alpha <
    1/255, stop at T < 1e-4), over `background` (3,); float64 tensors."""
    color = np.zeros((height, width, 3))
    accumulated_depth = np.zeros((height, width))
    transmittance = np.ones((height, width))
    grid_x = (width + TILE - 1) // TILE
    for tile, indices in enumerate(listed):
        top, left = (tile // grid_x) * TILE, (tile % grid_x) * TILE
        rows, cols = slice(top, min(top + TILE, height)), slice(left, min(left + TILE, width))
        t, done = transmittance[rows, cols], np.zeros((rows.stop - top, cols.stop - left), bool)
        for i in indices:
            conic_a, conic_b, conic_c = projection.conic[i]
            dx = projection.pixel_x[i] - np.arange(left, cols.stop)[None, :]
            dy = projection.pixel_y[i] - np.arange(top, rows.stop)[:, None]
            power = -0.5 * (conic_a * dx * dx + conic_c * dy * dy) - conic_b * dx * dy
            alpha = np.minimum(0.99, opacities[i] * np.exp(power))
            test_t = t * (1.0 - alpha)
            contributes = ~done & (power <= 0.0) & (alpha >= 1.0 / 255.0)
            finished = contributes & (test_t < 1e-4)  # this Gaussian is not added; the pixel is complete
            added = contributes & ~finished
            weight = np.where(added, alpha * t, 0.0)
            color[rows, cols] += weight[..., None] * colors[i]
            accumulated_depth[rows, cols] += weight * projection.depth[i]
            t = np.where(added, test_t, t)
            done |= finished
        transmittance[rows, cols] = t
    image = color + transmittance[..., None] * background
    return Render(torch.from_numpy(image), torch.from_numpy(1.0 - transmittance), torch.from_numpy(accumulated_depth))


def rasterize_reference(
    gaussians: Gaussians, camera: Camera, background: Tensor | None = None  # (3,), default white
) -> Render:
    """Render like the 3DGS CUDA forward pass: the three stages in a row; the returned tensors are float64."""
    g = gaussians.seen_from(camera.position).to("cpu").to(torch.float64)
    projection = project_reference(gaussians, camera)
    listed = bin_reference(projection, camera.width, camera.height)
    background = np.ones(3) if background is None else background.double().numpy()
    return composite_reference(projection, listed, g.opacities.numpy(), g.colors.numpy(), background, camera.width,
                               camera.height)
