"""Small mesh tools for building the demo head: strips between vertex rows and harmonic fields."""
from __future__ import annotations

import numpy as np
import scipy.sparse
import scipy.sparse.linalg


def strip(row_a: list[int], row_b: list[int], closed: bool = False) -> list[tuple[int, int, int]]:
    """Triangles joining two rows of vertices of equal length (row b beside row a, same direction)."""
    count = len(row_a) if closed else len(row_a) - 1
    triangles = []
    for i in range(count):
        j = (i + 1) % len(row_a)
        triangles += [(row_a[i], row_b[i], row_a[j]), (row_a[j], row_b[i], row_b[j])]
    return triangles


def fan(ring: list[int], centre: int) -> list[tuple[int, int, int]]:
    """Triangles joining a closed ring of vertices to one centre vertex."""
    return [(ring[i], ring[(i + 1) % len(ring)], centre) for i in range(len(ring))]


def merge_rings(ring_a: list[int], angles_a: np.ndarray, ring_b: list[int], angles_b: np.ndarray):
    """Triangles joining two closed rings with different vertex counts, walking both in angle order."""
    order_a, order_b = np.argsort(angles_a), np.argsort(angles_b)
    a, b = [ring_a[i] for i in order_a], [ring_b[i] for i in order_b]
    ta, tb = np.sort(angles_a), np.sort(angles_b)
    triangles, i, j = [], 0, 0
    while i < len(a) or j < len(b):
        next_a = ta[(i + 1) % len(a)] + (2 * np.pi if i + 1 >= len(a) else 0)
        next_b = tb[(j + 1) % len(b)] + (2 * np.pi if j + 1 >= len(b) else 0)
        if j >= len(b) or (i < len(a) and next_a <= next_b):
            triangles.append((a[i % len(a)], b[j % len(b)], a[(i + 1) % len(a)]))
            i += 1
        else:
            triangles.append((a[i % len(a)], b[j % len(b)], b[(j + 1) % len(b)]))
            j += 1
    return triangles


def harmonic(num_vertices: int, triangles: np.ndarray, fixed: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Values on every vertex, equal to `values` (K, D) at the `fixed` (K,) vertices, and elsewhere the
    average of their mesh neighbours (a smooth interpolation: the uniform-Laplacian Dirichlet problem).
    Vertices not connected to any fixed vertex get zero."""
    edges = np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]])
    edges = np.unique(np.sort(edges, axis=1), axis=0)
    rows, cols = np.concatenate([edges[:, 0], edges[:, 1]]), np.concatenate([edges[:, 1], edges[:, 0]])
    adjacency = scipy.sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(num_vertices, num_vertices))
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    laplacian = (scipy.sparse.diags(degree) - adjacency).tocsr()

    result = np.zeros((num_vertices, values.shape[1]))
    result[fixed] = values
    is_free = np.ones(num_vertices, bool)
    is_free[fixed] = False
    is_free &= degree > 0
    free = np.flatnonzero(is_free)
    system = laplacian[free][:, free] + scipy.sparse.identity(len(free)) * 1e-9  # isolated islands stay solvable
    rhs = -(laplacian[free][:, fixed] @ values)
    result[free] = scipy.sparse.linalg.spsolve(system.tocsc(), rhs).reshape(len(free), -1)
    return result
