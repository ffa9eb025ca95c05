"""The demo's expression blendshapes: each moves a few face landmarks (handles) and lets the face around them
follow smoothly (a harmonic field on the mesh), with the face beyond a radius and some pinned landmarks still."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scripts.demo_avatar import mesh
from scripts.demo_avatar.face import BROWS, LOWER_INNER_LIP, LOWER_LID, LOWER_OUTER_LIP, UPPER_INNER_LIP, \
    UPPER_LID, UPPER_OUTER_LIP, Face

INNER_LIPS = sorted(set(UPPER_INNER_LIP + LOWER_INNER_LIP))
LIPS = sorted(set(INNER_LIPS + UPPER_OUTER_LIP + LOWER_OUTER_LIP))
NOSE = [1, 2, 4, 5, 6, 19, 94, 195, 197, 168, 98, 327]
CHIN = [152, 175, 199, 200]
RIGHT_CHEEK = [50, 101, 36, 205, 187, 123, 117, 118, 119, 100, 142, 203, 206, 207, 216, 147, 213, 192]


@dataclass
class Expression:
    """Displacements (metres) of landmark groups at coefficient 1; `mirrored` repeats every group on the
    subject's left (x negated), so symmetric expressions are written for the right side only."""

    handles: list[tuple[list[int], tuple[float, float, float]]]
    pinned: list[int]
    radius: float
    mirrored: bool = True


def _blink(face: Face, side: str) -> Expression:
    """Upper lid down to a line 15% above the lower lid; lids stay a little in front of the eyeball."""
    handles = []
    for up, low in zip(UPPER_LID[side][1:-1], LOWER_LID[side][1:-1]):
        closed = face.points[low] + 0.15 * (face.points[up] - face.points[low])
        handles.append(([up], tuple(closed - face.points[up] + [0.0, 0.0, 0.0015])))
        handles.append(([low], tuple(closed - face.points[low])))
    return Expression(handles, pinned=list(UPPER_LID[side][::8]) + BROWS[side], radius=0.025, mirrored=False)


def expressions(face: Face) -> dict[str, Expression]:
    lip_points = face.points[LIPS]
    mouth_middle = face.points[INNER_LIPS, 1].mean()
    return {
        "smile": Expression(
            [([61, 78], (-0.007, 0.006, -0.004)), ([205, 36, 50, 187], (-0.001, 0.004, 0.002)),
             ([145, 144, 153], (0.0, 0.0012, 0.0))],
            pinned=NOSE + CHIN, radius=0.045),
        "frown": Expression(
            [([107, 55, 66, 65], (0.004, -0.007, 0.001)), ([105, 52], (0.001, -0.004, 0.0)),
             ([61, 78], (0.0, -0.004, 0.0))],
            pinned=UPPER_LID["right"] + UPPER_LID["left"] + NOSE, radius=0.04),
        "brow_raise": Expression(
            [(BROWS["right"], (0.0, 0.008, 0.001))],
            pinned=UPPER_LID["right"] + UPPER_LID["left"], radius=0.045),
        "blink_left": _blink(face, "left"),
        "blink_right": _blink(face, "right"),
        "pucker": Expression(  # lips pushed forward, gathered towards the middle and closed
            [([i], (-0.35 * p[0], -0.6 * (p[1] - mouth_middle) * (i in INNER_LIPS), 0.007))
             for i, p in zip(LIPS, lip_points)],
            pinned=NOSE + CHIN, radius=0.035, mirrored=False),
        "cheek_puff": Expression(
            [(RIGHT_CHEEK, (-0.008, 0.0, 0.003))],
            pinned=LIPS + NOSE + LOWER_LID["right"] + LOWER_LID["left"], radius=0.05),
        "mouth_left": Expression([(LIPS, (0.008, 0.0, 0.0))], pinned=NOSE, radius=0.035, mirrored=False),
        "mouth_right": Expression([(LIPS, (-0.008, 0.0, 0.0))], pinned=NOSE, radius=0.035, mirrored=False),
    }


def blendshape(face: Face, expression: Expression) -> np.ndarray:
    """(468, 3) displacement of every face vertex at coefficient 1."""
    points = face.points[:468]
    handles: dict[int, np.ndarray] = {}
    for ids, offset in expression.handles:
        for i in ids:
            handles[i] = np.array(offset)
            if expression.mirrored:
                handles[face.mirror[i]] = np.array(offset) * [-1.0, 1.0, 1.0]
    moving = np.array(sorted(handles))
    distance = np.linalg.norm(points[:, None] - points[None, moving], axis=-1).min(axis=1)
    still = set(np.flatnonzero(distance > expression.radius)) | (set(expression.pinned) - set(handles))
    fixed = np.array(sorted(set(handles) | still))
    values = np.array([handles.get(i, np.zeros(3)) for i in fixed])
    return mesh.harmonic(468, face.triangles, fixed, values)
