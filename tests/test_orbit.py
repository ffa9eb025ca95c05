import math
from dataclasses import replace

import pytest
import torch

from models.camera import Camera
from models.orbit import MAX_PITCH, OrbitCamera, target_depth

# Like the demo's camera: at +z looking back at a head around the origin, 512x512.
HOME = Camera.look_at(eye=(0.0, -0.04, 0.95), target=(0.0, -0.04, -0.04), up=(0.0, 1.0, 0.0),
                      width=512, height=512, fx=1330.0)
TARGET = torch.tensor([0.0, -0.04, -0.05])  # 1.0 in front of HOME


def orbit() -> OrbitCamera:
    return OrbitCamera.around(HOME, 1.0)


def project(camera: Camera, point: torch.Tensor) -> tuple[float, float, float]:
    """Pixel (u, v) and depth of a world point."""
    x, y, z = (camera.world_to_camera[:3, :3] @ point + camera.world_to_camera[:3, 3]).tolist()
    return camera.fx * x / z + camera.cx, camera.fy * y / z + camera.cy, z


def assert_looks_at(camera: Camera, point: torch.Tensor, distance: float) -> None:
    u, v, z = project(camera, point)
    assert (u, v) == pytest.approx((camera.cx, camera.cy), abs=1e-3)
    assert z == pytest.approx(distance, rel=1e-5)


def test_default_view_is_the_home_camera():
    camera = orbit().camera()
    torch.testing.assert_close(camera.world_to_camera, HOME.world_to_camera, atol=1e-6, rtol=0)
    assert (camera.width, camera.height, camera.fx, camera.fy, camera.cx, camera.cy) == \
        (HOME.width, HOME.height, HOME.fx, HOME.fy, HOME.cx, HOME.cy)
    assert_looks_at(camera, TARGET, 1.0)


def test_target_depth_is_the_depth_of_the_points_centre():
    points = torch.tensor([[0.1, 0.0, 0.0], [-0.1, -0.08, -0.1]])  # centre (0, -0.04, -0.05)
    assert target_depth(HOME, points) == pytest.approx(1.0)


@pytest.mark.parametrize("yaw, side", [(math.pi / 2, 1.0), (-math.pi / 2, -1.0)])
def test_yaw_by_90_degrees_looks_from_the_side(yaw, side):
    view = orbit()
    view.rotate(yaw, 0.0)
    camera = view.camera()
    # Positive yaw moves the camera to its right (+x here), level with the target, at the same distance.
    torch.testing.assert_close(camera.position, TARGET + torch.tensor([side, 0.0, 0.0]), atol=1e-5, rtol=0)
    assert_looks_at(camera, TARGET, 1.0)
    # Up stays up: a point above the target is above the image centre.
    assert project(camera, TARGET + torch.tensor([0.0, 0.1, 0.0]))[1] < camera.cy - 100


def test_pitch_moves_the_camera_up_and_is_clamped():
    view = orbit()
    view.rotate(0.0, 0.3)
    camera = view.camera()
    assert camera.position[1] > TARGET[1] + 0.25
    assert_looks_at(camera, TARGET, 1.0)
    view.rotate(0.0, 10.0)
    assert view.pitch == pytest.approx(MAX_PITCH)
    view.rotate(0.0, -20.0)
    assert view.pitch == pytest.approx(-MAX_PITCH)
    camera = view.camera()
    assert torch.isfinite(camera.world_to_camera).all()
    assert_looks_at(camera, TARGET, 1.0)


def test_zoom_changes_only_the_distance():
    view = orbit()
    view.zoom(2)
    camera = view.camera()
    assert_looks_at(camera, TARGET, 0.81)
    view.zoom(-4)
    assert_looks_at(view.camera(), TARGET, 1 / 0.81)
    view.zoom(1000)  # stops short of the head
    assert 0.1 < view.distance < 1.0


def test_pan_moves_target_and_eye_together():
    view = orbit()
    view.rotate(0.4, 0.2)
    before = view.camera()
    view.drag_pan(50.0, -20.0)
    after = view.camera()
    torch.testing.assert_close(after.world_to_camera[:3, :3], before.world_to_camera[:3, :3])
    shift = after.position - before.position
    # The old target is seen where the drag moved it: 50 px right, 20 px up.
    u, v, _ = project(after, TARGET)
    assert (u, v) == pytest.approx((after.cx + 50, after.cy - 20), abs=1e-2)
    assert shift.norm() > 0.01


def test_reset_restores_the_home_view():
    view = orbit()
    view.rotate(1.0, 0.5)
    view.zoom(3)
    view.drag_pan(10, 10)
    view.reset()
    torch.testing.assert_close(view.camera().world_to_camera, HOME.world_to_camera, atol=1e-6, rtol=0)


def test_drag_rotates_so_the_surface_follows_the_mouse():
    view = orbit()
    view.drag_rotate(100.0, 0.0)  # drag right: the front of the head turns right, the camera goes left
    assert view.camera().position[0] < 0
    view.reset()
    view.drag_rotate(0.0, 100.0)  # drag down: the front turns down, the camera goes up
    assert view.camera().position[1] > HOME.position[1]


def test_resize_keeps_the_view_undistorted_and_centred():
    view = orbit()
    view.resize(800, 400)
    camera = view.camera()
    assert (camera.width, camera.height) == (800, 400)
    assert camera.fx == camera.fy == pytest.approx(HOME.fx * 400 / 512)
    assert_looks_at(camera, TARGET, 1.0)
    assert (camera.cx, camera.cy) == (399.5, 199.5)


def test_off_centre_principal_point_is_kept():
    view = OrbitCamera.around(replace(HOME, cx=300.0), 1.0)
    torch.testing.assert_close(view.camera().world_to_camera, HOME.world_to_camera, atol=1e-6, rtol=0)
    assert view.camera().cx == 300.0
