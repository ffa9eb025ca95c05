"""MediaPipe face mesh -> the 68 iBUG 300-W (dlib) landmarks that FLAME's landmark embedding is fitted to.

The 68-point markup (iBUG 300-W, the Multi-PIE layout dlib uses), 0-based. "Right" and "left" are the
subject's: in a photo that is not mirrored the subject's right is on the image's left.

    0-16   jaw contour, from the right side at the level of the eye corners, down to the chin (8), up to the left
    17-21  right brow, outer end -> inner end, along its upper edge
    22-26  left brow, inner end -> outer end, along its upper edge
    27-30  nose bridge, from between the eyes (nasion) down to the tip (pronasale, 30)
    31-35  lower nose: right nostril's outer edge, right nostril, subnasale (33), left nostril, left nostril's edge
    36-41  right eye: outer corner, upper lid at 1/3 and 2/3, inner corner (39), lower lid at 2/3 and 1/3
    42-47  left eye: inner corner, upper lid at 1/3 and 2/3, outer corner (45), lower lid at 2/3 and 1/3
    48-59  outer lip: right corner, upper lip over the Cupid's bow (51 its centre) to the left corner (54), then
           back along the lower lip (57 its centre)
    60-67  inner lip: right corner, upper inner lip 61-63 (62 centre), left corner 64, lower inner lip 65-67 (66 centre)

Each iBUG point is one MediaPipe vertex, or the mean of two neighbours on a contour where the iBUG point falls
between them. The table was derived from MediaPipe's own topology: the contours of `face_mesh_connections`
(FACEMESH_FACE_OVAL, _LIPS, _RIGHT_EYE/_LEFT_EYE, _RIGHT_EYEBROW/_LEFT_EYEBROW; MediaPipe's "right" is the
subject's right too) were ordered and sampled at the iBUG points' relative arc-length positions on a frontal face
(scikit-image's astronaut); the midline points come from depth (nasion: the deepest bridge point between the
eyes; nose tip: the nearest) and the nose base from the mesh around the nostrils. The table is mirror symmetric:
every right-side entry's mirror vertices make up the matching left-side entry.

`scripts/draw_ibug68.py` draws the result for checking by eye; `tests/test_ibug68.py` checks its structure.
"""
from __future__ import annotations

import numpy as np

MEDIAPIPE_TO_IBUG68: tuple[tuple[int, ...], ...] = (
    # 0-16 jaw: FACEMESH_FACE_OVAL from 127 (eye-corner level, right) through the chin 152 to 356, even arc steps
    (127,), (234, 93), (93, 132), (58,), (172,), (136, 150), (149,), (176, 148), (152,),
    (377, 400), (378,), (379, 365), (397,), (288,), (361, 323), (323, 454), (356,),
    # 17-21 right brow, outer -> inner, along the upper edge of FACEMESH_RIGHT_EYEBROW
    (70,), (63,), (105, 66), (66,), (107,),
    # 22-26 left brow, inner -> outer, along the upper edge of FACEMESH_LEFT_EYEBROW
    (336,), (296,), (296, 334), (293,), (300,),
    # 27-30 nose bridge: nasion 168 down the midline to the tip 4
    (168,), (6, 197), (195, 5), (4,),
    # 31-35 lower nose: right nostril edge, right nostril rim, subnasale 2, left nostril rim, left nostril edge
    (60,), (20,), (2,), (250,), (290,),
    # 36-41 right eye (FACEMESH_RIGHT_EYE): outer 33, upper lid, inner 133, lower lid
    (33,), (160, 159), (158, 157), (133,), (153,), (144,),
    # 42-47 left eye (FACEMESH_LEFT_EYE): inner 362, upper lid, outer 263, lower lid
    (362,), (384, 385), (386, 387), (263,), (373,), (380,),
    # 48-59 outer lip (FACEMESH_LIPS outer ring): right corner 61, upper lip, left corner 291, lower lip
    (61,), (40, 39), (37,), (0,), (267,), (269, 270), (291,), (321, 405), (314,), (17,), (84,), (181, 91),
    # 60-67 inner lip (FACEMESH_LIPS inner ring): right corner 78, upper inner, left corner 308, lower inner
    (78,), (82,), (13,), (312,), (308,), (317,), (14,), (87,),
)

JAW_CONTOUR = slice(0, 17)

_INDEX = np.array([entry * (2 // len(entry)) for entry in MEDIAPIPE_TO_IBUG68], np.int64)  # (68, 2): singles twice


def ibug68_from_mediapipe(points: np.ndarray) -> np.ndarray:
    """(478 or 468, D) MediaPipe face-mesh landmarks -> (68, D) iBUG landmarks, in the same coordinates."""
    points = np.asarray(points)
    if points.ndim != 2 or points.shape[0] not in (468, 478):
        raise ValueError(f"expected (468, D) or (478, D) MediaPipe landmarks, got shape {points.shape}")
    return points[_INDEX].mean(axis=1, dtype=np.float64).astype(np.result_type(points.dtype, np.float32))
