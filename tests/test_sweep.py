import math

import pytest
import torch

from models.camera import Camera
from models.orbit import OrbitCamera
from models.params import FlameParams
from viewer.runs.sweep import JAW, LEFT_EYE, NECK, RIGHT_EYE, sweep_frame

HOME = Camera.look_at(eye=(0.0, 0.0, 1.0), target=(0.0, 0.0, 0.0), up=(0.0, 1.0, 0.0), width=64, height=64, fx=160.0)
EXPRESSIONS = 9


def sweep(count: int) -> list[tuple[FlameParams, Camera]]:
    orbit = OrbitCamera.around(HOME, 1.0)
    return [sweep_frame(index, count, EXPRESSIONS, orbit) for index in range(count)]


def test_first_frame_is_neutral_from_the_home_camera():
    params, camera = sweep(300)[0]
    assert params.expression.abs().max() == 0
    assert params.pose.abs().max() == 0 and params.translation.abs().max() == 0
    torch.testing.assert_close(camera.world_to_camera, HOME.world_to_camera, atol=1e-6, rtol=0)


def test_every_expression_goes_up_and_back_down_one_at_a_time():
    frames = sweep(300)
    expressions = torch.stack([params.expression for params, _ in frames])  # (frames, E)
    assert expressions.max(dim=0).values.min() > 0.95  # every expression reaches nearly 1
    assert ((expressions > 0.01).sum(dim=1) <= 1).all()  # never two at once
    peaks = expressions.argmax(dim=0)
    assert (peaks.diff() > 0).all()  # in order
    assert expressions[-1].abs().max() == 0


def test_jaw_opens_head_turns_and_eyes_look_both_ways():
    poses = torch.stack([params.pose for params, _ in sweep(300)])  # (frames, 5, 3)
    assert poses[:, JAW, 0].max() == pytest.approx(0.3, abs=0.01)
    assert poses[:, NECK, 1].max() > 0.5 and poses[:, NECK, 1].min() < -0.5
    assert poses[:, LEFT_EYE, 1].max() > 0.25 and poses[:, LEFT_EYE, 1].min() < -0.25
    torch.testing.assert_close(poses[:, LEFT_EYE], poses[:, RIGHT_EYE])
    # One thing moves at a time: a turning head keeps its jaw shut.
    assert (poses[poses[:, NECK, 1].abs() > 0, JAW, 0] == 0).all()


def test_camera_orbits_a_full_circle_around_the_head():
    angles = []
    for _, camera in sweep(300):
        x, _, z = camera.position.tolist()
        assert math.hypot(x, z) == pytest.approx(1.0, abs=1e-5)  # at the home distance from the head
        angles.append(math.atan2(x, z))
    unwrapped = torch.tensor(angles).diff()
    unwrapped = (unwrapped + math.pi) % (2 * math.pi) - math.pi
    travelled = unwrapped.sum().item()
    assert travelled == pytest.approx(2 * math.pi, abs=2 * math.pi / 40)  # one turn, minus the last step
    assert (unwrapped >= 0).all()  # one way round


@pytest.mark.parametrize("count", [*range(1, 11), 1000])
def test_any_frame_count_gives_valid_frames(count):
    frames = sweep(count)
    assert len(frames) == count
    for params, camera in frames:
        assert params.expression.shape == (EXPRESSIONS,) and params.pose.shape == (5, 3)
        assert torch.isfinite(params.expression).all() and torch.isfinite(params.pose).all()
        assert params.expression.abs().max() <= 1 and params.pose.abs().max() <= 0.61
        assert (camera.width, camera.height) == (64, 64)
        assert torch.isfinite(camera.world_to_camera).all()
    assert frames[0][0].expression.abs().max() == 0


def test_frames_are_a_function_of_index_and_count():
    orbit = OrbitCamera.around(HOME, 1.0)
    a = sweep_frame(123, 400, EXPRESSIONS, orbit)
    b = sweep_frame(123, 400, EXPRESSIONS, orbit)
    torch.testing.assert_close(a[0].pose, b[0].pose)
    torch.testing.assert_close(a[1].world_to_camera, b[1].world_to_camera)
    assert orbit.yaw == 0  # the caller's camera is left as it was
