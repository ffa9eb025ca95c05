"""Pictures for the window's camera panel: landmarks drawn over a webcam frame, letterboxing into a fixed-size
texture, and a card with a message where there is no picture.

Pure functions on (H, W, 3) uint8 RGB images that return new arrays; each takes well under a millisecond at 320x240,
so the GUI thread can call them every frame. Coordinates are pixels with pixel centres on integers (OpenCV's
convention): x = 0 is the middle of the first column.
"""
from __future__ import annotations

import functools

import cv2
import numpy as np

LANDMARK_COLOUR = (0, 255, 0)  # detected landmarks: green (RGB)
FITTED_COLOUR = (255, 0, 255)  # the fitted model's projected landmarks: magenta
NO_FACE_COLOUR = (255, 80, 80)
CARD_COLOUR = (32, 32, 36)
CARD_TEXT_COLOUR = (210, 210, 210)
FONT = cv2.FONT_HERSHEY_SIMPLEX
SUBPIXELS = 4  # dots are placed to a quarter pixel
# OpenCV's Hershey fonts draw ASCII only; the rest would come out as '?'.
_ASCII = str.maketrans({"\u2014": "-", "\u2013": "-", "\u2026": "...", "\u2018": "'", "\u2019": "'", "\u201c": '"',
                        "\u201d": '"', "\u00a0": " "})


def draw_landmarks(image: np.ndarray, landmarks: np.ndarray | None, fitted: np.ndarray | None = None,
                   face_found: bool = True, radius: float | None = None) -> np.ndarray:
    """A copy of `image` with a small anti-aliased dot on each landmark.

    image: (H, W, 3) uint8 RGB. landmarks: (N, 2+) pixel coordinates of the detected landmarks (x, y first; any
    further columns, such as MediaPipe's z, are ignored; rows with a NaN are skipped), drawn green, or None.
    fitted: (M, 2+) the fitted model's landmarks projected into the image, drawn magenta over the detected ones, or
    None. face_found False writes "no face" in the top-left corner. radius: of the dots in pixels; by default it
    grows with the image, 1 pixel at 320x240.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"draw_landmarks needs an (H, W, 3) uint8 image, not {image.shape} {image.dtype}")
    output = image.copy()
    if radius is None:
        radius = max(1.0, min(image.shape[:2]) / 300)
    for points, colour in ((landmarks, LANDMARK_COLOUR), (fitted, FITTED_COLOUR)):
        if points is not None:
            _draw_dots(output, points, colour, radius)
    if not face_found:
        _draw_no_face(output)
    return output


def fit_into(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """`image` (H, W, C) scaled to fit in width x height, aspect ratio kept, centred between black bars:
    (height, width, C), of the image's dtype."""
    if width < 1 or height < 1:
        raise ValueError(f"fit_into needs a size of at least 1x1, not {width}x{height}")
    source_height, source_width = image.shape[:2]
    output = np.zeros((height, width, *image.shape[2:]), image.dtype)
    if source_width < 1 or source_height < 1:
        return output
    scale = min(width / source_width, height / source_height)
    new_width = min(width, max(1, round(source_width * scale)))
    new_height = min(height, max(1, round(source_height * scale)))
    if (new_width, new_height) == (source_width, source_height):
        scaled = image
    else:
        # Area averaging against aliasing where it shrinks a lot; it is ~10x slower than bilinear at other ratios.
        interpolation = cv2.INTER_AREA if scale <= 0.5 else cv2.INTER_LINEAR
        scaled = cv2.resize(image, (new_width, new_height), interpolation=interpolation)
        scaled = scaled.reshape(new_height, new_width, *image.shape[2:])  # cv2 drops a channel axis of 1
    left, top = (width - new_width) // 2, (height - new_height) // 2
    output[top:top + new_height, left:left + new_width] = scaled
    return output


def status_card(width: int, height: int, text: str) -> np.ndarray:
    """(height, width, 3) uint8 RGB: a dark card with `text` centred on it, such as "no signal" or
    "no camera - sliders only". Lines split at newlines; the text shrinks to fit the card."""
    if width < 1 or height < 1:
        raise ValueError(f"status_card needs a size of at least 1x1, not {width}x{height}")
    card = _plain(width, height, CARD_COLOUR)
    lines = [line.strip() for line in text.translate(_ASCII).encode("ascii", "replace").decode().splitlines()]
    lines = [line for line in lines if line] or [""]
    if lines == [""]:
        return card
    # Size the text at scale 1, then scale it to at most 85% of the width and a line to at most 1/6 of the height.
    sizes = [cv2.getTextSize(line, FONT, 1.0, 1)[0] for line in lines]
    widest = max(w for w, _ in sizes)
    line_height = max(h for _, h in sizes)
    scale = min(0.85 * width / widest, height / 6 / line_height, 1.5)
    thickness = max(1, round(scale * 1.5))
    sizes = [cv2.getTextSize(line, FONT, scale, thickness) for line in lines]
    step = max(h + baseline for (_, h), baseline in sizes) * 1.4
    top = (height - step * (len(lines) - 1)) / 2
    for k, (line, ((w, h), _)) in enumerate(zip(lines, sizes)):
        origin = (round((width - w) / 2), round(top + k * step + h / 2))
        cv2.putText(card, line, origin, FONT, scale, CARD_TEXT_COLOUR, thickness, cv2.LINE_AA)
    return card


def _draw_dots(image: np.ndarray, points: np.ndarray, colour: tuple[int, int, int], radius: float) -> None:
    """Anti-aliased filled discs, all at once (one cv2.circle call per point costs a few microseconds, too much
    for MediaPipe's 478 points in well under a millisecond): each point adds a precomputed stamp of a disc's
    pixel coverage, for its position to a quarter pixel, to a coverage map of the points' bounding box; the map,
    at most 1 where dots overlap, is the colour's opacity there."""
    points = np.asarray(points)
    if points.ndim != 2 or points.shape[1] < 2:
        raise ValueError(f"landmarks must be (N, 2+) pixel coordinates, not {points.shape}")
    points = points[:, :2].astype(np.float32)
    height, width = image.shape[:2]
    stamps = _stamps(radius)
    span = stamps.shape[-1] // 2  # a stamp covers the point's pixel and `span` pixels each side
    inside = ((points[:, 0] > -span - 1) & (points[:, 0] < width + span) &
              (points[:, 1] > -span - 1) & (points[:, 1] < height + span))  # also False for NaN
    points = points[inside]
    if not len(points):
        return
    quarters = np.round(points * SUBPIXELS).astype(np.int64)
    pixel, phase = quarters // SUBPIXELS, quarters % SUBPIXELS  # the pixel under each point, and where in it
    # The coverage map spans the points' pixels, `span` more each side; out of the image it is cut off.
    low = pixel.min(axis=0) - span
    map_width, map_height = (pixel.max(axis=0) - low + span + 1).tolist()
    offsets = np.arange(-span, span + 1)
    rows = (pixel[:, 1] - low[1])[:, None, None] + offsets[None, :, None]
    columns = (pixel[:, 0] - low[0])[:, None, None] + offsets[None, None, :]
    coverage = np.bincount((rows * map_width + columns).ravel(), stamps[phase[:, 1], phase[:, 0]].ravel(),
                           minlength=map_height * map_width).astype(np.float32).reshape(map_height, map_width)
    left, top = max(int(low[0]), 0), max(int(low[1]), 0)
    right, bottom = min(int(low[0]) + map_width, width), min(int(low[1]) + map_height, height)
    if right <= left or bottom <= top:
        return
    alpha = np.minimum(coverage[top - low[1]:bottom - low[1], left - low[0]:right - low[0]], 1)  # overlaps: 1
    box = image[top:bottom, left:right]
    box[:] = cv2.blendLinear(box, _plain(right - left, bottom - top, colour), 1 - alpha, alpha)


def _plain(width: int, height: int, colour: tuple[int, int, int]) -> np.ndarray:
    """(height, width, 3) uint8 of one colour, a plane per channel: numpy's broadcast fill of a 3-vector is
    ~10x slower."""
    return cv2.merge([np.full((height, width), value, np.uint8) for value in colour])


@functools.lru_cache(maxsize=16)
def _stamps(radius: float) -> np.ndarray:
    """(SUBPIXELS, SUBPIXELS, S, S) float32: for a point at (x, y) = pixel + (j, i) / SUBPIXELS, [i, j] is how
    much of each pixel around it a disc of `radius` there covers: 1 inside, falling to 0 over the pixel across its
    edge (the middle of [i, j] is the point's pixel)."""
    reach = radius + 0.5
    span = int(np.ceil(reach))
    offsets = np.arange(-span, span + 1, dtype=np.float32)
    fractions = np.arange(SUBPIXELS, dtype=np.float32) / SUBPIXELS
    dy = offsets[None, :] - fractions[:, None]  # (SUBPIXELS, S): pixel centre minus point, per phase
    distance = np.sqrt(dy[:, None, :, None] ** 2 + dy[None, :, None, :] ** 2)  # (phase y, phase x, S, S)
    return np.clip(reach - distance, 0, 1).astype(np.float32)


def _draw_no_face(image: np.ndarray) -> None:
    height, width = image.shape[:2]
    scale = max(0.4, min(width, height) / 400)
    thickness = max(1, round(scale * 1.5))
    (_, text_height), _ = cv2.getTextSize("no face", FONT, scale, thickness)
    origin = (max(2, round(text_height * 0.5)), round(text_height * 1.5))
    cv2.putText(image, "no face", origin, FONT, scale, (0, 0, 0), thickness + 2, cv2.LINE_AA)  # an outline: legible
    cv2.putText(image, "no face", origin, FONT, scale, NO_FACE_COLOUR, thickness, cv2.LINE_AA)  # on any picture
