"""Offline work on a whole video: track it, estimate the driver's neutral, smooth without lag, drive an avatar.

The live tracker (tracking/tracker.py) only sees the past, so its smoothing lags and its neutral must be
calibrated by hand. A video tracked whole (`track_source`) is known whole, so here:

- `estimate_neutral` finds the driver's rest face by itself (`neutral_from_frame` takes a chosen frame instead);
- `smooth_sequence` smooths with the live tracker's One Euro settings, but zero-phase: no lag, and no smoothing
  across frames without a face;
- `drive_sequence` turns the tracked sequence into what drives the avatar, one frame per input frame, retargeted
  and with lost faces handled as the live tracker handles them; `drive_tracked` with the neutral chosen first.

Pure functions: nothing is changed in place.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from time import perf_counter

import numpy as np
import torch
from tqdm import tqdm

from models.params import EYES, GLOBAL, JAW, NECK, FlameParams, FlameSequence
from tracking.retarget import EASE_SECONDS, HOLD_SECONDS, lost_face_weight, retarget
from tracking.sequence_file import TrackedSequence
from tracking.smoothing import DEFAULT_GROUPS, ParamSmoother
from tracking.sources import FrameSource
from tracking.tracker import TrackedFrame, Tracker, fitting_camera

# Smoothing groups per pose joint, with the live tracker's settings (tracking/smoothing.py DEFAULT_GROUPS); the
# neck, which the live tracker does not drive, is smoothed as the head's rotation.
NECK_GROUP = "neck"

CLOSED_MOUTH_QUANTILE = 0.25  # estimate_neutral: the frames whose jaw is opened least, this fraction of them
NEAREST_FRACTION = 0.5  # ...and of those, the fraction nearest the rest expression
MODE_ITERATIONS = 3  # ...re-centred on the frames kept this many times
POOR_FIT_FACTOR = 2.0  # ...leaving out fits whose landmark error exceeds this many times the median


def track_source(source: FrameSource, tracker: Tracker, progress: bool = True,
                 on_frame: Callable[[TrackedFrame, float], None] | None = None) -> TrackedSequence:
    """Track every frame of a file source: the raw fits (held from the last face where none was found), which
    frames had a face, and the fit error. A progress bar unless `progress` is False; `on_frame` gets each
    frame's result and the seconds its tracking took.

    The frames tracked before the user's face was estimated (the first `shape_frames` with a face) are fitted
    again with it once it is: they would otherwise be the template face's fits, off by the user's proportions."""
    expression, pose, translation, names, found, errors = [], [], [], [], [], []
    held = FlameParams.neutral(tracker.head.num_expressions)
    size = source.size
    early: list[tuple[int, np.ndarray]] = []  # (row, landmarks) of the frames with a face fitted before the shape
    with tqdm(total=source.frame_count, unit="frame", desc="tracking", disable=not progress) as bar:
        for frame in source:
            start = perf_counter()
            estimated = tracker.shape is not None
            result = tracker.track(frame.index, frame.time, frame.image)
            if on_frame is not None:
                on_frame(result, perf_counter() - start)
            held = result.fitted if result.face_found else held
            if result.face_found and not estimated:
                early.append((len(names), result.landmarks))
            expression.append(held.expression)
            pose.append(held.pose)
            translation.append(held.translation)
            names.append(str(frame.index))
            found.append(result.face_found)
            errors.append(result.error_px)
            bar.update()
    if tracker.shape is not None and early:
        state = None
        for row, points in early:
            refit = tracker.refit(points, size, state)
            state = refit.state
            expression[row], pose[row], translation[row] = (refit.params.expression, refit.params.pose,
                                                            refit.params.translation)
            errors[row] = refit.error_px
        # A frame without a face among them held the fit before it: hold the refitted one.
        for row in range(early[0][0], early[-1][0] + 1):
            if not found[row]:
                expression[row], pose[row], translation[row] = expression[row - 1], pose[row - 1], translation[row - 1]
    params = FlameSequence(torch.stack(expression), torch.stack(pose), torch.stack(translation), tuple(names))
    return TrackedSequence(params, np.array(found), np.array(errors, np.float32), source.fps,
                           fitting_camera(*size, tracker.settings.focal), tracker.head.expression_names)


def estimate_neutral(tracked: TrackedSequence) -> FlameParams:
    """The driver's neutral (rest face) estimated from the video: expression and jaw; pose zero elsewhere, no
    translation. Raises a one-line ValueError if no frame has a face.

    The rule, over the frames with a face:

    1. Leave out poor fits (landmark error above POOR_FIT_FACTOR x the median error), unless that leaves none:
       occlusions and motion blur give fits that belong to no expression.
    2. Keep the frames with the mouth most closed: jaw opening (the jaw's rotation angle) in the lowest quartile.
       A face at rest has its mouth closed, and the jaw is the best-fitted part of the mouth, so this removes
       speech whatever the expression fit makes of it.
    3. Among those, find the most common expression, robustly: start from the per-coefficient median, keep the
       half of the frames nearest it, take the median of those, and repeat a few times. A median is not moved
       by outliers, and re-centring on the nearest half moves it from between two groups (rest and a
       closed-mouth smile, say) into the larger one, as a mode seeker would, where a plain median or mean would
       stay in between.
    4. Return the mean expression and jaw of the frames finally kept: the average of many frames at rest cancels
       the fit's frame-to-frame noise.

    It assumes the driver is at rest for a good part of the closed-mouth frames, as in most talking videos; where
    the driver never rests (a video of constant smiling), choose a frame with `neutral_from_frame` instead.
    """
    found = np.flatnonzero(tracked.face_found)
    if found.size == 0:
        raise ValueError(f"cannot estimate a neutral: none of the {len(tracked)} frames has a face")
    errors = tracked.fit_error_px[found].astype(np.float64)
    if np.isfinite(errors).any():
        good = ~(errors > POOR_FIT_FACTOR * np.nanmedian(errors))  # NaN errors (unknown) are kept
        found = found[good] if good.any() else found

    expression = tracked.params.expression[found].detach().cpu().double().numpy()
    jaw = tracked.params.pose[found, JAW].detach().cpu().double().numpy()
    opening = np.linalg.norm(jaw, axis=1)
    closed = opening <= np.quantile(opening, CLOSED_MOUTH_QUANTILE)  # never empty: the minimum is in it
    expression, jaw = expression[closed], jaw[closed]

    keep = max(1, math.ceil(NEAREST_FRACTION * len(expression)))
    centre = np.median(expression, axis=0)
    for _ in range(MODE_ITERATIONS):
        nearest = np.argsort(np.linalg.norm(expression - centre, axis=1), kind="stable")[:keep]
        centre = np.median(expression[nearest], axis=0)
    nearest = np.argsort(np.linalg.norm(expression - centre, axis=1), kind="stable")[:keep]

    neutral = FlameParams.neutral(expression.shape[1])
    neutral.expression[:] = torch.from_numpy(expression[nearest].mean(axis=0))
    neutral.pose[JAW] = torch.from_numpy(jaw[nearest].mean(axis=0))
    return neutral


def neutral_from_frame(tracked: TrackedSequence, index: int) -> FlameParams:
    """The neutral taken from one frame (`--neutral-frame`): its fitted expression and jaw; pose zero elsewhere,
    no translation. A frame out of range or without a face raises a one-line ValueError."""
    frames = len(tracked)
    if not -frames <= index < frames:
        raise ValueError(f"neutral frame {index} is out of range: the video has {frames} frames (0..{frames - 1})")
    index = index % frames
    if not tracked.face_found[index]:
        found = np.flatnonzero(tracked.face_found)
        hint = (f"the nearest frame with a face is {int(found[np.argmin(np.abs(found - index))])}" if found.size
                else "no frame has one")
        raise ValueError(f"neutral frame {index} has no face; {hint}")
    neutral = FlameParams.neutral(tracked.params.expression.shape[1])
    neutral.expression[:] = tracked.params.expression[index].detach().cpu()
    neutral.pose[JAW] = tracked.params.pose[index, JAW].detach().cpu()
    return neutral


def smooth_sequence(tracked: TrackedSequence, strength: float = 1.0) -> FlameSequence:
    """The tracked parameters smoothed in time with no lag; `strength` in [0, 1] as the live smoother's (0: the
    values unchanged).

    Each parameter group (expression, jaw, head rotation, eyes, neck, translation) gets the live tracker's One
    Euro filter (tracking/smoothing.py DEFAULT_GROUPS, cut-offs divided by `strength`) run twice, forward and
    backward in time, and the two averaged. For a still signal the One Euro filter is a first-order low-pass;
    the average of its forward and backward passes is then the symmetric kernel (a two-sided exponential) with
    response 1 / (1 + (f / f_c)^2), as a forward-then-backward cascade would give: no phase shift, no lag. With
    motion, the cut-off rises with speed, as live; and the result is symmetric in time whatever the speed (the
    smoothing of a reversed video is the reversed smoothing), so that a step's midpoint stays where it was.

    Only runs of consecutive frames with a face are smoothed, each on its own: nothing is smoothed into or across
    a gap. Frames without a face hold the last smoothed frame before them (the tracked sequence held the last
    fit there); frames before the first face keep their values.
    """
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"smoothing strength must be within [0, 1], not {strength}")
    params = tracked.params
    expression = params.expression.detach().cpu().numpy().astype(np.float64)
    pose = params.pose.detach().cpu().numpy().astype(np.float64)
    translation = params.translation.detach().cpu().numpy().astype(np.float64)
    if strength > 0:
        groups = {"expression": expression, "rotation": pose[:, GLOBAL], NECK_GROUP: pose[:, NECK],
                  "jaw": pose[:, JAW], "eyes": pose[:, EYES], "translation": translation}
        smoothed = {name: values.copy() for name, values in groups.items()}
        times = np.arange(len(tracked)) / float(tracked.fps)
        for start, stop in face_runs(tracked.face_found):
            run = {name: values[start:stop] for name, values in groups.items()}
            forward = _one_euro(run, times[start:stop], strength)
            # Backward: the run reversed, at increasing times (the filter sees a video played backwards).
            backward = _one_euro({name: values[::-1] for name, values in run.items()},
                                 times[stop - 1] - times[start:stop][::-1], strength)
            for name in groups:
                smoothed[name][start:stop] = 0.5 * (forward[name] + backward[name][::-1])
        expression, translation = smoothed["expression"], smoothed["translation"]
        pose = pose.copy()
        pose[:, GLOBAL], pose[:, NECK], pose[:, JAW] = smoothed["rotation"], smoothed[NECK_GROUP], smoothed["jaw"]
        pose[:, EYES] = smoothed["eyes"]
        for index in _held_frames(tracked.face_found):
            expression[index], pose[index], translation[index] = (
                expression[index - 1], pose[index - 1], translation[index - 1])
    dtype = params.expression.dtype
    return FlameSequence(torch.from_numpy(expression).to(dtype), torch.from_numpy(pose).to(dtype),
                         torch.from_numpy(translation).to(dtype), tuple(params.names))


def drive_sequence(tracked: TrackedSequence, neutral: FlameParams | None, relative: bool = True,
                   smoothing: float = 1.0, hold_seconds: float = HOLD_SECONDS,
                   ease_seconds: float = EASE_SECONDS) -> FlameSequence:
    """What drives the avatar, one frame per input frame, as the live tracker would drive it (tracking/retarget.py)
    but smoothed with no lag (`smooth_sequence(tracked, smoothing)`):

    - frames with a face: retargeted, relative to `neutral` when `relative` (None: a zero neutral);
    - frames without a face: the last driven frame, held, then eased toward rest (`lost_face_weight`), each
      frame's time being index / fps;
    - frames before the first face: rest (all zero).
    """
    count = tracked.params.expression.shape[1]
    neutral = FlameParams.neutral(count) if neutral is None else neutral
    if neutral.expression.shape != (count,):
        raise ValueError(f"the neutral has {tuple(neutral.expression.shape)} expression coefficients; the tracked "
                         f"sequence has {count}")
    smoothed = smooth_sequence(tracked, smoothing)
    frames = len(tracked)
    expression = torch.zeros_like(smoothed.expression)
    pose = torch.zeros_like(smoothed.pose)
    found = torch.from_numpy(tracked.face_found)
    expression[found], pose[found] = retarget(smoothed.expression[found], smoothed.pose[found], neutral, relative)

    last_face: int | None = None
    for index in range(frames):
        if tracked.face_found[index]:
            last_face = index
            continue
        if last_face is None:
            continue  # before the first face: neutral
        keep = lost_face_weight((index - last_face) / float(tracked.fps), hold_seconds, ease_seconds)
        expression[index] = expression[last_face] * keep
        pose[index] = pose[last_face] * keep
    return FlameSequence(expression, pose, torch.zeros_like(smoothed.translation), tuple(tracked.params.names))


def drive_tracked(tracked: TrackedSequence, neutral_frame: int | None = None, relative: bool = True,
                  smoothing: float = 1.0) -> tuple[FlameSequence, str | None]:
    """`drive_sequence` from the neutral estimated (`neutral_frame` None) or taken from that frame; returns it and
    a note where no frame has a face to estimate from (the avatar then stays at rest). A `neutral_frame` out of
    range or without a face raises a one-line ValueError."""
    note = None
    if neutral_frame is not None:
        neutral = neutral_from_frame(tracked, neutral_frame)
    else:
        try:
            neutral = estimate_neutral(tracked)
        except ValueError as err:
            neutral, note = None, str(err)
    return drive_sequence(tracked, neutral, relative=relative, smoothing=smoothing), note


def face_runs(face_found: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each run of consecutive frames with a face, in order."""
    found = np.asarray(face_found, dtype=bool)
    edges = np.diff(np.r_[0, found.astype(np.int8), 0])
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def _held_frames(face_found: np.ndarray) -> np.ndarray:
    """The frames without a face that come after some frame with a face, in order."""
    found = np.asarray(face_found, dtype=bool)
    seen = np.cumsum(found) > 0
    return np.flatnonzero(seen & ~found)


def _one_euro(groups: dict[str, np.ndarray], times: np.ndarray, strength: float) -> dict[str, np.ndarray]:
    """The live tracker's causal One Euro smoothing of a run of frames: {name: (N, ...)} -> the same, smoothed."""
    smoother = ParamSmoother(groups={NECK_GROUP: DEFAULT_GROUPS["rotation"]}, strength=strength)
    out = {name: np.empty_like(values) for name, values in groups.items()}
    for index, time in enumerate(times):
        step = smoother({name: values[index] for name, values in groups.items()}, float(time))
        for name, value in step.items():
            out[name][index] = value
    return out
