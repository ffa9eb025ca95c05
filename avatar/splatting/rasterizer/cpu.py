"""Our CPU rasterizer: the forward maths of the original 3DGS CUDA rasterizer, in numba, in float64.

Three stages, each a numba kernel: project every Gaussian (EWA, tile rectangle), sort by depth and bin into
16x16 tiles (a counting sort by tile that keeps depth order), and composite each tile front to back.
The result is the one `reference.py` computes pixel by pixel; what makes it fast changes nothing beyond
float64 rounding:
- a Gaussian can only pass alpha >= 1/255 inside the ellipse d^T Q d <= k = 2 ln(255 opacity). It is listed
  only in the tiles of its 3DGS rectangle that this ellipse reaches, and evaluated only on the pixels inside
  it, row by row; the exact 3DGS tests still run on those pixels (but power <= 0, which a positive-definite
  Q guarantees). k carries a margin (K_MARGIN) far above float64 rounding, so the ellipse is a superset of
  the pixels that pass;
- exp(power) is carried from pixel to pixel, and row to row, by products (power is quadratic in x and y),
  within ~1e-14 of exp: three exps per Gaussian and tile, not one per pixel;
- pixels that reached T < 1e-4 are skipped, and a tile stops once all of its pixels have;
- threads take the tiles one at a time, heaviest first, so that a face in part of the frame, or a thread
  held up by other work (the tracker), leaves no core idle.
"""
from __future__ import annotations

import math
import threading
import time
from pathlib import Path

import numba
import numpy as np
import torch
from numba import njit, prange, types
from numba.extending import intrinsic
from torch import Tensor

from avatar.splatting.gaussians import Gaussians
from avatar.splatting.rasterizer.render import NEAR, Render
from models.camera import Camera

TILE = 16
K_MARGIN = 1e-6  # added to k: moves the ellipse's edge by ~1e-7 px, ~1e5 times float64 rounding there
# Columns of the per-Gaussian table that the projection writes and binning and compositing read:
# mean (u, v) in pixels, camera-space z, opacity, colour, conic Q = (QA, QB, QC) = inverse 2D covariance,
# and the ellipse d^T Q d <= k: each pixel row y (dy = v - y) holds it over x = u - SLOPE dy +- sqrt(HW0 -
# HW1 dy^2); it spans |dy| <= EY (inf: Q is not positive definite, no bound) and is leftmost at dy = DY_LEFT.
# Where it is bounded, STEP_X, STEP_XY, STEP_Y = exp(-QA), exp(-QB), exp(-QC): how exp(power)'s ratios between
# neighbouring pixels change from pixel to pixel (see _composite_tile).
U, V, Z, OPACITY, R, G, B, QA, QB, QC, SLOPE, HW0, HW1, EY, DY_LEFT, STEP_X, STEP_XY, STEP_Y = range(18)
COLUMNS = 18
# A tile's accumulators while it composites, planes of one flat array (one base address in the pixel loop):
# colour, weighted depth and transmittance T of pixel p at pixels[plane + p].
# Unsigned, as the pixel index p is: numba then skips its wrap-around of negative indices.
RED, GREEN, BLUE, DEPTH, TRANSMITTANCE = (np.uint64(plane * TILE * TILE) for plane in range(5))
# Only prange loops run in parallel: numba would also turn array expressions into parallel loops, each
# compiled on its own (seconds of first-run compile for nothing at these sizes).
PRANGE_ONLY = {
    "comprehension": False, "reduction": False, "inplace_binop": False, "setitem": False, "numpy": False,
    "stencil": False, "fusion": False,
}
# One frame at a time in this process: numba's workqueue threading layer (what it falls back to without TBB or
# OpenMP) aborts the process when two threads launch parallel kernels at once (the window and its export).
KERNELS = threading.Lock()


def rasterize_cpu(
    gaussians: Gaussians, camera: Camera, background: Tensor, timings: dict[str, float] | None = None  # (3,)
) -> Render:
    """Render on the CPU: the three stages in a row. When `timings` is given, it receives each one's seconds."""
    with KERNELS:
        start = time.perf_counter()
        table, rects, room = project_cpu(gaussians, camera)
        projected = time.perf_counter()
        tile_starts, tile_entries = bin_cpu(table, rects, room, camera.width, camera.height)
        binned = time.perf_counter()
        render = composite_cpu(table, tile_starts, tile_entries, camera.width, camera.height, background)
    if timings is not None:
        timings |= {
            "project": projected - start, "sort+bin": binned - projected, "composite": time.perf_counter() - binned
        }
    return render


def project_cpu(gaussians: Gaussians, camera: Camera) -> tuple[np.ndarray, np.ndarray, int]:
    """Stage 1 (reference: project_reference): the table (N, COLUMNS), the tile rectangles (N, 4) [x0, x1) x
    [y0, y1), empty where not drawn, and their total area. Kept arrays of this thread: read before the next call."""
    n, work = len(gaussians), _workspace
    means = _numpy(gaussians.means)
    # the kernel reads one shape source; the other gets empty arrays of the same types (one compile for both)
    if gaussians.covars is not None:
        covars, quats, scales = _numpy(gaussians.covars), np.empty((0, 4), means.dtype), np.empty((0, 3), means.dtype)
    else:
        covars, quats, scales = np.empty((0, 3, 3), means.dtype), _numpy(gaussians.quats), _numpy(gaussians.scales)
    table, rects = work.array("table", (n, COLUMNS), np.float64), work.array("rects", (n, 4), np.int32)
    room = _project(
        means, quats, scales, covars, _numpy(gaussians.opacities), _numpy(gaussians.colors),
        camera.world_to_camera.detach().cpu().double().numpy(),
        float(camera.fx), float(camera.fy), float(camera.cx), float(camera.cy), camera.width, camera.height,
        table, rects,
    )
    return table, rects, room


def bin_cpu(table: np.ndarray, rects: np.ndarray, room: int, width: int, height: int
            ) -> tuple[np.ndarray, np.ndarray]:
    """Stage 2 (reference: bin_reference): tile t lists table rows tile_entries[tile_starts[t]:tile_starts[t +
    1]] in increasing depth, only the tiles of its rectangle that its alpha ellipse reaches."""
    n, work = rects.shape[0], _workspace
    tile_entries = work.array("tile_entries", (room,), np.int32)
    tile_starts = _sort_and_bin(
        table, rects, width, height, numba.get_num_threads(),
        work.array("scratch", (6, n + 1), np.int64), work.array("tiles_of", (room,), np.int32), tile_entries,
    )
    return tile_starts, tile_entries


def composite_cpu(table: np.ndarray, tile_starts: np.ndarray, tile_entries: np.ndarray, width: int, height: int,
                  background: Tensor) -> Render:
    """Stage 3 (reference: composite_reference): every tile blended front to back; float32 tensors."""
    image, alpha, depth = _composite(
        table, tile_starts, tile_entries, width, height, background.detach().cpu().double().numpy(),
        numba.get_num_threads(),
    )
    return Render(torch.from_numpy(image), torch.from_numpy(alpha), torch.from_numpy(depth))


def is_compiled() -> bool:
    """Whether numba's on-disk cache holds these kernels; if not, the first frame compiles them (~15 s)."""
    line = _composite.py_func.__code__.co_firstlineno
    return any((Path(__file__).parent / "__pycache__").glob(f"cpu._composite-{line}.*.nbi"))


class _Workspace(threading.local):
    """Arrays kept from frame to frame, one set per thread: fresh ones of this size cost a page fault every
    4 KiB, ~14 ms of CPU a frame at 100k Gaussians. Outputs are not kept: the caller owns them."""

    def __init__(self) -> None:
        self._arrays: dict[str, np.ndarray] = {}

    def array(self, name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
        """An array of this shape with undefined contents, reusing (a prefix of) the last one of this name."""
        size = math.prod(shape)
        kept = self._arrays.get(name)
        if kept is None or kept.size < size:
            kept = self._arrays[name] = np.empty(size + size // 4, dtype)  # headroom for a growing scene
        return kept[:size].reshape(shape)


_workspace = _Workspace()


def _numpy(t: Tensor) -> np.ndarray:
    """float32 or float64 as given: the kernels compile once per dtype and do their maths in float64."""
    t = t.detach().cpu()
    return (t if t.dtype in (torch.float32, torch.float64) else t.float()).contiguous().numpy()


@njit(cache=True, nogil=True, parallel=dict(PRANGE_ONLY))
def _project(means, quats, scales, covars, opacities, colors, view, fx, fy, cx, cy, width, height, table, rects):
    """Fill, per Gaussian, its table row (N, COLUMNS) and 3DGS tile rectangle [x0, x1) x [y0, y1) (N, 4),
    empty if not drawn; return the rectangles' total area, the most (tile, Gaussian) pairs there can be.

    means (N, 3), quats (N, 4) w first and scales (N, 3), or covars (N, 3, 3); opacities (N,), colors (N, 3),
    view (4, 4) world to camera.
    """
    n = means.shape[0]
    grid_x, grid_y = (width + TILE - 1) // TILE, (height + TILE - 1) // TILE
    lim_x, lim_y = 1.3 * width / (2.0 * fx), 1.3 * height / (2.0 * fy)  # 1.3 tan(fov / 2), as 3DGS clamps
    room = 0
    for i in prange(n):
        rects[i, 0] = rects[i, 1] = rects[i, 2] = rects[i, 3] = 0
        mx, my, mz = means[i, 0], means[i, 1], means[i, 2]
        x = view[0, 0] * mx + view[0, 1] * my + view[0, 2] * mz + view[0, 3]
        y = view[1, 0] * mx + view[1, 1] * my + view[1, 2] * mz + view[1, 3]
        z = view[2, 0] * mx + view[2, 1] * my + view[2, 2] * mz + view[2, 3]
        opacity = opacities[i]
        if not z > NEAR or not opacity >= 1.0 / 255.0:  # a fainter Gaussian never passes alpha >= 1/255
            continue
        if covars.shape[0] > 0:
            s00, s01, s02 = covars[i, 0, 0], covars[i, 0, 1], covars[i, 0, 2]
            s11, s12, s22 = covars[i, 1, 1], covars[i, 1, 2], covars[i, 2, 2]
        else:
            s00, s01, s02, s11, s12, s22 = _quat_scale_covariance(quats, scales, i)
        # EWA: cov2D = J W Sigma W^T J^T, J the Jacobian at the mean with x/z, y/z clamped to 1.3 tan(fov / 2)
        tx = min(lim_x, max(-lim_x, x / z)) * z
        ty = min(lim_y, max(-lim_y, y / z)) * z
        j00, j02 = fx / z, -fx * tx / (z * z)
        j11, j12 = fy / z, -fy * ty / (z * z)
        # the rows a, b of J W
        a0, a1, a2 = (
            j00 * view[0, 0] + j02 * view[2, 0], j00 * view[0, 1] + j02 * view[2, 1], j00 * view[0, 2] + j02 * view[2, 2]
        )
        b0, b1, b2 = (
            j11 * view[1, 0] + j12 * view[2, 0], j11 * view[1, 1] + j12 * view[2, 1], j11 * view[1, 2] + j12 * view[2, 2]
        )
        sa0, sa1, sa2 = s00 * a0 + s01 * a1 + s02 * a2, s01 * a0 + s11 * a1 + s12 * a2, s02 * a0 + s12 * a1 + s22 * a2
        sb0, sb1, sb2 = s00 * b0 + s01 * b1 + s02 * b2, s01 * b0 + s11 * b1 + s12 * b2, s02 * b0 + s12 * b1 + s22 * b2
        cov_xx = a0 * sa0 + a1 * sa1 + a2 * sa2 + 0.3  # + 0.3: the 3DGS low-pass filter
        cov_xy = b0 * sa0 + b1 * sa1 + b2 * sa2
        cov_yy = b0 * sb0 + b1 * sb1 + b2 * sb2 + 0.3
        det = cov_xx * cov_yy - cov_xy * cov_xy
        if det == 0.0:
            continue
        det_inv = 1.0 / det
        mid = 0.5 * (cov_xx + cov_yy)
        lambda1 = mid + math.sqrt(max(0.1, mid * mid - det))
        lambda2 = mid - math.sqrt(max(0.1, mid * mid - det))
        radius = math.ceil(3.0 * math.sqrt(max(lambda1, lambda2)))
        u, v = fx * x / z + cx, fy * y / z + cy
        if not math.isfinite(u + v + radius):  # NaN input, or a negative-definite covariance: nothing to draw
            continue
        # tile rectangle, clamped as floats so that no out-of-range value ever becomes an index
        x0 = int(min(grid_x, max(0.0, math.floor((u - radius) / TILE))))
        x1 = int(min(grid_x, max(0.0, math.floor((u + radius + TILE - 1) / TILE))))
        y0 = int(min(grid_y, max(0.0, math.floor((v - radius) / TILE))))
        y1 = int(min(grid_y, max(0.0, math.floor((v + radius + TILE - 1) / TILE))))
        if x0 == x1 or y0 == y1:
            continue
        rects[i, 0], rects[i, 1], rects[i, 2], rects[i, 3] = x0, x1, y0, y1
        room += (x1 - x0) * (y1 - y0)
        qa, qb, qc = cov_yy * det_inv, -cov_xy * det_inv, cov_xx * det_inv
        table[i, U], table[i, V], table[i, Z], table[i, OPACITY] = u, v, z, opacity
        table[i, R], table[i, G], table[i, B] = colors[i, 0], colors[i, 1], colors[i, 2]
        table[i, QA], table[i, QB], table[i, QC] = qa, qb, qc
        table[i, EY] = np.inf
        if det > 0.0 and cov_xx > 0.0:  # Q positive definite: the ellipse, written with the 2D covariance
            k = 2.0 * math.log(255.0 * opacity) + K_MARGIN
            table[i, SLOPE], table[i, HW0], table[i, HW1] = cov_xy / cov_yy, det * k / cov_yy, det / (cov_yy * cov_yy)
            table[i, EY], table[i, DY_LEFT] = math.sqrt(k * cov_yy), cov_xy * math.sqrt(k / cov_xx)
            table[i, STEP_X], table[i, STEP_XY], table[i, STEP_Y] = math.exp(-qa), math.exp(-qb), math.exp(-qc)
    return room


@njit(cache=True, inline="always")
def _quat_scale_covariance(quats, scales, i):
    """R diag(s)^2 R^T for quaternion i (w, x, y, z), taken as given (3DGS does not normalise it here), and scales i."""
    w, x, y, z = quats[i, 0], quats[i, 1], quats[i, 2], quats[i, 3]
    r00, r01, r02 = 1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)
    r10, r11, r12 = 2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)
    r20, r21, r22 = 2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)
    sx, sy, sz = scales[i, 0] ** 2, scales[i, 1] ** 2, scales[i, 2] ** 2
    return (
        r00 * r00 * sx + r01 * r01 * sy + r02 * r02 * sz,
        r00 * r10 * sx + r01 * r11 * sy + r02 * r12 * sz,
        r00 * r20 * sx + r01 * r21 * sy + r02 * r22 * sz,
        r10 * r10 * sx + r11 * r11 * sy + r12 * r12 * sz,
        r10 * r20 * sx + r11 * r21 * sy + r12 * r22 * sz,
        r20 * r20 * sx + r21 * r21 * sy + r22 * r22 * sz,
    )


@njit(cache=True, nogil=True, parallel=dict(PRANGE_ONLY))
def _sort_and_bin(table, rects, width, height, threads, scratch, tiles_of, tile_entries):
    """List the drawn Gaussians per tile, in increasing depth (ties in index order, as 3DGS's stable sort).

    Writes to tile_entries the table rows that each tile t draws, in depth order, at
    tile_entries[tile_starts[t]:tile_starts[t + 1]]; returns tile_starts.
    scratch (6, N + 1) int64 and tiles_of (pairs room,) are working space.
    """
    grid_x, grid_y = (width + TILE - 1) // TILE, (height + TILE - 1) // TILE
    order = _depth_order(table, rects, scratch[0], scratch[1], scratch[2], scratch[3])  # in row 0 or 2
    n = order.shape[0]
    # Gaussian s (in depth order) lists its tiles at tiles_of[room[s]:room[s] + touched[s]]
    room, touched, rank = scratch[3], scratch[4], scratch[5]
    room[0] = 0
    for s in range(n):
        g = order[s]
        room[s + 1] = room[s] + (rects[g, 1] - rects[g, 0]) * (rects[g, 3] - rects[g, 2])
        rank[g] = s
    for g in prange(rects.shape[0]):  # in input order: reading in order and writing scattered is cheaper
        if rects[g, 1] == rects[g, 0]:
            continue
        s = rank[g]
        k = room[s]
        for ty in range(rects[g, 2], rects[g, 3]):
            tx0, tx1 = _tile_columns(table, rects, g, ty, height)
            for tx in range(tx0, tx1):
                tiles_of[k] = ty * grid_x + tx
                k += 1
        touched[s] = k - room[s]
    # A counting sort of the (tile, s) pairs by tile. Each thread takes a run of the depth order; a tile lists
    # thread 0's entries, then thread 1's, ..., so that every list stays in depth order.
    chunk = (n + threads - 1) // threads
    counts = np.zeros((threads, grid_x * grid_y), np.int64)
    for thread in prange(threads):
        for s in range(thread * chunk, min(n, thread * chunk + chunk)):
            for k in range(room[s], room[s] + touched[s]):
                counts[thread, tiles_of[k]] += 1
    cursors = np.empty_like(counts)
    tile_starts = np.empty(grid_x * grid_y + 1, np.int64)
    total = 0
    for tile in range(grid_x * grid_y):
        tile_starts[tile] = total
        for thread in range(threads):
            cursors[thread, tile] = total
            total += counts[thread, tile]
    tile_starts[-1] = total
    for thread in prange(threads):
        cursor = cursors[thread]
        for s in range(thread * chunk, min(n, thread * chunk + chunk)):
            for k in range(room[s], room[s] + touched[s]):
                tile_entries[cursor[tiles_of[k]]] = order[s]
                cursor[tiles_of[k]] += 1
    return tile_starts


@njit(cache=True, inline="always")  # inlined: a call with arrays costs two reference counts
def _tile_columns(table, rects, g, ty, height):
    """The tiles [tx0, tx1) of tile row ty, within Gaussian g's 3DGS rectangle, that its alpha ellipse reaches."""
    x_first, x_end = rects[g, 0], rects[g, 1]
    if table[g, EY] == np.inf:
        return x_first, x_end
    top, last = ty * TILE, min(ty * TILE + TILE, height) - 1
    v, ey = table[g, V], table[g, EY]
    y0, y1 = _ceil_in(v - ey, top, last), _floor_in(v + ey, top, last)
    if y0 > y1:
        return 0, 0
    if x_end - x_first == 1:  # one column: the test below would rarely drop it, and costs two square roots
        return x_first, x_end
    # The left edge u - SLOPE dy - sqrt(...) is convex in dy and the right edge concave, so over these rows
    # they are extreme at the ellipse's leftmost (DY_LEFT) and rightmost (-DY_LEFT) points, clamped.
    dy_low, dy_high, dy_left = v - y1, v - y0, table[g, DY_LEFT]
    leftmost = _edge(table, g, min(max(dy_left, dy_low), dy_high), -1.0)
    rightmost = _edge(table, g, min(max(-dy_left, dy_low), dy_high), 1.0)
    x0 = _ceil_in(leftmost, x_first * TILE, x_end * TILE - 1)
    x1 = _floor_in(rightmost, x_first * TILE, x_end * TILE - 1)
    if x0 > x1:
        return 0, 0
    return x0 // TILE, x1 // TILE + 1


@njit(cache=True, inline="always")
def _edge(table, g, dy, side):
    """x of Gaussian g's ellipse's left (side -1) or right (side +1) edge on the row at dy."""
    return table[g, U] - table[g, SLOPE] * dy + side * math.sqrt(max(0.0, table[g, HW0] - table[g, HW1] * dy * dy))


@njit(cache=True)
def _ceil_in(value, low, high):
    """ceil(value) clamped to [low, high + 1]: the first index of an inclusive range [low, high].
    Clamped as a float, so that no huge or infinite value is ever converted to an integer."""
    return int(math.ceil(min(max(value, float(low)), high + 1.0)))


@njit(cache=True)
def _floor_in(value, low, high):
    """floor(value) clamped to [low - 1, high]: the last index of an inclusive range [low, high]."""
    return int(math.floor(min(max(value, low - 1.0), float(high))))


@njit(cache=True)
def _depth_order(table, rects, indices, keys, indices_out, keys_out):
    """Indices of the drawn Gaussians by increasing depth, ties in index order: a view of `indices` or
    `indices_out`. The four arrays (N + 1,) int64 are working space. Depths are positive, so their float64
    bit patterns sort as unsigned integers."""
    depths = keys.view(np.float64)
    drawn = 0
    for i in range(rects.shape[0]):
        if rects[i, 1] > rects[i, 0]:
            indices[drawn], depths[drawn] = i, table[i, Z]
            drawn += 1
    return _radix_sort(keys[:drawn], indices[:drawn], keys_out[:drawn], indices_out[:drawn])


@njit(cache=True)
def _radix_sort(keys, values, keys_out, values_out):
    """Sort the values (n,) by their keys (n,), non-negative int64, keeping the order of equal keys: an LSD
    radix sort, one byte per pass, skipping passes where all keys share the byte (depths of one scene share
    their exponent). Returns a view of `values` or `values_out`; the key arrays are overwritten."""
    n = keys.shape[0]
    counts = np.zeros((8, 256), np.int64)
    for i in range(n):
        for d in range(8):
            counts[d, (keys[i] >> (8 * d)) & 255] += 1
    cursor = np.empty(256, np.int64)
    for d in range(8):
        if n == 0 or counts[d, (keys[0] >> (8 * d)) & 255] == n:
            continue
        total = 0
        for byte in range(256):
            cursor[byte] = total
            total += counts[d, byte]
        for i in range(n):
            byte = (keys[i] >> (8 * d)) & 255
            keys_out[cursor[byte]], values_out[cursor[byte]] = keys[i], values[i]
            cursor[byte] += 1
        keys, keys_out, values, values_out = keys_out, keys, values_out, values
    return values


@njit(cache=True, nogil=True, parallel=dict(PRANGE_ONLY))
def _composite(table, tile_starts, tile_entries, width, height, background, threads):
    """Alpha-composite every tile front to back; returns image (H, W, 3), alpha (H, W), depth (H, W) float32."""
    grid_x = (width + TILE - 1) // TILE
    image = np.empty((height, width, 3), np.float32)
    alpha = np.empty((height, width), np.float32)
    depth = np.empty((height, width), np.float32)
    # Threads take the tiles heaviest first, each the next one not yet taken: when one thread is held up (2 cores
    # shared with the tracker), the other goes on taking tiles, and the last tiles are small.
    tiles = _heaviest_first(tile_starts)
    most = tile_starts[tiles[0] + 1] - tile_starts[tiles[0]] if tiles.shape[0] > 0 else 0  # the heaviest tile's
    taken = np.zeros(1, np.int64)
    for _ in prange(threads):
        pixels = np.empty(5 * TILE * TILE)
        live = np.empty(TILE, np.int64)  # per tile row, a bit per pixel that is still compositing
        rows = np.empty((most, COLUMNS))
        spans = np.empty((2, TILE), np.int64)
        while True:
            k = _fetch_add(taken, 1)
            if k >= tiles.shape[0]:
                break
            tile = tiles[k]
            left, top = (tile % grid_x) * TILE, (tile // grid_x) * TILE
            last_x, last_y = min(left + TILE, width) - 1, min(top + TILE, height) - 1
            pixels[:TRANSMITTANCE] = 0.0
            pixels[TRANSMITTANCE:] = 1.0
            live[:] = (1 << (last_x - left + 1)) - 1
            _composite_tile(
                table, tile_entries[tile_starts[tile]:tile_starts[tile + 1]], rows, spans, left, top, last_x, last_y,
                pixels, live,
            )
            for y in range(top, last_y + 1):
                for x in range(left, last_x + 1):
                    p = np.uint64((y - top) * TILE + (x - left))
                    t = pixels[TRANSMITTANCE + p]
                    image[y, x, 0] = pixels[RED + p] + t * background[0]
                    image[y, x, 1] = pixels[GREEN + p] + t * background[1]
                    image[y, x, 2] = pixels[BLUE + p] + t * background[2]
                    alpha[y, x] = 1.0 - t
                    depth[y, x] = pixels[DEPTH + p]
    return image, alpha, depth


@intrinsic
def _fetch_add(typingctx, counter, increment):
    """counter[0] += increment, atomically; returns the value before. counter (1,) int64, increment int64."""
    def codegen(context, builder, signature, args):
        counter_array = context.make_array(signature.args[0])(context, builder, args[0])
        return builder.atomic_rmw("add", counter_array.data, args[1], "monotonic")
    return types.int64(counter, types.int64), codegen


@njit(cache=True)
def _heaviest_first(tile_starts):
    """The tiles ordered by decreasing number of Gaussians listed."""
    tiles = tile_starts.shape[0] - 1
    most = 0
    for tile in range(tiles):
        most = max(most, tile_starts[tile + 1] - tile_starts[tile])
    keys, order = np.empty(tiles, np.int64), np.empty(tiles, np.int64)
    for tile in range(tiles):
        keys[tile], order[tile] = most - (tile_starts[tile + 1] - tile_starts[tile]), tile
    return _radix_sort(keys, order, np.empty(tiles, np.int64), np.empty(tiles, np.int64))


@njit(cache=True)
def _composite_tile(table, entries, rows, spans, left, top, last_x, last_y, pixels, live):
    """The 3DGS per-pixel loop, Gaussian-major: each Gaussian updates the live tile pixels inside its ellipse.
    rows (>= len(entries), COLUMNS) and spans (2, TILE) int64 are working space.

    exp(power) is carried from pixel to pixel by products, as power is quadratic in x and y: along a row,
    E(x + 1) = E(x) RX, with RX(x + 1) = RX(x) exp(-QA); from row to row, E(y + 1) = E(y) RY, with
    RY(y + 1) = RY(y) exp(-QC); RX and RY gain exp(-QB) per step in the other direction. Three exps start a
    Gaussian, and again after any row without pixels; between, values stay within the ellipse or a pixel of
    it, so nothing under- or overflows (within ~1e-14 of exp(power); float32 3DGS is within ~1e-7).
    """
    # The tile's table rows side by side first: scattered rows read in one pass of independent loads, rather
    # than a cache miss at each Gaussian's turn.
    for k in range(entries.shape[0]):
        entry = entries[k]
        for c in range(COLUMNS):
            rows[k, c] = table[entry, c]
    remaining = (last_x - left + 1) * (last_y - top + 1)
    for k in range(entries.shape[0]):
        if rows[k, EY] == np.inf:
            remaining = _composite_unbounded(rows, k, left, top, last_x, last_y, pixels, live, remaining)
            if remaining == 0:
                return
            continue
        # Here, not in a function of its own: a call with arrays costs reference counts, per Gaussian and tile.
        u, v, opacity = rows[k, U], rows[k, V], rows[k, OPACITY]
        qa, qb, qc = rows[k, QA], rows[k, QB], rows[k, QC]
        step_x, step_xy, step_y = rows[k, STEP_X], rows[k, STEP_XY], rows[k, STEP_Y]
        y0, y1 = _ceil_in(v - rows[k, EY], top, last_y), _floor_in(v + rows[k, EY], top, last_y)
        # each row's span first: independent square roots, in flight together
        for y in range(y0, y1 + 1):
            dy = v - y
            middle = u - rows[k, SLOPE] * dy
            half = math.sqrt(max(0.0, rows[k, HW0] - rows[k, HW1] * dy * dy))
            spans[0, y - top] = _ceil_in(middle - half, left, last_x)
            spans[1, y - top] = _floor_in(middle + half, left, last_x)
        anchored = False  # gauss, ratio_x, ratio_y hold E, RX, RY at pixel (at_x, y - 1)
        at_x, gauss, ratio_x, ratio_y = 0, 0.0, 0.0, 0.0
        for y in range(y0, y1 + 1):
            bits = live[y - top]
            x0, x1 = spans[0, y - top], spans[1, y - top]
            if bits == 0 or x0 > x1:
                anchored = False
                continue
            if anchored:  # down a row, then along it to x0
                gauss *= ratio_y
                ratio_x *= step_xy
                ratio_y *= step_y
                while at_x < x0:
                    gauss *= ratio_x
                    ratio_y *= step_xy
                    ratio_x *= step_x
                    at_x += 1
                while at_x > x0:
                    at_x -= 1
                    ratio_x /= step_x
                    ratio_y /= step_xy
                    gauss /= ratio_x
            else:
                dx, dy = u - x0, v - y
                gauss = math.exp(-0.5 * (qa * dx * dx + qc * dy * dy) - qb * dx * dy)
                ratio_x = math.exp(qa * dx - 0.5 * qa + qb * dy)
                ratio_y = math.exp(qc * dy - 0.5 * qc + qb * dx)
                at_x, anchored = x0, True
            if bits & ((2 << (x1 - left)) - (1 << (x0 - left))) == 0:
                continue
            g, ratio = gauss, ratio_x
            for x in range(x0, x1 + 1):
                a = min(0.99, opacity * g)
                g *= ratio
                ratio *= step_x
                if (bits >> (x - left)) & 1 == 0 or a < 1.0 / 255.0:
                    continue
                p = np.uint64((y - top) * TILE + (x - left))
                t = pixels[TRANSMITTANCE + p]
                test_t = t * (1.0 - a)
                if test_t < 1e-4:  # saturated: this Gaussian is not added and the pixel is finished
                    bits ^= 1 << (x - left)
                    remaining -= 1
                    continue
                _add_to_pixel(pixels, p, rows, k, a * t, test_t)
            live[y - top] = bits
        if remaining == 0:
            return


@njit(cache=True, inline="always")
def _add_to_pixel(pixels, p, rows, k, weight, transmittance):
    """Gaussian rows[k] blended into pixel p with weight alpha T; the pixel's T becomes `transmittance`."""
    pixels[RED + p] += rows[k, R] * weight
    pixels[GREEN + p] += rows[k, G] * weight
    pixels[BLUE + p] += rows[k, B] * weight
    pixels[DEPTH + p] += rows[k, Z] * weight
    pixels[TRANSMITTANCE + p] = transmittance


@njit(cache=True)
def _composite_unbounded(rows, k, left, top, last_x, last_y, pixels, live, remaining):
    """Gaussian rows[k] whose Q is not positive definite (power may be positive, or large): every live pixel of
    the tile, exp(power) computed at each, blended as in _composite_tile; returns how many pixels remain live."""
    u, v, opacity = rows[k, U], rows[k, V], rows[k, OPACITY]
    qa, qb, qc = rows[k, QA], rows[k, QB], rows[k, QC]
    for y in range(top, last_y + 1):
        bits = live[y - top]
        dy = v - y
        for x in range(left, last_x + 1):
            if (bits >> (x - left)) & 1 == 0:
                continue
            dx = u - x
            power = -0.5 * (qa * dx * dx + qc * dy * dy) - qb * dx * dy
            if power > 0.0:
                continue
            a = min(0.99, opacity * math.exp(power))
            if a < 1.0 / 255.0:
                continue
            p = np.uint64((y - top) * TILE + (x - left))
            t = pixels[TRANSMITTANCE + p]
            test_t = t * (1.0 - a)
            if test_t < 1e-4:
                bits ^= 1 << (x - left)
                remaining -= 1
                continue
            _add_to_pixel(pixels, p, rows, k, a * t, test_t)
        live[y - top] = bits
    return remaining
