"""MediaPipe face mesh: 478 face landmarks (468 mesh points + 10 iris points) per RGB frame, offline."""
from __future__ import annotations

import contextlib
import ctypes
import os
import sys

import numpy as np


class FaceMeshDetector:
    """Wraps mediapipe 0.10.21's face mesh solution (the only mediapipe whose face mesh runs without a download).

    `static_images=True` detects afresh on every image; False tracks across the frames of a video.
    """

    def __init__(self, static_images: bool = False, max_faces: int = 1):
        # The graph's threads log their start-up (delegates, feedback tensors) natively and asynchronously;
        # one blank frame inside the quiet window waits until every calculator is open.
        with quiet_native_stderr():
            from mediapipe.python.solutions import face_mesh

            self._mesh = face_mesh.FaceMesh(
                static_image_mode=static_images, max_num_faces=max_faces, refine_landmarks=True
            )
            self._mesh.process(np.zeros((64, 64, 3), np.uint8))
        self._seen_face = False  # the first face found logs one more start-up warning

    def detect(self, image: np.ndarray) -> list[np.ndarray]:
        """(H, W, 3) uint8 RGB -> one (478, 3) float32 array per face: x, y in pixels, z in the same scale
        (smaller is nearer the camera), as mediapipe defines it."""
        height, width = image.shape[:2]
        with contextlib.nullcontext() if self._seen_face else quiet_native_stderr():
            result = self._mesh.process(np.ascontiguousarray(image))
        faces = result.multi_face_landmarks or []
        self._seen_face = self._seen_face or bool(faces)
        scale = np.array([width, height, width], np.float32)
        return [np.array([(p.x, p.y, p.z) for p in face.landmark], np.float32) * scale for face in faces]

    def close(self) -> None:
        self._mesh.close()

    def __enter__(self) -> FaceMeshDetector:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def face_mesh_triangles() -> np.ndarray:
    """(852, 3) triangles of mediapipe's 468-point face mesh, recovered from its tesselation edges.

    The mesh has holes at the eyes and the mouth. Two triangles of edges (49, 64, 129) and (279, 294, 358) are
    not faces (each closes around a vertex inside it) and are dropped.
    """
    from mediapipe.python.solutions.face_mesh_connections import FACEMESH_TESSELATION

    neighbours: dict[int, set[int]] = {}
    for a, b in FACEMESH_TESSELATION:
        neighbours.setdefault(a, set()).add(b)
        neighbours.setdefault(b, set()).add(a)
    triangles = {
        tuple(sorted((a, b, c))) for a in neighbours for b in neighbours[a] for c in neighbours[a] & neighbours[b]
    }
    triangles -= {(49, 64, 129), (279, 294, 358)}
    return np.array(sorted(triangles), np.int64)


@contextlib.contextmanager
def quiet_native_stderr():
    """Silence what native code writes to file descriptor 2 (mediapipe's absl/TFLite start-up lines), which
    Python's sys.stderr cannot redirect. Python exceptions still propagate."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
    try:
        yield
    finally:
        ctypes.CDLL(None).fflush(None)  # native stderr may be buffered: empty it while it still goes nowhere
        os.dup2(saved, 2)
        os.close(saved)
