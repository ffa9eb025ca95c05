"""Face measures from MediaPipe's 478 landmarks, with no head model: how open the mouth and each eye are, how
high each brow sits, and how the head is turned. They compare a driver's face with the avatar's rendered face
(bench/bench_transfer.py, the tests of expression transfer), so they use nothing the tracker fits.

Lengths are 3D distances between landmarks (MediaPipe's z shares x's scale), so a head turn does not shorten
them; each is divided by a length that expressions do not change: the spread of the rigid points (forehead,
nose bridge, eye corners, cheekbones), or the eye's width. Left and right are the subject's.
"""
from __future__ import annotations

import numpy as np

# Points that expressions hardly move: forehead, nose bridge and tip, eye corners, cheekbones and temples.
RIGID = [10, 151, 9, 8, 168, 6, 197, 195, 5, 4, 33, 133, 263, 362, 234, 454, 127, 356, 116, 345]
INNER_LIP_PAIRS = [(13, 14), (82, 87), (312, 317)]  # upper, lower
MOUTH_CORNERS = (61, 291)
EYES = {  # (outer corner, inner corner), then (upper lid, lower lid) pairs across the opening
    "right": ((33, 133), [(159, 145), (158, 153), (160, 144)]),
    "left": ((263, 362), [(386, 374), (385, 380), (387, 373)]),
}
BROWS = {"right": [70, 63, 105, 66, 107], "left": [300, 293, 334, 296, 336]}  # upper edge, outer to inner
MEASURES = ("mouth_open", "mouth_width", "eye_right", "eye_left", "brow_right", "brow_left", "yaw", "pitch", "roll")
MAX_LAG = 6  # frames either way, where `correlation` looks for its peak


def face_size(points: np.ndarray) -> float:
    """The rigid points' RMS distance from their centroid: the face's scale, which expressions leave alone."""
    rigid = points[RIGID]
    return float(np.sqrt(((rigid - rigid.mean(axis=0)) ** 2).sum(axis=1).mean()))


def expression_measures(points: np.ndarray) -> dict[str, float]:
    """(478, 3) landmarks (pixels) -> mouth opening and width, each eye's opening (lid gap over eye width), each
    brow's height above its eye's corners (over the face's size)."""
    def distance(a, b):
        return float(np.linalg.norm(points[a] - points[b]))

    size = face_size(points)
    measures = {
        "mouth_open": np.mean([distance(a, b) for a, b in INNER_LIP_PAIRS]) / size,
        "mouth_width": distance(*MOUTH_CORNERS) / size,
    }
    for side, (corners, lids) in EYES.items():
        measures[f"eye_{side}"] = np.mean([distance(a, b) for a, b in lids]) / distance(*corners)
        eye = points[list(corners)].mean(axis=0)
        measures[f"brow_{side}"] = float(np.linalg.norm(points[BROWS[side]].mean(axis=0) - eye)) / size
    return {name: float(value) for name, value in measures.items()}


def head_rotation(points: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """(3, 3) rotation taking the reference face's rigid points onto these (Kabsch, after centring and scaling)."""
    a, b = (p[RIGID] - p[RIGID].mean(axis=0) for p in (reference, points))
    u, _, vt = np.linalg.svd(a.T @ b)
    d = np.sign(np.linalg.det(u @ vt))
    return (u @ np.diag([1.0, 1.0, d]) @ vt).T


def yaw_pitch_roll(rotation: np.ndarray) -> tuple[float, float, float]:
    """Degrees about the image's vertical, horizontal and viewing axes (R = Rz(roll) Ry(yaw) Rx(pitch))."""
    yaw = np.degrees(np.arcsin(np.clip(-rotation[2, 0], -1.0, 1.0)))
    pitch = np.degrees(np.arctan2(rotation[2, 1], rotation[2, 2]))
    roll = np.degrees(np.arctan2(rotation[1, 0], rotation[0, 0]))
    return float(yaw), float(pitch), float(roll)


def measure_sequence(faces: list[np.ndarray | None]) -> dict[str, np.ndarray]:
    """One (478, 3) landmark array per frame, or None where no face was found -> each measure over time (nan
    where there is no face); the head's angles are relative to the first frame with a face."""
    series = {name: np.full(len(faces), np.nan) for name in MEASURES}
    reference = next((face for face in faces if face is not None), None)
    for index, face in enumerate(faces):
        if face is None:
            continue
        face = np.asarray(face, np.float64)
        for name, value in expression_measures(face).items():
            series[name][index] = value
        angles = yaw_pitch_roll(head_rotation(face, reference))
        for name, value in zip(("yaw", "pitch", "roll"), angles):
            series[name][index] = value
    return series


def detect_faces(frames) -> list[np.ndarray | None]:
    """MediaPipe's landmarks of the one face in each (H, W, 3) uint8 RGB frame (None where there is none, or the
    frame is None), as a video is tracked."""
    from tracking.face_mesh import FaceMeshDetector

    faces = []
    with FaceMeshDetector(static_images=False, max_faces=1) as detector:
        for image in frames:
            found = detector.detect(image) if image is not None else []
            faces.append(found[0] if found else None)
    return faces


def correlation(a: np.ndarray, b: np.ndarray) -> tuple[float, int]:
    """Pearson r of two series at zero lag (over the frames where both have a value; nan if either is constant
    there or fewer than 10 are), and the lag within MAX_LAG where r peaks (b later than a is positive)."""
    def r_at(lag: int) -> float:
        x, y = (a[: len(a) - lag], b[lag:]) if lag >= 0 else (a[-lag:], b[: len(b) + lag])
        keep = np.isfinite(x) & np.isfinite(y)
        if keep.sum() < 10 or np.std(x[keep]) == 0 or np.std(y[keep]) == 0:
            return float("nan")
        return float(np.corrcoef(x[keep], y[keep])[0, 1])

    lags = {lag: r_at(lag) for lag in range(-MAX_LAG, MAX_LAG + 1)}
    finite = {lag: r for lag, r in lags.items() if np.isfinite(r)}
    return lags[0], (max(finite, key=finite.get) if finite else 0)
