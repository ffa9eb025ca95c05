"""FLAME with teeth, as GaussianAvatars builds it (`FlameHead.add_teeth`): 120 vertices in 8 rows of 15 behind the
lips, built from the template's outer lip rings, riding the neck (upper teeth) or the jaw (lower), and their
triangles appended after FLAME's own. The vertex lists and triangle tables are facts of the format, as the
original's `flame_model/flame.py` has them (docs: ../shared/specs/gaussianavatars.md)."""
from __future__ import annotations

from dataclasses import replace

import torch

from models.head_model import HeadModel
from models.params import JAW, NECK

LIP_OUTSIDE_RING_UPPER = (1713, 1715, 1716, 1735, 1696, 1694, 1657, 3543, 2774, 2811, 2813, 2850, 2833, 2832, 2830)
LIP_OUTSIDE_RING_LOWER = (1576, 1577, 1773, 1774, 1795, 1802, 1865, 3503, 2948, 2905, 2898, 2881, 2880, 2713, 2712)
RING = 15
# The 8 rows, in the order they are appended: upper root, lower root, upper edge, lower edge, upper root back,
# upper edge back, lower root back, lower edge back.
UPPER_ROWS, LOWER_ROWS = (0, 2, 4, 5), (1, 3, 6, 7)
# Triangles over the teeth vertices (0-119), upper then lower, as the original lists them.
TEETH_FACES_UPPER = (
    (0, 31, 30), (0, 1, 31), (1, 32, 31), (1, 2, 32), (2, 33, 32), (2, 3, 33), (3, 34, 33), (3, 4, 34), (4, 35, 34),
    (4, 5, 35), (5, 36, 35), (5, 6, 36), (6, 37, 36), (6, 7, 37), (7, 8, 37), (8, 38, 37), (8, 9, 38), (9, 39, 38),
    (9, 10, 39), (10, 40, 39), (10, 11, 40), (11, 41, 40), (11, 12, 41), (12, 42, 41), (12, 13, 42), (13, 43, 42),
    (13, 14, 43), (14, 44, 43),
    (60, 75, 76), (60, 76, 61), (61, 76, 77), (61, 77, 62), (62, 77, 78), (62, 78, 63), (63, 78, 79), (63, 79, 64),
    (64, 79, 80), (64, 80, 65), (65, 80, 81), (65, 81, 66), (66, 81, 82), (66, 82, 67), (67, 82, 68), (68, 82, 83),
    (68, 83, 69), (69, 83, 84), (69, 84, 70), (70, 84, 85), (70, 85, 71), (71, 85, 86), (71, 86, 72), (72, 86, 87),
    (72, 87, 73), (73, 87, 88), (73, 88, 74), (74, 88, 89),
    (75, 30, 76), (76, 30, 31), (76, 31, 77), (77, 31, 32), (77, 32, 78), (78, 32, 33), (78, 33, 79), (79, 33, 34),
    (79, 34, 80), (80, 34, 35), (80, 35, 81), (81, 35, 36), (81, 36, 82), (82, 36, 37), (82, 37, 38), (82, 38, 83),
    (83, 38, 39), (83, 39, 84), (84, 39, 40), (84, 40, 85), (85, 40, 41), (85, 41, 86), (86, 41, 42), (86, 42, 87),
    (87, 42, 43), (87, 43, 88), (88, 43, 44), (88, 44, 89),
)
TEETH_FACES_LOWER = (
    (45, 46, 15), (46, 16, 15), (46, 47, 16), (47, 17, 16), (47, 48, 17), (48, 18, 17), (48, 49, 18), (49, 19, 18),
    (49, 50, 19), (50, 20, 19), (50, 51, 20), (51, 21, 20), (51, 52, 21), (52, 22, 21), (52, 23, 22), (52, 53, 23),
    (53, 24, 23), (53, 54, 24), (54, 25, 24), (54, 55, 25), (55, 26, 25), (55, 56, 26), (56, 27, 26), (56, 57, 27),
    (57, 28, 27), (57, 58, 28), (58, 29, 28), (58, 59, 29),
    (90, 106, 105), (90, 91, 106), (91, 107, 106), (91, 92, 107), (92, 108, 107), (92, 93, 108), (93, 109, 108),
    (93, 94, 109), (94, 110, 109), (94, 95, 110), (95, 111, 110), (95, 96, 111), (96, 112, 111), (96, 97, 112),
    (97, 98, 112), (98, 113, 112), (98, 99, 113), (99, 114, 113), (99, 100, 114), (100, 115, 114), (100, 101, 115),
    (101, 116, 115), (101, 102, 116), (102, 117, 116), (102, 103, 117), (103, 118, 117), (103, 104, 118),
    (104, 119, 118),
    (105, 106, 45), (106, 46, 45), (106, 107, 46), (107, 47, 46), (107, 108, 47), (108, 48, 47), (108, 109, 48),
    (109, 49, 48), (109, 110, 49), (110, 50, 49), (110, 111, 50), (111, 51, 50), (111, 112, 51), (112, 52, 51),
    (112, 53, 52), (112, 113, 53), (113, 54, 53), (113, 114, 54), (114, 55, 54), (114, 115, 55), (115, 56, 55),
    (115, 116, 56), (116, 57, 56), (116, 117, 57), (117, 58, 57), (117, 118, 58), (118, 59, 58), (118, 119, 59),
)


def with_teeth(head: HeadModel) -> HeadModel:
    """`head` (FLAME, 5 joints) with GaussianAvatars' teeth: 8 x 15 vertices appended and their triangles after
    FLAME's. Shape directions: the mean of the two lip rings'; expression directions, pose correctives and
    joint-regressor columns zero; skinned to the neck (upper) or the jaw (lower)."""
    upper, lower = head.v_template[list(LIP_OUTSIDE_RING_UPPER)], head.v_template[list(LIP_OUTSIDE_RING_LOWER)]
    d = (upper - lower).norm(dim=-1).mean()
    up, forward = upper.new_tensor([0.0, 1.0, 0.0]) * d, upper.new_tensor([0.0, 0.0, 1.0]) * d
    middle = (upper + lower) / 2
    middle[:, 1] = middle[:, 1].mean()
    middle = middle - 1.5 * forward
    upper_edge, lower_edge = middle + 0.1 * up, middle - 0.1 * up - 0.4 * forward
    upper_root, lower_root = upper_edge + 2 * up, lower_edge - 2 * up
    rows = [upper_root, lower_root, upper_edge, lower_edge, upper_root - forward, upper_edge - forward,
            lower_root - forward, lower_edge - forward]
    teeth = len(rows) * RING
    ring_shape = (head.shapedirs[list(LIP_OUTSIDE_RING_UPPER)] + head.shapedirs[list(LIP_OUTSIDE_RING_LOWER)]) / 2
    weights = head.lbs_weights.new_zeros(teeth, head.lbs_weights.shape[1])
    for row in range(len(rows)):
        weights[row * RING:(row + 1) * RING, NECK if row in UPPER_ROWS else JAW] = 1.0
    num_vertices = head.v_template.shape[0]
    posedirs = head.posedirs.reshape(head.posedirs.shape[0], num_vertices, 3)
    faces = torch.tensor(TEETH_FACES_UPPER + TEETH_FACES_LOWER, dtype=head.faces.dtype) + num_vertices
    return replace(
        head,
        v_template=torch.cat([head.v_template, *rows]),
        shapedirs=torch.cat([head.shapedirs, ring_shape.repeat(len(rows), 1, 1)]),
        exprdirs=torch.cat([head.exprdirs, head.exprdirs.new_zeros(teeth, 3, head.num_expressions)]),
        posedirs=torch.cat([posedirs, posedirs.new_zeros(posedirs.shape[0], teeth, 3)], dim=1).reshape(
            posedirs.shape[0], -1),
        joint_regressor=torch.cat([head.joint_regressor, head.joint_regressor.new_zeros(
            head.joint_regressor.shape[0], teeth)], dim=1),
        lbs_weights=torch.cat([head.lbs_weights, weights]),
        faces=torch.cat([head.faces, faces]),
    )
