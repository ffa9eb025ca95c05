"""The fdlite detector (LiteRT, no tensorflow) finds the astronaut's 478 points where MediaPipe's face mesh does."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tracking import fdlite_detector
from tracking.fdlite_detector import FdliteDetector, FdliteUnavailable

FACES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "faces"
ASTRONAUT = FACES / "skimage_astronaut.png"
needs_fdlite = pytest.mark.skipif(not fdlite_detector.available(), reason="the fdlite extra is absent (make fdlite)")
needs_faces = pytest.mark.skipif(not FACES.is_dir(), reason="../shared/fixtures/faces is absent")


def read_rgb(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return read_rgb(ASTRONAUT)


@pytest.fixture(scope="module")
def mediapipe_points(astronaut) -> np.ndarray:
    from tracking.face_mesh import FaceMeshDetector

    with FaceMeshDetector(static_images=True) as detector:
        (points,) = detector.detect(astronaut)
    return points


def pixel_errors(points: np.ndarray, reference: np.ndarray) -> np.ndarray:
    return np.linalg.norm(points[:, :2] - reference[:, :2], axis=1)


@needs_fdlite
@needs_faces
def test_astronaut_matches_mediapipe_mesh_and_irises(astronaut, mediapipe_points):
    with FdliteDetector(static_images=True) as detector:
        (points,) = detector.detect(astronaut)
    assert points.shape == (478, 3) and points.dtype == np.float32
    mesh = pixel_errors(points[:468], mediapipe_points[:468])
    assert mesh.max() < 6.0 and mesh.mean() < 1.5, (mesh.max(), mesh.mean())  # measured 4.86 / 1.05 px
    irises = pixel_errors(points[468:], mediapipe_points[468:])
    assert irises[[0, 5]].max() < 1.0, irises  # the centres, 468 and 473: measured 0.17 and 0.38 px
    # Every iris point next to MediaPipe's of the same index: a wrong order would be ~4 px off (the iris radius).
    assert irises.max() < 1.5, irises
    # Depth in MediaPipe's scale: the mesh's, and each iris at its eye contour's mean depth.
    assert np.abs(points[:, 2] - mediapipe_points[:, 2]).max() < 3.0


@needs_fdlite
@needs_faces
def test_tracking_mode_follows_the_face_and_finds_it_again(astronaut, mediapipe_points):
    with FdliteDetector(static_images=False) as detector:
        for frame in (astronaut, astronaut, np.zeros_like(astronaut), astronaut):
            faces = detector.detect(frame)
            if frame.any():
                (points,) = faces
                assert pixel_errors(points, mediapipe_points).max() < 6.0
            else:
                assert faces == []


@needs_fdlite
def test_no_face_in_a_black_image():
    with FdliteDetector(static_images=True) as detector:
        assert detector.detect(np.zeros((480, 640, 3), np.uint8)) == []


@needs_fdlite
@needs_faces
def test_tensorflow_is_never_imported():
    """In a fresh interpreter: fdlite gets LiteRT's Interpreter, and no module named tensorflow stays behind."""
    script = f"""
import sys
import numpy as np
from PIL import Image
from tracking.fdlite_detector import FdliteDetector
faces = FdliteDetector(static_images=True).detect(np.asarray(Image.open({str(ASTRONAUT)!r}).convert("RGB")))
import fdlite.face_detection
from ai_edge_litert.interpreter import Interpreter
assert len(faces) == 1
assert fdlite.face_detection.tf.lite.Interpreter is Interpreter
assert not hasattr(fdlite.face_detection.tf, "__file__")  # the shim, not a real package
assert not [name for name in sys.modules if name.split(".")[0] == "tensorflow"], "tensorflow imported"
"""
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_missing_extra_says_make_fdlite(monkeypatch):
    monkeypatch.setitem(sys.modules, "fdlite", None)  # what `import fdlite` meets where it is not installed
    with pytest.raises(FdliteUnavailable, match="make fdlite") as info:
        FdliteDetector()
    assert isinstance(info.value, ImportError) and "\n" not in str(info.value)
