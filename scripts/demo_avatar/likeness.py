"""How much a demo avatar at neutral looks like its photo: its render laid onto the photo, compared around the head.

The render (default camera, over black) is moved onto the photo by the similarity transform that maps its
MediaPipe face landmarks onto the photo's. Around the head (a box from 0.8 face heights above the face to 0.5
below the chin, 0.7 face widths to each side) its alpha is compared with the photo's person silhouette (selfie
segmentation), and its colour with the photo's inside that silhouette.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from avatar.rigged import RiggedAvatar
from avatar.splatting.rasterizer import rasterize
from models.params import FlameParams
from scripts.demo_avatar.face import CHIN, FACE_OVAL
from scripts.demo_avatar.portrait import similarity
from tracking.face_mesh import FaceMeshDetector
from tracking.segmentation import person_mask

ABOVE, BELOW, BESIDE = 0.8, 0.5, 0.7  # the box around the head, in face heights and face widths


@dataclass
class Likeness:
    iou: float  # of the render's alpha (> 0.5) and the photo's silhouette (> 0.5) in the box
    psnr: float  # dB, of the render's colour against the photo's, over the silhouette in the box

    def __str__(self) -> str:
        return f"silhouette IoU {self.iou:.3f}, colour PSNR {self.psnr:.1f} dB"


def likeness(avatar: RiggedAvatar, photo: np.ndarray) -> Likeness:
    """`photo`: (H, W, 3) uint8 RGB, the one the avatar was built from."""
    with torch.no_grad():
        render = rasterize(avatar.gaussians(FlameParams.neutral(avatar.head.num_expressions)), avatar.default_camera,
                           background=torch.zeros(3), backend="cpu")
    image = render.image.clamp(0, 1).numpy()
    with FaceMeshDetector(static_images=True) as detector:
        (seen,) = detector.detect((image * 255).round().astype(np.uint8))
        (photo_landmarks,) = detector.detect(photo)
    onto_photo = similarity(seen[:, :2], photo_landmarks[:, :2])
    size = photo.shape[1], photo.shape[0]
    laid_image = cv2.warpAffine(image, onto_photo, size, flags=cv2.INTER_AREA)
    laid_alpha = cv2.warpAffine(render.alpha.numpy(), onto_photo, size, flags=cv2.INTER_AREA)

    oval = photo_landmarks[FACE_OVAL, :2]
    height, width = photo_landmarks[CHIN, 1] - oval[:, 1].min(), np.ptp(oval[:, 0])
    top, bottom = oval[:, 1].min() - ABOVE * height, photo_landmarks[CHIN, 1] + BELOW * height
    left, right = oval[:, 0].min() - BESIDE * width, oval[:, 0].max() + BESIDE * width
    rows, cols = np.mgrid[:photo.shape[0], :photo.shape[1]]
    box = (rows >= top) & (rows <= bottom) & (cols >= left) & (cols <= right)
    person = (person_mask(photo) > 0.5) & box
    covered = (laid_alpha > 0.5) & box
    error = ((laid_image - photo.astype(np.float32) / 255)[person] ** 2).mean()
    return Likeness(iou=float((person & covered).sum() / (person | covered).sum()), psnr=float(-10 * np.log10(error)))

