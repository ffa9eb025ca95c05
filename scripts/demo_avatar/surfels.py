"""Gaussians that cover a triangle mesh: each triangle cut into k x k equal sub-triangles, one flat Gaussian
per sub-triangle, shaped like it, so a mesh of any triangle sizes and shapes is covered evenly."""
from __future__ import annotations

import numpy as np

SPREAD = 4.0  # Gaussian covariance = SPREAD x the sub-triangle's own: neighbours overlap into an opaque skin
THICKNESS = 0.15  # standard deviation across the surface, as a fraction of the spacing


def surfels(vertices: np.ndarray, triangles: np.ndarray, spacing: np.ndarray):
    """vertices (V, 3), triangles (F, 3), spacing (F,) target distance between Gaussians per triangle ->
    face_ids (N,), bary (N, 3) barycentric position in the triangle, covars (N, 3, 3).
    Degenerate (zero-area) triangles get none."""
    a, b, c = (vertices[triangles[:, i]] for i in range(3))
    area = np.linalg.norm(np.cross(b - a, c - a), axis=1) / 2
    cuts = np.where(area > 1e-10, np.maximum(1, np.round(np.sqrt(2 * area) / spacing)), 0).astype(int)
    face_ids, bary, covars = [], [], []
    for k in np.unique(cuts[cuts > 0]):
        faces = np.flatnonzero(cuts == k)
        u, v = _sub_triangle_centres(k)  # (m,) each: position along edges a->b and a->c
        face_ids.append(np.repeat(faces, len(u)))
        bary.append(np.tile(np.stack([1 - u - v, u, v], 1), (len(faces), 1)))
        covars.append(np.repeat(_covariance(a[faces], b[faces], c[faces], k, spacing[faces]), len(u), axis=0))
    return np.concatenate(face_ids), np.concatenate(bary), np.concatenate(covars)


def _sub_triangle_centres(k: int) -> tuple[np.ndarray, np.ndarray]:
    i, j = np.meshgrid(np.arange(k), np.arange(k), indexing="ij")
    upright = i + j <= k - 1
    inverted = i + j <= k - 2
    u = np.concatenate([i[upright] + 1 / 3, i[inverted] + 2 / 3]) / k
    v = np.concatenate([j[upright] + 1 / 3, j[inverted] + 2 / 3]) / k
    return u, v


def _covariance(a, b, c, k, spacing):
    """(n, 3, 3): SPREAD x the covariance of a uniform sub-triangle (1/12 sum of its corners' outer products
    about the centroid; inverted sub-triangles are congruent), plus a thin extent along the normal."""
    corners = np.stack([a, b, c], 1) / k  # (n, 3, 3) a sub-triangle's corners, up to translation
    centred = corners - corners.mean(axis=1, keepdims=True)
    in_plane = np.einsum("nki,nkj->nij", centred, centred) / 12
    normal = np.cross(b - a, c - a)
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    across = (THICKNESS * spacing)[:, None, None] ** 2 * np.einsum("ni,nj->nij", normal, normal)
    return SPREAD * in_plane + across

