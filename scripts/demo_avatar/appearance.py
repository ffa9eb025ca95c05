"""Colours of the demo's Gaussians: the photo where the photo saw the surface, colours measured in the photo
elsewhere (hair, skin, sclera, teeth), with a soft light on the procedural parts."""
from __future__ import annotations

import cv2
import numpy as np
from matplotlib.path import Path
from scipy.ndimage import map_coordinates

from scripts.demo_avatar.face import EYE_OPENING, FACE_OVAL, MOUTH_OPENING, Face

LIGHT = np.array([0.25, 0.55, 1.0]) / np.linalg.norm([0.25, 0.55, 1.0])
FIXED_COLOURS = {"socket": (0.42, 0.24, 0.23), "mouth": (0.10, 0.03, 0.04), "tongue": (0.62, 0.28, 0.30),
                 "gums": (0.60, 0.33, 0.33)}


class Photo:
    def __init__(self, image: np.ndarray, face: Face):
        self.image = image.astype(np.float64) / 255  # (H, W, 3) RGB
        self.face = face
        # Head space -> photo pixels, fitted on the landmarks: for surfaces that are not the face mesh itself.
        homogeneous = np.concatenate([face.points, np.ones((len(face.points), 1))], 1)
        self.to_pixels, *_ = np.linalg.lstsq(homogeneous, face.pixels, rcond=None)  # (4, 2)

    def sample(self, pixels: np.ndarray) -> np.ndarray:
        """(n, 2) x, y -> (n, 3) bilinear colours."""
        return np.stack([map_coordinates(self.image[..., ch], [pixels[:, 1], pixels[:, 0]], order=1, mode="nearest")
                         for ch in range(3)], 1)

    def project(self, points: np.ndarray) -> np.ndarray:
        return np.concatenate([points, np.ones((len(points), 1))], 1) @ self.to_pixels

    def inside(self, pixels: np.ndarray, loop: list[int]) -> np.ndarray:
        return Path(self.face.pixels[loop]).contains_points(pixels)

    def median_colour(self, loop: list[int], brightest: float = 1.0) -> np.ndarray:
        """Median colour of the photo inside a landmark loop, over its `brightest` fraction of pixels."""
        mask = np.zeros(self.image.shape[:2], np.uint8)
        cv2.fillPoly(mask, [np.round(self.face.pixels[loop]).astype(np.int32)], 1)
        pixels = self.image[mask > 0]
        brightness = pixels.sum(axis=1)
        return np.median(pixels[brightness >= np.quantile(brightness, 1 - brightest)], axis=0)

    def hair_pixels(self) -> tuple[np.ndarray, np.ndarray]:
        """Hair: saturated, not dark pixels around and above the face outline (the background is grey).
        Returns the (H, W) float mask (softened) and the hair colours found."""
        hsv = cv2.cvtColor((self.image * 255).astype(np.uint8), cv2.COLOR_RGB2HSV)
        face_mask = np.zeros(hsv.shape[:2], np.uint8)
        cv2.fillPoly(face_mask, [np.round(self.face.pixels[FACE_OVAL]).astype(np.int32)], 1)
        rows = np.arange(hsv.shape[0])[:, None]
        above_jaw = rows < self.face.pixels[FACE_OVAL, 1].max() - 0.35 * np.ptp(self.face.pixels[FACE_OVAL, 1])
        brown = (hsv[..., 0] >= 10) & (hsv[..., 0] <= 30)  # blonde to dark brown, not the suit or the sky
        mask = (hsv[..., 1] > 55) & (hsv[..., 2] > 20) & brown & (face_mask == 0) & above_jaw
        return cv2.GaussianBlur(mask.astype(np.float64), (0, 0), 2), self.image[mask]


def colours(photo: Photo, parts: np.ndarray, means: np.ndarray, normals: np.ndarray, face_bary_pixels: np.ndarray,
            hair: np.ndarray, crown: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(N, 3) colour of every Gaussian from its part, rest position, surface normal, photo position (for the face)
    and hair cover; hair strands fall from the `crown`."""
    face = photo.face
    shade = (0.7 + 0.3 * np.clip(normals @ LIGHT, 0, 1))[:, None]
    skin = photo.median_colour([93, 137, 123, 50, 101, 36, 206, 216, 192, 213, 147])  # the right cheek
    result = np.zeros((len(parts), 3))

    # The face from the photo, except where the photo saw it edge-on (its sides are smeared silhouette pixels).
    is_face = parts == "face"
    facing = np.clip((normals[is_face, 2:] - 0.1) / 0.35, 0, 1)
    result[is_face] = facing * photo.sample(face_bary_pixels[is_face]) + (1 - facing) * skin * shade[is_face]

    for side in ("left", "right"):
        on_eye = parts == f"eye_{side}"
        opening = EYE_OPENING[side]
        pixels = photo.project(means[on_eye])
        sclera = photo.median_colour(opening, brightest=0.3)
        visible = photo.inside(pixels, opening)[:, None]
        result[on_eye] = np.where(visible, photo.sample(pixels), sclera)

    # Teeth as the photo shows them between the lips; beyond, where lips that move uncover them, gums.
    on_teeth = np.isin(parts, ["upper_teeth", "lower_teeth"])
    pixels = photo.project(means[on_teeth])
    result[on_teeth] = np.where(photo.inside(pixels, MOUTH_OPENING)[:, None], photo.sample(pixels),
                                FIXED_COLOURS["gums"])

    for part in ("socket", "mouth", "tongue"):
        result[parts == part] = FIXED_COLOURS[part]

    on_neck = parts == "neck"
    under_chin = 0.7 + 0.3 * np.clip((-0.09 - means[on_neck, 1:2]) / 0.05, 0, 1)  # the head shades the neck's top
    throat = photo.median_colour([152, 148, 176, 149, 150, 377, 400, 378, 379])
    result[on_neck] = throat * under_chin * (0.55 + 0.45 * np.clip(normals[on_neck] @ LIGHT, 0, 1))[:, None]

    on_skull = parts == "skull"
    hair_mask, hair_colours = photo.hair_pixels()
    result[on_skull] = _hair(photo, hair_mask, hair_colours, means[on_skull], normals[on_skull], crown, rng)
    cover = hair[on_skull, None]
    result[on_skull] = cover * result[on_skull] + (1 - cover) * skin * shade[on_skull]
    return np.clip(result, 0, 1)


def _hair(photo: Photo, mask: np.ndarray, palette: np.ndarray, means: np.ndarray, normals: np.ndarray,
          crown: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Strands falling from the crown: the photo's median hair colour, each strand pulled a little towards one
    hair colour of the photo, with broad darker and lighter locks; where the photo saw the hair from the
    front, its own colour."""
    direction = means - crown
    around = np.arctan2(direction[:, 0], direction[:, 2])
    strand = np.floor((around + np.pi) / np.radians(0.7)).astype(int)
    strand_colour = palette[rng.integers(0, len(palette), strand.max() + 1)][strand]
    locks = 1 + 0.12 * np.sin(7 * around + 2 * np.sin(3 * around))[:, None]
    synthetic = (0.65 * np.median(palette, axis=0) + 0.35 * strand_colour) * locks
    synthetic *= rng.uniform(0.92, 1.06, (len(means), 1))

    pixels = photo.project(means)
    seen = map_coordinates(mask, [pixels[:, 1], pixels[:, 0]], order=1, mode="constant")
    seen *= np.clip((normals[:, 2] - 0.3) / 0.3, 0, 1)
    return seen[:, None] * photo.sample(pixels) + (1 - seen[:, None]) * synthetic
