"""The demo's bust: the photo's neck, collar and shoulders as a cushion whose front, seen by the default camera,
is the person's silhouette below the head, and whose edges round off backwards as a body's do."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from scripts.demo_avatar.portrait import Portrait

STEP = 8  # camera pixels between the grid's vertices
ROW_STEP = 0.8  # grid rows are this many steps apart (sqrt(3) / 2 would make the triangles equilateral)
MARGIN = 128  # camera pixels built beyond the view's sides and bottom: a turned head brings them into view
FADE = 64  # camera pixels over which the bust fades out at those far edges
UNDER_HEAD = 2  # grid steps the bust reaches in under the head's outline, so no gap shows along it
ROUNDNESS = 0.08  # metres: the cushion's edge is a quarter circle of this radius
OUTLINE_Z = -0.09  # head space: the plane of the bust's outline (the neck's middle)
BACK = 0.8  # the back bulges this fraction as far as the front: a body's depth, the neck inside it
SHARED_RIM = 0.01  # metres: the front's rim this near the outline's plane closes onto the back


@dataclass
class Bust:
    vertices: np.ndarray  # (n, 3) head space
    front: np.ndarray  # (m, 3) triangles facing the camera
    back: np.ndarray  # (k, 3) triangles facing away, behind the front's in view
    in_view: np.ndarray  # (m,) bool: the front triangle is in the default camera's view
    opacity: np.ndarray  # (n,) 1 in and near the view, fading to 0 at the far edges
    follow: np.ndarray  # (n,) 1 under the head's outline, falling to 0 a grid step beside it: how much it turns


def build_bust(portrait: Portrait, head_outline: np.ndarray) -> Bust:
    """`head_outline`: (k, 2) camera pixels, the head's outline seen by the default camera (a closed polygon)."""
    camera = portrait.camera
    origin = np.array([-MARGIN, -MARGIN])
    size = (camera.width + 2 * MARGIN, camera.height + 2 * MARGIN)
    head = np.zeros(size[::-1], np.uint8)
    cv2.fillPoly(head, [np.round(head_outline - origin).astype(np.int32)], 1)
    under_head = cv2.distanceTransform(head, cv2.DIST_L2, 5) / (UNDER_HEAD * STEP)  # 1: as far under as it goes
    beside_head = cv2.distanceTransform(1 - head, cv2.DIST_L2, 5)
    person = portrait.person_seen(tuple(origin), size)
    # All of the person beside the head, and below the head's widest a band under its outline.
    widest = head_outline[[np.argmin(head_outline[:, 0]), np.argmax(head_outline[:, 0])], 1].max()
    below = np.arange(size[1])[:, None] > widest - origin[1]
    region = person & ((head == 0) | (under_head < 1) & below)
    metres_per_pixel = (camera.world_to_camera[2, 3].item() - OUTLINE_Z) / camera.fx  # camera looks down -z
    height = _cushion_height(person, metres_per_pixel)

    grid_pixels, triangles = _triangle_grid(region)
    rim = np.zeros(len(grid_pixels), bool)
    rim[_rim(triangles)] = True
    grid_pixels[rim] = _onto_outline(region, grid_pixels[rim])
    at = np.round(grid_pixels).astype(int).clip(0, [size[0] - 1, size[1] - 1])
    # Under the head's outline, hidden behind it, the cushion sinks to its outline's plane: inside the head.
    front = OUTLINE_Z + height[at[:, 1], at[:, 0]] * (1 - np.clip(under_head[at[:, 1], at[:, 0]], 0, 1))
    # The back shares the front's rim where that lies on the outline's plane: a closed cushion, opaque where one
    # layer of Gaussians alone would let a little background through, deep enough to hold the neck. It rounds off
    # towards the edge of the bust itself, so that where the bust meets the head it stays inside the head.
    shared = rim & (front - OUTLINE_Z < SHARED_RIM)
    back_of = np.arange(len(grid_pixels))
    back_of[~shared] = len(grid_pixels) + np.arange((~shared).sum())
    pixels = np.concatenate([grid_pixels, grid_pixels[~shared]]) + origin
    back = OUTLINE_Z - BACK * _cushion_height(region, metres_per_pixel)[at[~shared, 1], at[~shared, 0]]
    vertices = portrait.on_plane(pixels, np.concatenate([front, back]))

    beyond = np.maximum.reduce([-pixels[:, 0], pixels[:, 0] - (camera.width - 1), pixels[:, 1] - (camera.height - 1),
                                np.zeros(len(pixels))])
    opacity = np.clip(1 - (beyond - (MARGIN - FADE)) / FADE, 0, 1)
    corners = pixels[triangles]  # (m, 3, 2)
    in_view = ((corners >= 0) & (corners <= [camera.width - 1, camera.height - 1])).all(axis=2).any(axis=1)
    follow = np.clip(1 - beside_head[at[:, 1], at[:, 0]] / STEP, 0, 1)
    return Bust(vertices, triangles, back_of[triangles[in_view]][:, [0, 2, 1]], in_view, opacity,
                np.concatenate([follow, follow[~shared]]))


def _cushion_height(person: np.ndarray, metres_per_pixel: float) -> np.ndarray:
    """(h, w) metres in front of the outline's plane: a quarter circle of ROUNDNESS in from the silhouette, flat
    beyond. Under the head and where the grid is cut (beyond the margins) the body goes on: no outline there."""
    pad = int(ROUNDNESS / metres_per_pixel) + 1
    inside = cv2.distanceTransform(np.pad(person, pad, mode="edge").astype(np.uint8), cv2.DIST_L2, 5)
    inward = np.minimum(inside[pad:-pad, pad:-pad] * metres_per_pixel, ROUNDNESS)
    return np.sqrt(ROUNDNESS**2 - (ROUNDNESS - inward) ** 2)


def _onto_outline(region: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    """(n, 2) pixels inside `region` (h, w) moved straight out onto its outline: the grid's rim, which would
    otherwise show the grid's steps, follows the silhouette."""
    distance = cv2.distanceTransform(np.pad(region, 1).astype(np.uint8), cv2.DIST_L2, 5)[1:-1, 1:-1]
    down, right = np.gradient(cv2.GaussianBlur(distance, (0, 0), STEP / 4))
    at = np.round(pixels).astype(int)
    inward = np.stack([right[at[:, 1], at[:, 0]], down[at[:, 1], at[:, 0]]], 1)
    inward /= np.maximum(np.linalg.norm(inward, axis=1, keepdims=True), 1e-9)
    return pixels - inward * (distance[at[:, 1], at[:, 0]] - 0.5)[:, None]


def _triangle_grid(region: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (n, 2) x, y of a grid of near-equilateral triangles STEP pixels apart inside `region` (h, w), and
    its triangles (m, 3): even rows at whole steps, odd rows half a step along. Such triangles are covered evenly by
    their Gaussians, as the face's are (a square grid's halves leave gaps); not exactly equilateral, so that no
    Gaussian is round (a round one's axes have no order to keep from frame to frame: a GEM's rotations need one)."""
    rows = np.arange(0, region.shape[0], STEP * ROW_STEP)
    cols = np.arange(0, region.shape[1] - STEP / 2, STEP)
    x = cols[None, :] + (np.arange(len(rows)) % 2 * STEP / 2)[:, None]
    y = np.broadcast_to(rows[:, None], x.shape)
    on_grid = region[np.round(y).astype(int), np.round(x).astype(int)]
    index = np.full(on_grid.shape, -1)
    index[on_grid] = np.arange(on_grid.sum())
    here, right = index[:-1, :-1], index[:-1, 1:]
    below, below_right = index[1:, :-1], index[1:, 1:]
    even = (np.arange(len(rows) - 1) % 2 == 0)[:, None]
    # From an even row the next row's vertex lies between `here` and `right`; from an odd row, below `here`.
    first = np.where(even[..., None], np.stack([here, right, below], -1), np.stack([here, below, below_right], -1))
    second = np.where(even[..., None], np.stack([right, below_right, below], -1),
                      np.stack([here, below_right, right], -1))
    triangles = np.concatenate([first.reshape(-1, 3), second.reshape(-1, 3)])
    return np.stack([x[on_grid], y[on_grid]], 1), triangles[(triangles >= 0).all(axis=1)]


def _rim(triangles: np.ndarray) -> np.ndarray:
    """Ids of the vertices on the mesh's border: on an edge of one triangle only."""
    edges = np.sort(np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]]), axis=1)
    unique, count = np.unique(edges, axis=0, return_counts=True)
    return np.unique(unique[count == 1])
