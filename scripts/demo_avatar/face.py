"""The demo's face: mediapipe landmarks of a photo, turned into a frontal, metric, symmetric 3D face mesh."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from tracking.face_mesh import FaceMeshDetector, face_mesh_triangles

# Landmark indices in mediapipe's face mesh (left/right are the subject's).
EYE_CORNERS = {"right": (33, 133), "left": (263, 362)}  # (outer, inner)
UPPER_LID = {"right": [133, 173, 157, 158, 159, 160, 161, 246, 33], "left": [362, 398, 384, 385, 386, 387, 388, 466, 263]}
LOWER_LID = {"right": [133, 155, 154, 153, 145, 144, 163, 7, 33], "left": [362, 382, 381, 380, 374, 373, 390, 249, 263]}
IRIS = {"right": [468, 469, 470, 471, 472], "left": [473, 474, 475, 476, 477]}  # centre first
UPPER_INNER_LIP = [78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308]
LOWER_INNER_LIP = [78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308]
UPPER_OUTER_LIP = [61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291]
LOWER_OUTER_LIP = [61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291]
# The openings as closed loops of landmarks (upper edge from the inner corner, then the lower edge back).
EYE_OPENING = {side: UPPER_LID[side] + LOWER_LID[side][-2:0:-1] for side in ("right", "left")}
MOUTH_OPENING = UPPER_INNER_LIP + LOWER_INNER_LIP[-2:0:-1]
MOUTH_CORNERS = (61, 291)  # right, left
BROWS = {"right": [70, 63, 105, 66, 107, 46, 53, 52, 65, 55], "left": [300, 293, 334, 296, 336, 276, 283, 282, 295, 285]}
FACE_OVAL = [10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152,
             148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109]
FOREHEAD, NOSE_TIP, CHIN = 10, 1, 152
MIRROR_PAIRS = [(33, 263), (133, 362), (61, 291), (234, 454), (468, 473), (70, 300), (58, 288)]

INTERPUPILLARY_DISTANCE = 0.063  # metres, an adult average: sets the demo's scale


@dataclass
class Face:
    points: np.ndarray  # (478, 3) metres, head frame: x to the subject's left, y up, z out of the face
    pixels: np.ndarray  # (478, 2) where each landmark is in the photo
    triangles: np.ndarray  # (852, 3) outward-facing
    mirror: np.ndarray  # (478,) index of each landmark's mirror image across the face's mid-plane


def face_from_photo(photo: np.ndarray) -> Face:
    """Landmarks of the one face in `photo`, rotated to face +z, scaled to metres and made symmetric."""
    with FaceMeshDetector(static_images=True) as detector:
        faces = detector.detect(photo)
    if len(faces) != 1:
        raise RuntimeError(f"expected one face in the photo, found {len(faces)}")
    landmarks = faces[0].astype(np.float64)
    points = landmarks * np.array([1.0, -1.0, -1.0])  # image axes (x right, y down, z away) -> head axes
    points = _frontal(points)
    points *= INTERPUPILLARY_DISTANCE / np.linalg.norm(points[IRIS["left"][0]] - points[IRIS["right"][0]])
    mirror = _mirror_indices(points)
    points = (points + points[mirror] * np.array([-1.0, 1.0, 1.0])) / 2  # symmetric: a cleaner demo rig
    triangles = face_mesh_triangles()
    return Face(points, landmarks[:, :2], _outward(points, triangles), mirror)


def _frontal(points: np.ndarray) -> np.ndarray:
    """Rotate so mirrored landmark pairs lie along x and the chin-forehead line along y; centre between the eyes."""
    x_axis = sum(points[b] - points[a] for a, b in MIRROR_PAIRS)
    x_axis /= np.linalg.norm(x_axis)
    y_axis = points[FOREHEAD] - points[CHIN]
    y_axis -= x_axis * (y_axis @ x_axis)
    y_axis /= np.linalg.norm(y_axis)
    rotation = np.stack([x_axis, y_axis, np.cross(x_axis, y_axis)])
    centre = (points[IRIS["left"][0]] + points[IRIS["right"][0]]) / 2
    return (points - centre) @ rotation.T


def _mirror_indices(points: np.ndarray) -> np.ndarray:
    """Each landmark's partner across x = 0. Mediapipe's mesh is symmetric, so the one-to-one matching of the
    points to their mirror images that moves them least recovers it (an involution, midline points fixed)."""
    mirrored = points * np.array([-1.0, 1.0, 1.0])
    mirror = np.empty(len(points), np.int64)
    for group in (np.arange(468), np.arange(468, 478)):  # irises pair among themselves
        distances = np.linalg.norm(points[group, None] - mirrored[None, group], axis=-1)
        rows, cols = linear_sum_assignment(distances)
        mirror[group[rows]] = group[cols]
    return mirror


def _outward(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Wind every triangle so that its normal points away from a point well behind the face."""
    a, b, c = (points[triangles[:, i]] for i in range(3))
    normals = np.cross(b - a, c - a)
    inside = np.array([0.0, 0.0, -0.08])
    flip = np.einsum("ij,ij->i", normals, (a + b + c) / 3 - inside) < 0
    triangles = triangles.copy()
    triangles[flip] = triangles[flip][:, [0, 2, 1]]
    return triangles
