"""Offline processing of a whole tracked video: neutral estimation, zero-phase smoothing, driving the avatar."""
import math

import numpy as np
import pytest
import torch

from models.camera import Camera
from models.params import FlameParams, FlameSequence
from tracking.offline import (
    EASE_SECONDS,
    HOLD_SECONDS,
    drive_sequence,
    estimate_neutral,
    face_runs,
    neutral_from_frame,
    smooth_sequence,
)
from tracking.sequence_file import TrackedSequence
from tracking.smoothing import ParamSmoother

FPS = 30.0
E = 10  # expression coefficients


def make_tracked(expression: np.ndarray, pose: np.ndarray | None = None, face_found: np.ndarray | None = None,
                 translation: np.ndarray | None = None, fps: float = FPS) -> TrackedSequence:
    """A TrackedSequence from arrays; frames without a face hold the last face's values, as track_source writes."""
    frames = len(expression)
    pose = np.zeros((frames, 5, 3)) if pose is None else pose
    translation = np.tile([0.01, -0.02, -0.5], (frames, 1)) if translation is None else translation
    found = np.ones(frames, bool) if face_found is None else np.asarray(face_found, bool)
    expression, pose, translation = (np.array(a, np.float32) for a in (expression, pose, translation))
    held = None
    for index in range(frames):
        if found[index]:
            held = index
        else:
            for array in (expression, pose, translation):
                array[index] = 0 if held is None else array[held]
    errors = np.where(found, 1.0, np.nan).astype(np.float32)
    params = FlameSequence(torch.from_numpy(expression), torch.from_numpy(pose), torch.from_numpy(translation),
                           tuple(str(i) for i in range(frames)))
    camera = Camera(64, 64, 64.0, 64.0, 31.5, 31.5, torch.diag(torch.tensor([1.0, -1.0, -1.0, 1.0])))
    return TrackedSequence(params, found, errors, fps, camera)


def talking_video(seed: int = 0, frames: int = 600):
    """A planted neutral, at rest for 40% of the frames; talking (jaw open, mouth shapes) and closed-mouth
    smiles the rest; fit noise everywhere. Returns (tracked, neutral expression, neutral jaw)."""
    rng = np.random.default_rng(seed)
    rest = rng.normal(0.0, 0.8, E)
    rest_jaw = np.array([0.03, 0.0, 0.0])
    smile = rest + np.r_[2.5, 2.0, -1.5, np.zeros(E - 3)]
    kind = rng.choice(["rest", "talk", "smile"], size=frames, p=[0.4, 0.35, 0.25])
    expression = np.empty((frames, E))
    pose = np.zeros((frames, 5, 3))
    pose[:, 0] = rng.normal(0.0, 0.1, (frames, 3))  # head rotation: anything
    pose[:, 3:5] = rng.normal(0.0, 0.05, (frames, 2, 3))
    for index, what in enumerate(kind):
        noise = rng.normal(0.0, 0.15, E)
        if what == "rest":
            expression[index], jaw = rest + noise, rest_jaw + [rng.normal(0.0, 0.01), 0, 0]
        elif what == "talk":
            expression[index] = rest + rng.normal(0.0, 1.5, E)
            jaw = rest_jaw + [rng.uniform(0.05, 0.4), rng.normal(0.0, 0.01), 0]
        else:
            expression[index], jaw = smile + noise, rest_jaw + [rng.normal(0.01, 0.01), 0, 0]
        pose[index, 2] = jaw
    found = rng.random(frames) > 0.1
    return make_tracked(expression, pose, found), rest, rest_jaw


# -- neutral ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_estimate_neutral_recovers_the_planted_rest_face(seed):
    tracked, rest, rest_jaw = talking_video(seed)
    neutral = estimate_neutral(tracked)
    error = np.linalg.norm(neutral.expression.numpy() - rest)
    found = tracked.face_found
    median_error = np.linalg.norm(np.median(tracked.params.expression.numpy()[found], axis=0) - rest)
    print(f"seed {seed}: neutral expression error {error:.3f} (per-coefficient median of all faces: "
          f"{median_error:.3f}); jaw error {np.linalg.norm(neutral.pose[2].numpy() - rest_jaw):.4f}")
    assert error < 0.1  # one frame's noise alone is ~0.15 * sqrt(10) = 0.47; the smile is 3.6 away
    assert error < median_error  # better than the naive rule
    np.testing.assert_allclose(neutral.pose[2].numpy(), rest_jaw, atol=0.01)
    pose = neutral.pose.clone()
    pose[2] = 0
    assert torch.count_nonzero(pose) == 0 and torch.count_nonzero(neutral.translation) == 0


def test_estimate_neutral_ignores_poor_fits_and_needs_a_face():
    tracked, rest, _ = talking_video(3)
    # Poor fits with a closed mouth and a wild expression: without the fit-error rule they could drag the neutral.
    wild = np.arange(len(tracked)) % 3 == 0
    tracked.params.expression[torch.from_numpy(wild & tracked.face_found)] = 6.0
    tracked.params.pose[torch.from_numpy(wild), 2] = 0.0
    tracked.fit_error_px[wild & tracked.face_found] = 10.0
    assert np.linalg.norm(estimate_neutral(tracked).expression.numpy() - rest) < 0.15
    nobody = make_tracked(np.zeros((5, E)), face_found=np.zeros(5, bool))
    with pytest.raises(ValueError) as info:
        estimate_neutral(nobody)
    assert "\n" not in str(info.value) and "face" in str(info.value)


def test_neutral_from_frame_takes_that_frame_and_refuses_a_frame_without_a_face():
    rng = np.random.default_rng(0)
    expression = rng.normal(size=(8, E))
    pose = rng.normal(0.0, 0.2, (8, 5, 3))
    found = np.array([0, 1, 1, 0, 0, 1, 1, 1], bool)
    tracked = make_tracked(expression, pose, found)
    neutral = neutral_from_frame(tracked, 5)
    np.testing.assert_allclose(neutral.expression.numpy(), expression[5], atol=1e-6)
    np.testing.assert_allclose(neutral.pose[2].numpy(), pose[5, 2], atol=1e-6)
    assert torch.count_nonzero(neutral.pose[[0, 1, 3, 4]]) == 0 and torch.count_nonzero(neutral.translation) == 0
    np.testing.assert_allclose(neutral_from_frame(tracked, -1).expression.numpy(), expression[7], atol=1e-6)
    for index, words in ((3, "has no face"), (0, "has no face"), (8, "out of range")):
        with pytest.raises(ValueError) as info:
            neutral_from_frame(tracked, index)
        message = str(info.value)
        print(message)
        assert "\n" not in message and words in message and str(index) in message
    with pytest.raises(ValueError, match="nearest frame with a face is 2"):
        neutral_from_frame(tracked, 3)


# -- smoothing --------------------------------------------------------------------------------------------------

def test_smoothed_step_has_no_lag_and_noise_is_reduced():
    frames, step = 120, 60  # the step falls between frames 59 and 60
    clean = np.where(np.arange(frames) < step, 0.0, 1.0)
    expression = np.tile(clean[:, None], (1, E))
    pose = np.zeros((frames, 5, 3))
    pose[:, 0, 1] = 0.5 * clean  # a head turn
    pose[:, 2, 0] = 0.3 * clean  # the jaw opening
    out = smooth_sequence(make_tracked(expression, pose), 1.0)
    for values, height in ((out.expression[:, 0], 1.0), (out.pose[:, 0, 1], 0.5), (out.pose[:, 2, 0], 0.3)):
        values = values.numpy() / height
        assert abs(values[step - 1] + values[step] - 1.0) < 1e-5  # symmetric about the step: midpoint on it
        assert 0.0 < values[step - 1] < 0.5 < values[step] < 1.0  # ... and it is smoothed
        assert np.all(np.diff(values) >= -1e-6)
    # Lag in frames: the area between the ideal step and the output. None here; the live (causal) filter's is
    # positive, as it only starts moving at the step.
    live = ParamSmoother()
    causal = np.array([live({"expression": row}, i / FPS)["expression"][0] for i, row in enumerate(expression)])
    lag, live_lag = (float(np.sum(clean - y)) for y in (out.expression[:, 0].numpy(), causal))
    print(f"step lag: zero-phase {lag:.2e} frames, live {live_lag:.2f} frames")
    assert abs(lag) < 1e-4 and live_lag > 0.25  # measured: live 0.42 frames
    rng = np.random.default_rng(0)
    noise = rng.normal(0.0, 0.2, (300, E))
    noisy = make_tracked(1.0 + noise)
    out = smooth_sequence(noisy, 1.0).expression.numpy()
    ratio = (out - 1.0)[30:-30].std() / noise[30:-30].std()
    print(f"zero-phase One Euro on expression noise: std ratio {ratio:.3f}")
    assert ratio < 0.7  # measured 0.59 (the expression group's cutoff was raised for blinks)
    assert abs(out.mean() - 1.0) < 0.05


def test_smoothing_keeps_a_ramp_in_place():
    """A steady motion is followed without lag away from the ends (the live filter trails it)."""
    ramp = np.arange(150) / FPS * 0.5  # 0.5 rad/s head turn
    pose = np.zeros((150, 5, 3))
    pose[:, 0, 1] = ramp
    out = smooth_sequence(make_tracked(np.zeros((150, E)), pose)).pose[:, 0, 1].numpy()
    assert np.abs(out - ramp)[30:-30].max() < 1e-3


def test_gaps_are_not_bridged():
    found = np.r_[np.ones(40), np.zeros(10), np.ones(40)].astype(bool)
    values = np.r_[np.zeros(50), np.full(40, 2.0)]
    pose = np.zeros((90, 5, 3))
    pose[:, 0, 2] = values
    tracked = make_tracked(np.tile(values[:, None], (1, E)), pose, found)
    out = smooth_sequence(tracked)
    np.testing.assert_array_equal(out.expression[:40].numpy(), 0.0)  # nothing of the later run leaks back
    np.testing.assert_array_equal(out.expression[50:].numpy(), 2.0)  # nor of the earlier one forward
    np.testing.assert_array_equal(out.pose[50:, 0, 2].numpy(), 2.0)
    assert face_runs(found) == [(0, 40), (50, 90)]


def test_gap_frames_hold_the_last_smoothed_frame():
    rng = np.random.default_rng(1)
    found = np.r_[np.zeros(5), np.ones(30), np.zeros(10), np.ones(30)].astype(bool)
    tracked = make_tracked(rng.normal(size=(75, E)), rng.normal(0, 0.1, (75, 5, 3)), found,
                           translation=rng.normal(0, 0.1, (75, 3)))
    out = smooth_sequence(tracked)
    for array in (out.expression, out.pose, out.translation):
        assert torch.equal(array[:5], torch.zeros_like(array[:5]))  # before the first face: as tracked
        assert torch.equal(array[35:45], array[34:35].expand_as(array[35:45]))
    assert not torch.allclose(out.expression[34], tracked.params.expression[34])  # it was smoothed


def test_strength_zero_passes_values_through_and_smoothing_is_pure():
    rng = np.random.default_rng(2)
    found = rng.random(50) > 0.2
    tracked = make_tracked(rng.normal(size=(50, E)), rng.normal(0, 0.2, (50, 5, 3)), found,
                           translation=rng.normal(0, 0.1, (50, 3)))
    before = [tensor.clone() for tensor in (tracked.params.expression, tracked.params.pose,
                                            tracked.params.translation)]
    out = smooth_sequence(tracked, 0.0)
    for mine, theirs in zip((out.expression, out.pose, out.translation), before):
        assert torch.equal(mine, theirs) and mine.dtype == theirs.dtype
    assert out.names == tracked.params.names
    smooth_sequence(tracked, 1.0)
    drive_sequence(tracked, estimate_neutral(tracked))
    for mine, theirs in zip((tracked.params.expression, tracked.params.pose, tracked.params.translation), before):
        assert torch.equal(mine, theirs)  # nothing changed in place
    with pytest.raises(ValueError):
        smooth_sequence(tracked, 1.5)


# -- driving ----------------------------------------------------------------------------------------------------

def test_drive_is_relative_to_the_neutral_and_drops_translation():
    rng = np.random.default_rng(3)
    expression, pose = rng.normal(size=(40, E)), rng.normal(0, 0.2, (40, 5, 3))
    tracked = make_tracked(expression, pose, translation=rng.normal(0, 0.1, (40, 3)))
    neutral = FlameParams(torch.from_numpy(rng.normal(size=E)).float(), torch.randn(5, 3), torch.randn(3))
    out = drive_sequence(tracked, neutral, relative=True, smoothing=0.0)
    assert len(out) == 40 and out.names == tracked.params.names
    np.testing.assert_allclose(out.expression.numpy(), expression - neutral.expression.numpy(), atol=1e-5)
    np.testing.assert_allclose(out.pose[:, 2].numpy(), pose[:, 2] - neutral.pose[2].numpy(), atol=1e-5)
    np.testing.assert_allclose(out.pose[:, 0].numpy(), pose[:, 0], atol=1e-6)  # head rotation kept
    np.testing.assert_allclose(out.pose[:, 3:5].numpy(), pose[:, 3:5], atol=1e-6)  # eyes kept, not relative
    assert torch.count_nonzero(out.pose[:, 1]) == 0 and torch.count_nonzero(out.translation) == 0
    absolute = drive_sequence(tracked, neutral, relative=False, smoothing=0.0)
    np.testing.assert_allclose(absolute.expression.numpy(), expression, atol=1e-6)
    np.testing.assert_allclose(absolute.pose[:, 2].numpy(), pose[:, 2], atol=1e-6)
    assert torch.equal(drive_sequence(tracked, None, smoothing=0.0).expression, absolute.expression)
    smoothed = smooth_sequence(tracked, 1.0)
    out = drive_sequence(tracked, neutral, smoothing=1.0)
    torch.testing.assert_close(out.expression, smoothed.expression - neutral.expression)
    with pytest.raises(ValueError, match="expression coefficients"):
        drive_sequence(tracked, FlameParams.neutral(E + 1))


def test_lost_face_holds_then_eases_to_neutral_and_frames_before_the_first_face_are_neutral():
    rng = np.random.default_rng(4)
    first, last, frames = 6, 20, 120  # faces in frames 6..20, then none: 99 frames, 3.3 s
    found = np.zeros(frames, bool)
    found[first:last + 1] = True
    tracked = make_tracked(rng.normal(size=(frames, E)), rng.normal(0, 0.2, (frames, 5, 3)), found)
    neutral = neutral_from_frame(tracked, 10)
    out = drive_sequence(tracked, neutral, smoothing=1.0)
    assert len(out) == frames
    assert torch.count_nonzero(out.expression[:first]) == 0 and torch.count_nonzero(out.pose[:first]) == 0
    driven_expression, driven_pose = out.expression[last], out.pose[last]
    assert torch.count_nonzero(driven_expression) > 0
    for index in range(last + 1, frames):
        since = (index - last) / FPS
        keep = 1.0 if since <= HOLD_SECONDS else math.exp(-3.0 * (since - HOLD_SECONDS) / EASE_SECONDS)
        torch.testing.assert_close(out.expression[index], driven_expression * keep)
        torch.testing.assert_close(out.pose[index], driven_pose * keep)
    assert torch.equal(out.expression[last + 15], driven_expression)  # 0.5 s: still held
    assert not torch.equal(out.expression[last + 16], driven_expression)  # then easing
    assert out.expression[-1].abs().max() < 0.01 * driven_expression.abs().max()  # ~neutral after 2.8 s of ease
    assert torch.count_nonzero(out.translation) == 0


def test_defaults_match_the_live_tracker():
    from tracking.tracker import TrackerSettings

    settings = TrackerSettings()
    assert (HOLD_SECONDS, EASE_SECONDS) == (settings.hold_seconds, settings.ease_seconds)
