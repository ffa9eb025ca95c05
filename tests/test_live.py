"""The live pipeline (tracking/live.py): a fake webcam faster than the tracker (newest frame wins, latency bounded),
unplugged and plugged back in, a webcam that is not there, a video file and an image folder played in real time
and looping, the controls applied while tracking, and a failing tracker reported. Run with -s for the figures.

The fake webcam is CameraSource(grab=...) showing the astronaut photo; every driver uses the demo avatar's head and
MediaPipe's face mesh (one graph shared by the tests, except the first, which lets the driver build its own).
"""
from __future__ import annotations

import statistics
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from avatar import load_avatar
from tracking.live import NO_SIGNAL_SECONDS, STATUSES, LiveDriver, LiveState
from tracking.sources import CameraSource
from tracking.tracker import TrackerSettings

FACES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "faces"
needs_faces = pytest.mark.skipif(not FACES.is_dir(), reason="../shared/fixtures/faces is absent")
ASTRONAUT = FACES / "skimage_astronaut.png"
VIDEO = FACES / "pyfeat_single_face.mp4"  # 640x360, 30 fps, 72 frames
PATIENCE = 30.0  # seconds a wait for something that must come may take (a slow machine only makes it later)


@pytest.fixture(scope="module")
def head():
    return load_avatar().head


@pytest.fixture(scope="module")
def detector():
    from tracking.face_mesh import FaceMeshDetector

    with FaceMeshDetector(static_images=False, max_faces=2) as mesh:
        yield mesh


class FakeCamera:
    """A grab function: the same BGR image every `period` seconds, recording when each frame was captured; while
    unplugged, reads fail (as cv2's do) or, with `stall`, block until plugged back in."""

    def __init__(self, image: np.ndarray, period: float):
        self.image, self.period = image, period
        self.times: list[float] = []  # perf_counter() at each good grab; index i is CameraSource's frame i
        self.plugged = threading.Event()
        self.plugged.set()
        self.stall = False

    def __call__(self):
        if not self.plugged.is_set():
            if self.stall:
                self.plugged.wait()
            else:
                time.sleep(0.01)
                return False, None
        time.sleep(self.period)
        self.times.append(time.perf_counter())
        return True, self.image


def astronaut_bgr() -> np.ndarray:
    return cv2.imread(str(ASTRONAUT), cv2.IMREAD_COLOR)


def collect(driver: LiveDriver, seconds: float, until=None) -> list[LiveState]:
    """Every distinct state seen by polling latest() for `seconds` (or until `until(state)` is true)."""
    states: list[LiveState] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        state = driver.latest()
        if state is not None and (not states or state.number != states[-1].number):
            states.append(state)
            if until is not None and until(state):
                break
        time.sleep(0.001)
    assert driver.error is None, driver.problem
    return states


def wait_for(predicate, seconds: float) -> bool:
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


@needs_faces
def test_newest_frame_wins_and_latency_stays_bounded(head):
    camera = FakeCamera(astronaut_bgr(), period=0.003)
    source = CameraSource(grab=camera)
    with LiveDriver(source, head, TrackerSettings(shape_frames=0)) as driver:  # its own MediaPipe graph
        assert driver.status == "starting"
        assert wait_for(lambda: driver.latest() is not None, PATIENCE), driver.problem
        assert driver.status == "live" and driver.problem is None
        states = collect(driver, 2.0)
    assert driver.status == "stopped"
    driver.stop()  # idempotent

    assert all(s.tracked.face_found and s.image.shape == (512, 512, 3) and s.image.dtype == np.uint8 for s in states)
    assert all(s.tracked.landmarks.shape == (478, 3) for s in states)
    assert all(b.number > a.number for a, b in zip(states, states[1:]))
    assert all(b.tracked.index > a.tracked.index for a, b in zip(states, states[1:]))
    # Frames are RGB: the astronaut's face is red-dominant.
    face = states[-1].image[100:200, 200:300].reshape(-1, 3).mean(axis=0)
    assert face[0] > face[2]

    states = states[1:]  # the first waited for the tracker's warm-up
    track = statistics.median(s.track_ms for s in states) / 1000
    latency = [s.latency for s in states]
    gaps = [b.tracked.index - a.tracked.index for a, b in zip(states, states[1:])]
    captured = len(camera.times)
    # Newest wins: when tracking took frame k, no frame after k had been captured yet (give or take the one
    # that may arrive during the hand-over).
    newest = 0
    for s in states:
        taken = s.tracked_at - s.track_ms / 1000
        later = sum(1 for t in camera.times[s.tracked.index + 1:s.tracked.index + 20] if t <= taken)
        newest += later <= 1
    print(f"\ncaptured {captured} frames, tracked {len(states) + 1}; tracker {states[-1].fps:.0f} fps, track "
          f"{track * 1000:.1f} ms median; latency median {statistics.median(latency) * 1000:.1f} ms, 90th pct "
          f"{np.percentile(latency, 90) * 1000:.1f} ms, max {max(latency) * 1000:.1f} ms; frames skipped per "
          f"tracked frame {statistics.mean(gaps) - 1:.2f}; took the newest {newest}/{len(states)}")
    assert statistics.mean(gaps) > 1.3  # the camera is faster: frames were skipped, not queued
    assert newest >= 0.9 * len(states)
    assert statistics.median(latency) < 2 * track + 0.005
    assert np.percentile(latency, 90) < 3 * track + 0.010
    assert states[-1].fps > 0 and states[-1].track_ms > 0


@needs_faces
def test_unplugged_camera_says_no_signal_then_comes_back(head, detector):
    camera = FakeCamera(astronaut_bgr(), period=0.02)
    source = CameraSource(grab=camera, retry_interval=0.2)
    with LiveDriver(source, head, TrackerSettings(shape_frames=0), detector) as driver:
        assert wait_for(lambda: driver.status == "live", PATIENCE), driver.problem
        # A read that fails: "no signal" (without waiting for NO_SIGNAL_SECONDS); the source tries again every
        # retry_interval, and says so while unplugged.
        camera.plugged.clear()
        assert wait_for(lambda: driver.status == "no signal", PATIENCE)
        assert driver.problem == "camera 0: no signal, trying again every second"
        time.sleep(0.5)
        assert driver.status == "no signal"
        before = driver.latest().number
        camera.plugged.set()
        assert wait_for(lambda: driver.status == "live" and driver.latest().number > before + 3, PATIENCE)
        assert driver.problem is None

        # A read that blocks (a stalled driver): "no signal" once no frame came for over a second, not before.
        camera.stall = True
        camera.plugged.clear()
        statuses = []  # (status, the last good grab's time, now)

        def no_signal() -> bool:
            statuses.append((driver.status, camera.times[-1], time.perf_counter()))
            return statuses[-1][0] == "no signal"

        assert wait_for(no_signal, PATIENCE)
        assert {status for status, _, _ in statuses} == {"live", "no signal"}
        _, last_frame, noticed = statuses[-1]
        assert noticed - last_frame > NO_SIGNAL_SECONDS
        before = driver.latest().number
        camera.plugged.set()
        assert wait_for(lambda: driver.status == "live" and driver.latest().number > before + 3, PATIENCE)
    assert driver.error is None


def test_missing_webcam_does_not_raise(head):
    driver = LiveDriver(57, head)
    assert driver.status == "no camera"
    assert driver.problem == "camera 57: cannot be opened (no camera at that index?)"
    with driver:
        assert driver.latest() is None and driver.status == "no camera"
    driver.stop()
    assert driver.status == "no camera" and driver.error is None


def test_missing_file_does_not_raise(head, tmp_path):
    driver = LiveDriver(tmp_path / "nothing.mp4", head)
    assert driver.status == "no source" and "no such file" in driver.problem and "\n" not in driver.problem
    driver.start()
    driver.stop()
    assert driver.latest() is None


def deliveries(driver: LiveDriver) -> list[tuple[int, float, bool]]:
    """What the playback thread of a driver not yet started will deliver: (frame index, perf_counter(), whether
    the tracker was ready then) for each frame."""
    delivered, put = [], driver._slot.put

    def spy(frame):
        delivered.append((frame.index, time.perf_counter(), driver._ready.is_set()))
        put(frame)

    driver._slot.put = spy
    return delivered


def loops(indices) -> int:
    return sum(b < a for a, b in zip(indices, indices[1:]))


@needs_faces
def test_video_file_plays_at_its_own_rate(head, detector):
    driver = LiveDriver(str(VIDEO), head, TrackerSettings(shape_frames=0), detector)
    delivered = deliveries(driver)
    with driver:
        states = collect(driver, PATIENCE, until=lambda state: state.tracked.index >= 45)  # 1.5 s of it
        assert driver.status == "live"
    indices, times, ready = (np.array(column) for column in zip(*delivered))
    first_pass = next((k for k in range(1, len(indices)) if indices[k] < indices[k - 1]), len(indices))
    rate = np.polyfit(times[:first_pass], indices[:first_pass], 1)[0]  # frames delivered per second of wall time
    print(f"\nvideo: {len(states)} frames tracked of {len(delivered)} delivered at {rate:.1f} fps (file: 30), "
          f"tracker {states[-1].fps:.0f} fps, track {statistics.median(s.track_ms for s in states):.1f} ms median, "
          f"latency {statistics.median(s.latency for s in states) * 1000:.1f} ms median")
    assert indices[0] == 0 and ready.all()  # playback began at the start of the file once the tracker was ready
    assert rate == pytest.approx(30.0, rel=0.05)
    assert states[0].image.shape == (360, 640, 3)
    tracked = np.array([s.tracked.index for s in states])
    assert np.all(np.diff(tracked) >= 1) and tracked[-1] >= 45  # in order, the newest each time
    assert sum(s.tracked.face_found for s in states) >= 0.95 * len(states)


@needs_faces
def test_image_folder_loops(head, detector, tmp_path):
    # Five frames at 25 fps: 0.2 s per pass.
    image = astronaut_bgr()
    for k in range(5):
        cv2.imwrite(str(tmp_path / f"frame_{k}.png"), np.roll(image, 4 * k, axis=1)[96:416, 96:416])
    driver = LiveDriver(tmp_path, head, TrackerSettings(shape_frames=0), detector)
    delivered = deliveries(driver)
    with driver:
        assert wait_for(lambda: loops([index for index, _, _ in delivered]) >= 3 and driver.latest(), PATIENCE)
        first = driver.latest().number
        states = collect(driver, PATIENCE, until=lambda state: state.number >= first + 5)
        assert driver.status == "live"
    indices, times, _ = (np.array(column) for column in zip(*delivered))
    rate = np.polyfit(times, np.arange(len(times)), 1)[0]
    print(f"\nfolder: indices {indices[:12].tolist()}..., {loops(indices)} loops, {len(states)} frames tracked of "
          f"{len(indices)} played, at {rate:.1f} fps")
    assert indices.tolist() == [k % 5 for k in range(len(indices))]  # every frame, round and round
    assert rate == pytest.approx(25.0, rel=0.05)
    assert all(0 <= s.tracked.index < 5 and s.image.shape == (320, 320, 3) for s in states)
    assert driver.status == "stopped"


@needs_faces
def test_controls_apply_between_frames(head, detector):
    camera = FakeCamera(astronaut_bgr(), period=0.005)
    # Her face is not learnt here: learnt from this one still photo, the rest face would take her smile itself.
    with LiveDriver(CameraSource(grab=camera), head, TrackerSettings(shape_frames=0), detector) as driver:
        assert wait_for(lambda: driver.latest() is not None and driver.latest().shape_estimated, PATIENCE)

        # Smoothing off, absolute: the avatar gets the raw fit.
        driver.set_relative(False)
        driver.set_smoothing(0.0)
        assert driver.smoothing == 0.0 and not driver.relative
        raw = collect(driver, PATIENCE, until=lambda s: s.smoothing == 0.0 and not s.relative)[-1]
        raw = collect(driver, PATIENCE, until=lambda s: s.number > raw.number + 2)[-1]
        assert raw.smoothing == 0.0 and not raw.relative
        assert torch.equal(raw.tracked.params.expression, raw.tracked.fitted.expression)
        assert torch.equal(raw.tracked.params.pose[[0, 2, 3, 4]], raw.tracked.fitted.pose[[0, 2, 3, 4]])
        assert raw.tracked.fitted.expression.abs().max() > 0.2  # a smile: the expression is not neutral

        with pytest.raises(ValueError, match="smoothing"):
            driver.set_smoothing(1.5)  # refused on the caller's thread; the tracker never sees it

        # Calibrated, relative: her smile becomes the rest.
        driver.set_relative(True)
        driver.calibrate_neutral()
        calm = collect(driver, PATIENCE, until=lambda s: s.calibrated and s.relative)[-1]
        calm = collect(driver, PATIENCE, until=lambda s: s.number > calm.number + 2)[-1]
        assert calm.calibrated and calm.relative
        assert calm.tracked.params.expression.abs().max() < 0.25 * raw.tracked.fitted.expression.abs().max()

        # Controls hammered from another thread while tracking: no race, no error, tracking goes on.
        def hammer():
            rng = np.random.default_rng(0)
            for k in range(300):
                driver.set_smoothing(float(rng.uniform(0, 1)))
                driver.set_relative(bool(k % 2))
                if k % 50 == 0:
                    driver.calibrate_neutral()
                if k % 100 == 0:
                    driver.reestimate_shape()
                time.sleep(0.001)

        before = driver.latest().number
        thread = threading.Thread(target=hammer)
        thread.start()
        thread.join()
        driver.set_smoothing(0.5)
        driver.set_relative(True)
        last = collect(driver, PATIENCE, until=lambda s: s.number > before + 20 and s.smoothing == 0.5 and s.relative
                       and s.shape_estimated)[-1]
        assert last.smoothing == 0.5 and last.relative and last.shape_estimated and last.tracked.face_found
        assert driver.status == "live" and driver.error is None


class FailingDetector:
    """MediaPipe's face mesh for a few frames, then an exception."""

    def __init__(self, mesh, frames: int):
        self.mesh, self.left = mesh, frames

    def detect(self, image):
        self.left -= 1
        if self.left < 0:
            raise RuntimeError("detector crashed\non purpose")
        return self.mesh.detect(image)


@needs_faces
def test_a_failing_tracker_is_reported(head, detector):
    camera = FakeCamera(astronaut_bgr(), period=0.01)
    with LiveDriver(CameraSource(grab=camera), head, TrackerSettings(shape_frames=0),
                    FailingDetector(detector, 5)) as driver:
        assert wait_for(lambda: driver.status == "error", PATIENCE)
        assert isinstance(driver.error, RuntimeError)
        assert driver.problem == "tracking failed: RuntimeError: detector crashed on purpose"
        assert driver.latest().number == 5  # the frames before it stay readable
    assert driver.status == "error"
    assert driver._threads and not any(thread.is_alive() for thread in driver._threads)


def test_statuses_are_listed():
    assert set(STATUSES) == {"starting", "live", "no signal", "no camera", "no source", "ended", "error", "stopped"}


def test_a_head_without_landmarks_is_an_error_not_a_hang(head, tmp_path):
    # The Tracker is built on the tracking thread: its failure must show in the status too.
    cv2.imwrite(str(tmp_path / "one.png"), np.zeros((64, 64, 3), np.uint8))

    class NoLandmarks:
        landmarks = {}
        num_expressions = head.num_expressions

    with LiveDriver(tmp_path / "one.png", NoLandmarks(), TrackerSettings(shape_frames=0), object()) as driver:
        assert wait_for(lambda: driver.status == "error", PATIENCE)
        assert "no landmark embedding" in driver.problem
    assert driver.latest() is None
