"""Colours of the demo's Gaussians: the photo wherever the photo saw the surface facing it; elsewhere (the back and
sides of the head, under the chin, the bust's back) the photo's colours carried over the surface from where it
was seen, so no seam shows where one gives way to the other; fixed colours inside the mouth and the eye sockets."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from matplotlib.path import Path
from scipy.ndimage import gaussian_filter

from scripts.demo_avatar import mesh
from scripts.demo_avatar.face import BROWS, EYE_OPENING, IRIS, MOUTH_OPENING
from scripts.demo_avatar.portrait import Portrait

LIGHT = np.array([0.25, 0.55, 1.0]) / np.linalg.norm([0.25, 0.55, 1.0])
FIXED_COLOURS = {"socket": (0.42, 0.24, 0.23), "mouth": (0.10, 0.03, 0.04), "tongue": (0.62, 0.28, 0.30)}
PHOTO_PARTS = ("face", "head_front", "head_back", "bust", "bust_edge", "bust_back", "neck")
HAIR_PARTS = ("head_front", "head_back")  # where the photo did not see them, strands are drawn into the colour
CHIN_SKIN = [152, 148, 176, 149, 150, 377, 400, 378, 379]  # landmarks of the chin, whose skin the neck takes
FACING = (0.15, 0.45)  # the photo's colour fades in between these cosines of a surface's angle to the camera
# The brows drawn in: blended this far towards the darker of the photo's two brows (its darkest fifth), over the
# brows' outlines widened and softened by this many photo pixels. MediaPipe reads a brow by its contrast with the
# skin and the photo's are faint: on the demo's render it read the left brow lowered by 0.021 of the mesh's 0.072
# (and read the eye closing by 0.040); drawn in, 0.039 (and the eye closing by 0.029).
BROW_EMPHASIS, BROW_EDGE = 0.8, 1.0
BROW_OUTLINES = {side: BROWS[side][:5] + BROWS[side][5:][::-1] for side in BROWS}  # upper edge, lower edge back
IRIS_REACH = 1.25  # the photo's iris over MediaPipe's iris radius (which falls short of it by about a fifth)


@dataclass
class Samples:
    """Points of the demo's surface whose colour is decided: the mesh's vertices, or its Gaussians."""

    points: np.ndarray  # (n, 3) rest positions
    normals: np.ndarray  # (n, 3) unit
    pixels: np.ndarray  # (n, 2) where the photo shows them (on the face: as its landmarks say)
    seen: np.ndarray  # (n,) bool: the default camera sees them (nothing in front)


def colours(portrait: Portrait, vertices: Samples, triangles: np.ndarray, gaussians: Samples, parts: np.ndarray,
            corners: np.ndarray, bary: np.ndarray, crown: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(N, 3) colour of every Gaussian, each of a `part`, at `bary` (N, 3) in its triangle of vertices `corners`
    (N, 3); strands of hair the photo did not see fall from the `crown`."""
    result = np.zeros((len(parts), 3))
    photo = portrait.sample(gaussians.pixels)

    # The photo's colours where it saw the mesh, spread smoothly over the rest of it.
    blurred = gaussian_filter(portrait.image, (1.0, 1.0, 0))  # the spread colours without the photo's grain
    anchors = np.flatnonzero(_trust(vertices, portrait) > 0.99)
    spread = mesh.harmonic(len(vertices.points), triangles, anchors, portrait.sample(vertices.pixels[anchors], blurred))
    fill = np.einsum("nk,nkc->nc", bary, spread[corners])
    on_hair = np.isin(parts, HAIR_PARTS)
    fill[on_hair] *= _strands(gaussians.points[on_hair], crown, rng)
    on_neck = parts == "neck"  # a mesh of its own, inside the head and the bust: the chin's skin, shaded
    chin = portrait.sample(vertices.pixels[CHIN_SKIN]).mean(axis=0)
    fill[on_neck] = chin * (0.55 + 0.45 * np.clip(gaussians.normals[on_neck] @ LIGHT, 0, 1))[:, None]
    weight = _trust(gaussians, portrait)[:, None]
    on_photo = np.isin(parts, PHOTO_PARTS)
    result[on_photo] = (weight * photo + (1 - weight) * fill)[on_photo]
    brows = np.zeros(portrait.image.shape[:2], np.float32)
    for outline in BROW_OUTLINES.values():
        cv2.fillPoly(brows, [_polygon(portrait, outline)], 1.0)
        cv2.polylines(brows, [_polygon(portrait, outline)], True, 1.0, thickness=2)
    brow = min((_median_colour(portrait, outline, band=(0.0, 0.2)) for outline in BROW_OUTLINES.values()), key=np.sum)
    on_face = parts == "face"
    share = BROW_EMPHASIS * portrait.sample(gaussians.pixels[on_face], gaussian_filter(brows, BROW_EDGE)[..., None])
    result[on_face] += share * (brow - result[on_face])

    for side in ("left", "right"):
        on_eye = parts == f"eye_{side}"
        sclera = _median_colour(portrait, EYE_OPENING[side], band=(0.7, 1.0))
        pixels = gaussians.pixels[on_eye]
        visible = _inside(portrait, pixels, EYE_OPENING[side])
        # The iris the lids hide, in the colour of the iris they show: a lid raised shows a round iris, not one cut
        # flat where the photo's lid was.
        centre, rim = portrait.face.pixels[IRIS[side][0]], portrait.face.pixels[IRIS[side][1:]]
        radius = IRIS_REACH * np.linalg.norm(rim - centre, axis=1).mean()
        in_iris = np.linalg.norm(pixels - centre, axis=1) < radius
        iris = np.median(photo[on_eye][in_iris & visible], axis=0)
        result[on_eye] = np.where(visible[:, None], photo[on_eye], np.where(in_iris[:, None], iris, sclera))

    # Teeth as the photo shows them between the lips; beyond, where lips that move uncover them (a smile, the
    # lips closed at rest then parted), each tooth continued from what the photo shows of it.
    for part, down in (("upper_teeth", 1.0), ("lower_teeth", -1.0)):
        on_part = parts == part
        result[on_part] = portrait.sample(_into_opening(portrait, gaussians.pixels[on_part], down))
    for part in ("socket", "mouth", "tongue"):
        result[parts == part] = FIXED_COLOURS[part]
    return np.clip(result, 0, 1)


def _trust(samples: Samples, portrait: Portrait) -> np.ndarray:
    """(n,) in [0, 1]: how far the photo's colour of each sample is its own. 0 where the camera does not see it,
    where it is seen edge-on (the photo's pixels there are smeared over it), or at the silhouette's very edge
    (often the background's pixels); 1 where it faces the camera inside the silhouette."""
    towards = portrait.camera.position.double().numpy() - samples.points
    cosine = np.einsum("nk,nk->n", samples.normals, towards) / np.linalg.norm(towards, axis=1)
    facing = np.clip((cosine - FACING[0]) / (FACING[1] - FACING[0]), 0, 1)
    return samples.seen * facing * portrait.sample(samples.pixels, portrait.well_inside)[:, 0].clip(0, 1)


def _strands(points: np.ndarray, crown: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(n, 1) brightness of hair strands falling from the crown: broad darker and lighter locks, and each strand a
    little lighter or darker than its neighbours."""
    direction = points - crown
    around = np.arctan2(direction[:, 0], direction[:, 2])
    strand = np.floor((around + np.pi) / np.radians(0.7)).astype(int)
    locks = 1 + 0.1 * np.sin(7 * around + 2 * np.sin(3 * around))
    return (locks * rng.uniform(0.9, 1.06, strand.max() + 1)[strand])[:, None]


def _into_opening(portrait: Portrait, pixels: np.ndarray, down: float, margin: int = 2, reach: int = 40) -> np.ndarray:
    """Teeth the photo's lips hide take the colour of the tooth below (upper set, down = 1) or above (lower set,
    down = -1) them that it shows: each pixel moved that way into the mouth's opening, `margin` past its edge
    (where lip and tooth blur); pixels the opening is not within `reach` of stay."""
    moved = pixels.copy()
    pending = ~_inside(portrait, pixels, MOUTH_OPENING)
    for step in range(1, reach + 1):
        shifted = pixels[pending] + [0.0, down * step]
        found = _inside(portrait, shifted, MOUTH_OPENING)
        rows = np.flatnonzero(pending)[found]
        moved[rows] = shifted[found] + [0.0, down * margin]
        pending[rows] = False
    return moved


def _inside(portrait: Portrait, pixels: np.ndarray, loop: list[int]) -> np.ndarray:
    return Path(portrait.face.pixels[loop]).contains_points(pixels)


def _polygon(portrait: Portrait, loop: list[int]) -> np.ndarray:
    """A landmark loop as OpenCV's polygon: (n, 2) int32 photo pixels."""
    return np.round(portrait.face.pixels[loop]).astype(np.int32)


def _median_colour(portrait: Portrait, loop: list[int], band: tuple[float, float]) -> np.ndarray:
    """Median colour of the photo inside a landmark loop, over its pixels within a band of brightness quantiles
    (e.g. (0.7, 1.0): the brightest 30 %)."""
    mask = np.zeros(portrait.image.shape[:2], np.uint8)
    cv2.fillPoly(mask, [_polygon(portrait, loop)], 1)
    pixels = portrait.image[mask > 0]
    brightness = pixels.sum(axis=1)
    low, high = np.quantile(brightness, band)
    return np.median(pixels[(brightness >= low) & (brightness <= high)], axis=0)
