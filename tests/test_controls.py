"""What the sliders mean and how the timeline plays, without a window."""
import math

import pytest
import torch

from models.params import FlameParams
from viewer.controls import (POSE_CONTROLS, controls_from_params, expression_labels, matches_filter,
                             params_from_controls, with_offsets)
from viewer.timeline import Playback, frame_at


def test_labels_use_the_names_the_head_model_has():
    assert expression_labels(("smile", "", "blink_left"), 4) == ["smile", "expression 1", "blink left", "expression 3"]


def test_the_filter_matches_part_of_a_label_in_any_case():
    assert matches_filter("blink left", "LINK")
    assert matches_filter("expression 42", " 4")  # surrounding spaces are ignored: " 4" is "4"
    assert not matches_filter("jaw open", "smile")
    assert all(matches_filter(label, "") for label in ("jaw open", "expression 0"))


def test_sliders_without_a_frame_drive_the_neutral_face():
    params = params_from_controls([0.5, -1.0], {"jaw": 20.0, "head_tilt": 10.0, "eyes_turn": 5.0})
    assert params.expression.tolist() == [0.5, -1.0]
    assert params.pose[2, 0] == pytest.approx(math.radians(20))
    assert params.pose[1, 2] == pytest.approx(-math.radians(10))  # tilt's sign makes "left" the avatar's left
    assert params.pose[3, 1] == params.pose[4, 1] == pytest.approx(math.radians(5))  # both eyes
    assert params.pose[0].abs().sum() == 0 and params.translation.abs().sum() == 0
    assert params_from_controls([0.0] * 3, {}).pose.abs().sum() == 0  # a missing pose slider stays at rest


def dataset_frame() -> FlameParams:
    """A frame as tracking gives it: global rotation, translation, and eyes that do not look quite alike."""
    generator = torch.Generator().manual_seed(0)
    return FlameParams(torch.randn(50, generator=generator), 0.2 * torch.randn(5, 3, generator=generator),
                       torch.tensor([0.01, -0.02, 0.3]))


def test_a_frame_shown_in_the_sliders_comes_back_exactly():
    frame = dataset_frame()
    expression, pose, _ = controls_from_params(frame)
    assert pose["jaw"] == pytest.approx(math.degrees(frame.pose[2, 0]))
    assert pose["head_tilt"] == pytest.approx(-math.degrees(frame.pose[1, 2]))
    assert pose["eyes_turn"] == pytest.approx(math.degrees((frame.pose[3, 1] + frame.pose[4, 1]) / 2))
    params = params_from_controls(expression, pose, frame)
    assert torch.equal(params.expression, frame.expression)
    assert torch.allclose(params.pose, frame.pose, atol=1e-7)  # eyes apart and global rotation kept
    assert torch.equal(params.translation, frame.translation)


def test_slider_edits_apply_on_top_of_the_frame():
    frame = dataset_frame()
    expression, pose, _ = controls_from_params(frame)
    expression[3] = 2.5
    pose["eyes_turn"] += 10.0
    pose["head_tilt"] = 0.0
    params = params_from_controls(expression, pose, frame)
    assert params.expression[3] == 2.5 and torch.equal(params.expression[4:], frame.expression[4:])
    turn = math.radians(10)  # both eyes turn by the slider's change, and stay as far apart as they were
    assert params.pose[3, 1] == pytest.approx(frame.pose[3, 1] + turn)
    assert params.pose[4, 1] == pytest.approx(frame.pose[4, 1] + turn)
    assert params.pose[1, 2] == pytest.approx(0.0, abs=1e-7)  # the slider's 0 means no tilt
    untouched = [(0, axis) for axis in range(3)] + [(1, 0), (1, 1), (2, 0), (2, 1), (2, 2)]
    for joint, axis in untouched:
        assert params.pose[joint, axis] == pytest.approx(frame.pose[joint, axis].item(), abs=1e-7)


def test_pose_sliders_show_no_minus_zero():
    assert all(math.copysign(1, value) == 1 for value in controls_from_params(FlameParams.neutral(3))[1].values())
    assert {control.name for control in POSE_CONTROLS} >= {"jaw", "jaw_side", "head_turn", "eyes_up"}


def gem_frame() -> FlameParams:
    """A GEM timeline frame: eigen coefficients (P, K) in float64, which float32 sliders cannot hold exactly."""
    frame = FlameParams.neutral(9)
    frame.eigen = torch.randn(3, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    return frame


def test_untouched_eigen_sliders_keep_the_frame_exactly_and_moved_ones_set_it():
    frame = gem_frame()
    expression, pose, eigen = controls_from_params(frame)
    assert torch.equal(eigen, frame.eigen)
    sliders = eigen.to(torch.float32)  # what the window's sliders hold
    assert not torch.equal(sliders.double(), frame.eigen)
    params = params_from_controls(expression, pose, frame, sliders)
    assert torch.equal(params.eigen, frame.eigen) and params.eigen is not frame.eigen
    sliders[1, 4] = 2.5
    params = params_from_controls(expression, pose, frame, sliders)
    assert params.eigen[1, 4] == 2.5
    moved = torch.zeros(3, 5, dtype=torch.bool)
    moved[1, 4] = True
    assert torch.equal(params.eigen[~moved], frame.eigen[~moved])


def test_eigen_sliders_without_a_frame_set_the_coefficients_and_no_sliders_keep_the_frames():
    sliders = torch.zeros(2, 4)
    sliders[1, 2] = -1.5
    assert torch.equal(params_from_controls([0.0] * 9, {}, eigen=sliders).eigen, sliders)
    frame = gem_frame()
    assert torch.equal(params_from_controls([0.0] * 9, {}, frame).eigen, frame.eigen)  # an avatar without sliders
    assert params_from_controls([0.0] * 9, {}).eigen is None
    assert controls_from_params(FlameParams.neutral(9)).eigen is None


def test_eigen_sliders_add_to_the_live_face():
    live = gem_frame()
    live.expression[2] = 0.5
    sliders = torch.zeros(3, 5)
    sliders[0, 1] = 1.0
    params = with_offsets(live, [0.25] + [0.0] * 8, {"jaw": 10.0}, sliders)
    assert torch.equal(params.eigen, live.eigen + sliders)
    assert params.expression[:3].tolist() == [0.25, 0.0, 0.5]
    assert params.pose[2, 0] == pytest.approx(math.radians(10))
    assert torch.equal(with_offsets(live, [0.0] * 9, {}).eigen, live.eigen)  # no eigen sliders: kept
    tracked = FlameParams.neutral(9)  # tracking gives no eigen coefficients: the sliders alone
    assert torch.equal(with_offsets(tracked, [0.0] * 9, {}, sliders).eigen, sliders)
    assert with_offsets(tracked, [0.0] * 9, {}).eigen is None


def test_playback_goes_by_the_clock_and_loops():
    assert frame_at(0, 10.0, 10.0, 300) == 0
    assert frame_at(0, 10.0, 11.0, 300) == 25  # 25 dataset frames a second
    assert frame_at(5, 0.0, 0.039, 300) == 5
    assert frame_at(290, 0.0, 1.0, 300) == 15  # loops
    assert frame_at(0, 0.0, 2.0, 300, fps=10) == 20


def test_playback_skips_frames_when_the_window_draws_slowly():
    playback = Playback(1000)
    playback.play(now=100.0)
    shown = [playback.advance(100.0 + 0.25 * k) for k in range(5)]  # a render every quarter of a second
    assert shown == [0, 6, 12, 18, 25]


def test_play_pause_and_seek():
    playback = Playback(10)
    assert not playback.playing and playback.advance(5.0) == 0
    playback.toggle(now=0.0)
    assert playback.playing and playback.advance(0.2) == 5
    playback.toggle(now=0.3)
    assert not playback.playing and playback.advance(9.0) == 5  # paused where it was
    playback.play(now=1.0)
    playback.seek(-1)  # seeking pauses, and wraps around
    assert not playback.playing and playback.frame == 9
    playback.seek(12)
    assert playback.frame == 2
    playback.play(now=2.0)  # plays on from where it stands
    assert playback.advance(2.08) == 4
