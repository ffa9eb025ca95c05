"""tracking.ibug68: the MediaPipe -> iBUG 68-point table, checked for structure on the astronaut photo."""
from pathlib import Path

import cv2
import numpy as np
import pytest

from tracking.ibug68 import JAW_CONTOUR, MEDIAPIPE_TO_IBUG68, ibug68_from_mediapipe

ASTRONAUT = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "faces" / "skimage_astronaut.png"
needs_fixture = pytest.mark.skipif(not ASTRONAUT.is_file(), reason="../shared face fixtures are absent")

# The iBUG point each point becomes in the mirror image (subject's right <-> left), from the 68-point definition.
MIRROR = (
    list(range(16, -1, -1))                                      # jaw
    + list(range(26, 16, -1))                                    # brows
    + [27, 28, 29, 30, 35, 34, 33, 32, 31]                       # bridge; lower nose
    + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]           # eyes: outer <-> outer, inner <-> inner
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]           # outer lip
    + [64, 63, 62, 61, 60, 67, 66, 65]                           # inner lip
)


def test_table_shape_and_entries_are_mesh_neighbours():
    from mediapipe.python.solutions.face_mesh_connections import FACEMESH_TESSELATION

    edges = {frozenset(edge) for edge in FACEMESH_TESSELATION}
    assert len(MEDIAPIPE_TO_IBUG68) == 68
    for entry in MEDIAPIPE_TO_IBUG68:
        assert len(entry) in (1, 2) and all(0 <= i < 468 for i in entry)
        if len(entry) == 2:
            assert frozenset(entry) in edges, entry  # an average of two neighbours along a contour
    assert JAW_CONTOUR == slice(0, 17)
    assert sorted(MIRROR) == list(range(68)) and all(MIRROR[MIRROR[i]] == i for i in range(68))


def test_averages_the_listed_vertices_for_468_and_478_points():
    points = np.random.default_rng(0).normal(size=(478, 3)).astype(np.float32)
    expected = np.array([points[list(entry)].mean(0) for entry in MEDIAPIPE_TO_IBUG68])
    for mesh in (points, points[:468]):
        ibug = ibug68_from_mediapipe(mesh)
        assert ibug.shape == (68, 3) and ibug.dtype == np.float32
        np.testing.assert_allclose(ibug, expected, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError):
        ibug68_from_mediapipe(points[:68])


@pytest.fixture(scope="module")
def astronaut():
    """(image width, 68 points on the astronaut, 68 points on the astronaut mirrored left-right), pixels."""
    from tracking.face_mesh import FaceMeshDetector

    image = cv2.cvtColor(cv2.imread(str(ASTRONAUT)), cv2.COLOR_BGR2RGB)
    with FaceMeshDetector(static_images=True) as detector:
        (mesh,) = detector.detect(image)
        (mirrored_mesh,) = detector.detect(np.ascontiguousarray(np.fliplr(image)))
    return image.shape[1], ibug68_from_mediapipe(mesh)[:, :2], ibug68_from_mediapipe(mirrored_mesh)[:, :2]


def face_frame(points: np.ndarray) -> np.ndarray:
    """The points rotated so that the outer eye corners 36 -> 45 run along +x (undoes the head's roll)."""
    c, s = (points[45] - points[36]) / np.linalg.norm(points[45] - points[36])
    return points @ np.array([[c, s], [-s, c]]).T


@needs_fixture
def test_eyes_run_right_outer_inner_then_left_inner_outer(astronaut):
    _, p, _ = astronaut
    x = p[:, 0]
    assert x[36] < x[39] < x[42] < x[45]  # the subject's right eye is on the image's left
    for outer, inner, lids in ((36, 39, [37, 38, 40, 41]), (45, 42, [43, 44, 46, 47])):
        lo, hi = sorted((x[outer], x[inner]))
        assert all(lo < x[i] < hi for i in lids)
    y = p[:, 1]
    assert y[37] < y[41] and y[38] < y[40] and y[43] < y[47] and y[44] < y[46]  # upper lids above lower lids
    assert x[37] < x[38] and x[41] < x[40] and x[43] < x[44] and x[47] < x[46]


@needs_fixture
def test_jaw_runs_from_right_through_the_chin_to_left(astronaut):
    _, p, _ = astronaut
    jaw = p[JAW_CONTOUR]
    assert np.argmax(jaw[:, 1]) == 8  # the chin is the lowest jaw point
    face = face_frame(p)
    f, eyes = face[JAW_CONTOUR], face[36:48]
    assert np.all(np.diff(f[:, 0]) > -1.0)  # across the face; the ends are near-vertical, so 1 px slack there
    assert f[0, 0] < eyes[:, 0].min() and f[16, 0] > eyes[:, 0].max()  # the jaw's ends lie outside the eyes
    assert np.all(np.diff(f[:9, 1]) > 0) and np.all(np.diff(f[8:, 1]) < 0)  # down to the chin, then up
    slack = 0.08 * (eyes[9, 0] - eyes[0, 0])  # 0 and 16 at eye level: within 8% of the eye span of the eyes
    assert eyes[:, 1].min() - slack < f[0, 1] < eyes[:, 1].max() + slack
    assert eyes[:, 1].min() - slack < f[16, 1] < eyes[:, 1].max() + slack


@needs_fixture
def test_nose_brows_and_mouth_sit_where_ibug_puts_them(astronaut):
    _, p, _ = astronaut
    x, y = p[:, 0], p[:, 1]
    eyes = p[36:48]
    assert x[39] < x[30] < x[42] and y[30] > eyes[:, 1].max()  # nose tip between and below the eyes
    assert np.all(np.diff(y[27:31]) > 0)  # bridge runs down to the tip
    assert np.all(np.diff(x[31:36]) > 0) and y[33] > y[30]  # nose base right -> left, below the tip
    assert y[17:22].max() < y[36:42].min() and y[22:27].max() < y[42:48].min()  # brows above their eyes
    assert np.all(np.diff(x[17:27]) > 0)  # right brow outer -> inner, then left brow inner -> outer
    outer = p[48:60]
    assert np.argmin(outer[:, 0]) == 0 and np.argmax(outer[:, 0]) == 6  # 48 and 54 are the mouth corners
    assert np.all(np.diff(x[48:55]) > 0) and np.all(np.diff(x[54:60]) < 0)  # over the upper lip, back below
    assert y[51] < y[62] < y[66] < y[57]  # inner lip centres between the outer lip centres
    assert np.all(np.diff(x[60:65]) > 0) and np.all(np.diff(x[[64, 65, 66, 67, 60]]) < 0)
    assert y[48] < y[59] and y[54] < y[55]


@needs_fixture
def test_mirrored_image_gives_the_mirrored_points_with_left_and_right_swapped(astronaut):
    width, p, q = astronaut
    unmirrored = q.copy()
    unmirrored[:, 0] = width - unmirrored[:, 0]
    error = np.linalg.norm(unmirrored[MIRROR] - p, axis=1)
    tolerance = 0.05 * np.linalg.norm(p[45] - p[36])  # about 3 px on this face
    assert error.max() < tolerance, {i: round(float(e), 2) for i, e in enumerate(error) if e >= tolerance}
    # without the swap the lateral points land on the wrong side
    assert np.median(np.linalg.norm(unmirrored - p, axis=1)) > 5 * tolerance
