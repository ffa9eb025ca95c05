"""The photo as the demo's default camera sees it: the camera, the similarity between its image and the photo,
and the person's silhouette (selfie segmentation).

A point in head space is seen in the photo where the default camera projects it, moved by the similarity that lays
the camera's view of the face landmarks onto the photo's. Surfaces built this way (hair, bust) and coloured from the
photo through the same mapping render at neutral as the photo shows them.
"""
from __future__ import annotations

import cv2
import numpy as np
from scipy.ndimage import map_coordinates

from models.camera import Camera
from scripts.demo_avatar.face import Face
from tracking.segmentation import person_mask

EDGE = 0.02  # face heights: the silhouette's colours are trusted this far inside its edge
# Head and shoulders, as a portrait frames them: the hair's top to the collar (head space, metres).
CAMERA = Camera.look_at(eye=(0.0, -0.02, 0.95), target=(0.0, -0.02, -0.04), up=(0.0, 1.0, 0.0),
                        width=512, height=512, fx=1150.0)


class Portrait:
    def __init__(self, image: np.ndarray, face: Face):
        self.image = image.astype(np.float64) / 255  # (H, W, 3) RGB
        self.face = face
        self.camera = CAMERA
        self.to_photo = similarity(self.camera_pixels(face.points), face.pixels)  # (2, 3): camera pixel -> photo
        self.person = person_mask(image)  # (H, W) float
        # The silhouette's edge is soft and a little loose: its last pixels are often the background's.
        edge = max(1, round(EDGE * np.ptp(face.pixels[:, 1])))
        self.well_inside = cv2.erode(self.person, np.ones((2 * edge + 1,) * 2, np.uint8))

    def camera_pixels(self, points: np.ndarray) -> np.ndarray:
        """(n, 3) head space -> (n, 2) pixels of the default camera."""
        return seen_by(self.camera, points)[0]

    def project(self, points: np.ndarray) -> np.ndarray:
        """(n, 3) head space -> (n, 2) photo pixels (x, y)."""
        return self.camera_pixels(points) @ self.to_photo[:, :2].T + self.to_photo[:, 2]

    def on_plane(self, pixels: np.ndarray, z: np.ndarray) -> np.ndarray:
        """(n, 2) camera pixels and (n,) head-space depths -> (n, 3) the points at those depths seen there."""
        world_to_camera = self.camera.world_to_camera.double().numpy()
        rotation, translation = world_to_camera[:3, :3], world_to_camera[:3, 3]
        rays = np.concatenate([(pixels - [self.camera.cx, self.camera.cy]) / [self.camera.fx, self.camera.fy],
                               np.ones((len(pixels), 1))], 1) @ rotation  # head-space directions
        origin = -rotation.T @ translation
        return origin + rays * ((z - origin[2]) / rays[:, 2])[:, None]

    def sample(self, pixels: np.ndarray, image: np.ndarray | None = None) -> np.ndarray:
        """(n, 2) photo x, y -> (n, C) bilinear values of `image` (default: the photo's colours)."""
        image = self.image if image is None else image
        channels = image.reshape(*image.shape[:2], -1)
        return np.stack([map_coordinates(channels[..., c], [pixels[:, 1], pixels[:, 0]], order=1, mode="nearest")
                         for c in range(channels.shape[2])], 1)

    def silhouette_radius(self, centres: np.ndarray, azimuths: np.ndarray, largest: float) -> np.ndarray:
        """(n,) how far from each of `centres` (n, 3), in its plane z = const and in the direction of its azimuth
        (radians from +x towards +y), the person's silhouette ends, in metres; NaN where it does not end within
        `largest` metres, or the photo ends first (a head its frame cuts)."""
        steps = np.linspace(0.0, largest, 200)
        directions = np.stack([np.cos(azimuths), np.sin(azimuths), np.zeros_like(azimuths)], 1)
        pixels = self.project((centres[:, None] + steps[None, :, None] * directions[:, None]).reshape(-1, 3))
        on_photo = ((pixels >= 0) & (pixels <= [self.image.shape[1] - 1, self.image.shape[0] - 1])).all(axis=1)
        inside = (self.sample(pixels, self.person)[:, 0] > 0.5) & on_photo
        inside, on_photo = inside.reshape(len(centres), len(steps)), on_photo.reshape(len(centres), len(steps))
        leaves = ~inside & np.maximum.accumulate(inside, axis=1)  # left the silhouette (or the photo) after being in it
        first = np.argmax(leaves, axis=1)
        ends = leaves.any(axis=1) & on_photo[np.arange(len(centres)), first]
        return np.where(ends, steps[first], np.nan)

    def person_seen(self, origin: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
        """(h, w) bool: where the camera's pixels from `origin` (x, y; may lie outside its image) show the person;
        False beyond the photo's edges."""
        shifted = self.to_photo.copy()
        shifted[:, 2] += shifted[:, :2] @ np.asarray(origin, np.float64)
        warp = lambda image: cv2.warpAffine(image, shifted, size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
        return (warp(self.person) > 0.5) & (warp(np.ones_like(self.person)) > 0.999)


def seen_by(camera: Camera, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, 3) head space -> (n, 2) pixels of `camera` and (n,) depths in front of it."""
    world_to_camera = camera.world_to_camera.double().numpy()
    seen = points @ world_to_camera[:3, :3].T + world_to_camera[:3, 3]
    return seen[:, :2] / seen[:, 2:] * [camera.fx, camera.fy] + [camera.cx, camera.cy], seen[:, 2]


def similarity(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(2, 3) least-squares similarity (rotation, uniform scale, translation) taking points (n, 2) onto (n, 2)."""
    a, b = source[:, 0] + 1j * source[:, 1], target[:, 0] + 1j * target[:, 1]
    s = np.vdot(a - a.mean(), b - b.mean()) / np.vdot(a - a.mean(), a - a.mean())  # b ~ s a + t, s complex
    t = b.mean() - s * a.mean()
    return np.array([[s.real, -s.imag, t.real], [s.imag, s.real, t.imag]])
