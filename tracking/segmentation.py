"""MediaPipe selfie segmentation: where the person is in an RGB image (its model ships in the mediapipe wheel)."""
from __future__ import annotations

import numpy as np

from tracking.face_mesh import quiet_native_stderr


def person_mask(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H, W) float32 in [0, 1]: how surely each pixel shows the person (hair, clothes and
    what they hold included), by mediapipe 0.10.21's general selfie model."""
    with quiet_native_stderr():
        from mediapipe.python.solutions.selfie_segmentation import SelfieSegmentation

        with SelfieSegmentation(model_selection=0) as segmenter:
            result = segmenter.process(np.ascontiguousarray(image))
    return np.asarray(result.segmentation_mask, np.float32)
