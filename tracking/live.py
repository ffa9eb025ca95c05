"""The live pipeline behind the window: capture -> track on background threads, the newest frame winning at every
step, so that a slow stage drops frames instead of queueing latency; the GUI thread only reads the latest result.

    with LiveDriver(0, avatar.head) as driver:      # a webcam index, a video file or a folder of images
        ...
        state = driver.latest()                     # LiveState or None; never blocks
        if state is not None:
            render(state.tracked.params)            # FlameParams that drive the avatar
        label(driver.status, driver.problem)        # "live", "no signal", "no camera", ...
        driver.calibrate_neutral()                  # controls: applied on the tracking thread between frames

Threads:
- capture: a webcam's own newest-frame thread (tracking/sources.py's CameraSource, which also reconnects every
  second after an unplug). A video file or an image folder gets a playback thread instead, which delivers the
  file's frames at their own timestamps against the wall clock (a folder at 25 fps unless told), looping at the
  end, so that a file behaves like a camera: when the tracker is slower than the file's rate, frames are dropped,
  never queued, and the tracker always gets the newest one. Playback begins at the first frame once the tracker
  is ready.
- tracking: builds the Tracker (MediaPipe's graph takes about a second to open, so the window need not wait),
  then takes the newest frame not yet tracked, tracks it and publishes a LiveState. The controls are queued and
  applied here between two frames, since the Tracker is not thread-safe.

Nothing here raises into the GUI: a webcam that cannot be opened gives status "no camera" (the app still opens,
with its sliders), a file that cannot be opened "no source", both with the reason in `problem`; an exception in a
thread stops that thread and gives status "error" (`error` holds it, `problem` says it in one line).
"""
from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from models.head_model import HeadModel
from models.latest import Latest
from tracking.sources import (CameraSource, Frame, FrameSource, ImageFolderSource, SourceError, VideoFileSource,
                              open_source)
from tracking.tracker import TrackedFrame, Tracker, TrackerSettings

NO_SIGNAL_SECONDS = 1.0  # waiting longer than this for a frame reads as "no signal"
WAIT_SECONDS = 0.05  # the tracking thread's longest wait for a frame before it looks at its commands and stop flag
FPS_SMOOTHING = 0.1  # weight of the newest interval in the smoothed tracking rate
STOP_SECONDS = 10.0  # stop() waits this long for a thread (one frame's tracking, at worst a shape estimate)

# Every value `LiveDriver.status` takes.
STATUSES = ("starting", "live", "no signal", "no camera", "no source", "ended", "error", "stopped")


@dataclass(frozen=True, eq=False)  # eq: arrays inside; two states are equal only when they are one
class LiveState:
    """One tracked frame, as published by the tracking thread. Treat the arrays as read-only: they are shared."""

    # The tracker's result. Its index is the frame's in its source: a webcam's capture count (gaps: dropped
    # frames), a file's frame number (back to 0 when it loops); its time, time.perf_counter() when the frame was
    # captured (webcam) or delivered (file playback).
    tracked: TrackedFrame
    image: np.ndarray  # (H, W, 3) uint8 RGB: the frame that was tracked
    tracked_at: float  # time.perf_counter() when its tracking ended
    number: int  # 1, 2, 3, ...: states published so far
    fps: float  # tracked frames per second, smoothed (at most the source's rate; 0 for the first state)
    track_ms: float  # how long tracking this frame took
    relative: bool  # the tracker's settings when this frame was tracked: expression relative to the neutral
    smoothing: float  # One Euro strength, 0..1
    calibrated: bool  # a neutral face has been calibrated
    shape_estimated: bool  # the user's face shape has been estimated (over the first frames with a face)

    @property
    def latency(self) -> float:
        """Seconds from capture to the end of tracking."""
        return self.tracked_at - self.tracked.time


class LiveDriver:
    """Capture and tracking threads for one source; the GUI reads `latest()`, `status` and `problem`.

    `source`: a webcam index (an int or a digit string), a video file (played at its own rate in real time,
    looping: frames the tracker is too slow for are dropped, as a camera's would be), a folder of images or one
    image (at `fps`, 25 unless given, looping), or an already open FrameSource (a CameraSource with a `grab`
    function, for tests or network streams). `detector`: as Tracker's; None for MediaPipe's face mesh, which the
    driver then closes on stop(). The constructor opens the source but starts nothing and never raises for a source
    that cannot be opened: see `status` and `problem`.
    """

    def __init__(self, source: str | int | os.PathLike | FrameSource, head: HeadModel,
                 settings: TrackerSettings | None = None, detector=None, *, fps: float | None = None):
        self.head = head
        self.settings = settings or TrackerSettings()
        self.detector = detector
        self.error: BaseException | None = None  # what stopped a thread
        self._error_where = ""
        self._open_problem: str | None = None  # why the source could not be opened
        self._open_status = ""
        self._source: FrameSource | None = None
        self._read: Callable[[float], Frame | None] | None = None  # the newest frame not yet tracked, or None
        self._slot: Latest[Frame] | None = None  # where the playback thread puts its frames
        self._reopen: Callable[[], FrameSource] | None = None  # a fresh pass over a file, for looping
        self._latest: LiveState | None = None
        self._lock = threading.Lock()
        self._commands: queue.SimpleQueue[Callable[[Tracker], None]] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._ready = threading.Event()  # the tracker is built: file playback starts then, at its first frame
        self._threads: list[threading.Thread] = []
        self._started = self._stopped = self._ended = False
        self._played_to_the_end = False  # the playback thread's: its source ended and cannot loop
        self._waiting_since: float | None = None  # the tracking thread waits for a frame since then
        self._relative, self._smoothing = self.settings.relative, self.settings.smoothing
        self.name = str(source)
        self._open(source, fps)

    # -- life cycle ------------------------------------------------------------------------------------------

    def _open(self, spec, fps: float | None) -> None:
        webcam = isinstance(spec, int) or (isinstance(spec, str) and spec.strip().isdigit())
        try:
            source = spec if isinstance(spec, FrameSource) else open_source(spec, fps)
        except (SourceError, OSError) as error:  # OSError: e.g. a folder that cannot be listed
            self._open_problem = " ".join(str(error).split())
            self._open_status = "no camera" if webcam else "no source"
            return
        self._source = source
        if isinstance(source, CameraSource):
            self.name = f"camera {source.index}"
            self._read = lambda timeout: source.read(timeout)
            return
        self._slot = Latest()
        self._read = self._slot.take
        if isinstance(source, VideoFileSource):
            self.name = str(source.path)
            self._reopen = lambda: VideoFileSource(source.path)
        elif isinstance(source, ImageFolderSource):
            self.name = str(source.path)
            self._reopen = lambda: ImageFolderSource(source.path, source.fps)

    def start(self) -> LiveDriver:
        """Start the threads (once; nothing to start when the source could not be opened)."""
        if self._started or self._stopped or self._source is None:
            return self
        self._started = True
        if self._slot is not None:
            self._threads.append(threading.Thread(target=self._guarded, args=("playback", self._play),
                                                  name="live playback", daemon=True))
        self._threads.append(threading.Thread(target=self._guarded, args=("tracking", self._track_loop),
                                              name="live tracking", daemon=True))
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        """Stop and join the threads, close the source. Idempotent; the last state stays readable."""
        if self._stopped:
            return
        self._stopped = True
        self._stopping.set()
        if self._slot is not None:
            self._slot.close()
        if self._source is not None and (self._slot is None or not self._started):
            self._source.close()  # a webcam: its read() returns at once, its capture thread ends; or an unplayed file
        for thread in self._threads:
            thread.join(STOP_SECONDS)

    def __enter__(self) -> LiveDriver:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- what the GUI reads ------------------------------------------------------------------------------------

    def latest(self) -> LiveState | None:
        """The newest tracked frame, or None before the first one. Never blocks for longer than a pointer copy."""
        with self._lock:
            return self._latest

    @property
    def status(self) -> str:
        """One of STATUSES: "starting" (the tracker is being built, or no frame tracked yet), "live", "no signal"
        (the camera is disconnected, or no frame came for over a second; a webcam is reopened every second),
        "no camera" / "no source" (the webcam / file could not be opened: see `problem`), "ended" (a source that
        truly ended; files loop), "error" (a thread failed: see `error`), "stopped" (after stop())."""
        if self.error is not None:
            return "error"
        if self._open_status:
            return self._open_status
        if self._stopped:
            return "stopped"
        if self._ended:
            return "ended"
        if isinstance(self._source, CameraSource) and not self._source.connected:
            return "no signal"
        waiting_since = self._waiting_since  # None while the tracker is being built, or tracking
        if waiting_since is not None and time.perf_counter() - waiting_since > NO_SIGNAL_SECONDS:
            return "no signal"
        return "live" if self.latest() is not None else "starting"

    @property
    def problem(self) -> str | None:
        """One line saying what is wrong, or None while all is well."""
        if self.error is not None:
            text = " ".join(str(self.error).split())
            return f"{self._error_where} failed: {type(self.error).__name__}" + (f": {text}" if text else "")
        if self._open_problem is not None:
            return self._open_problem
        status = self.status
        if status == "no signal":
            again = ", trying again every second" if isinstance(self._source, CameraSource) else ""
            return f"{self.name}: no signal{again}"
        if status == "ended":
            return f"{self.name}: ended"
        return None

    @property
    def relative(self) -> bool:
        """The relative setting last asked for (LiveState.relative: the one a frame was tracked with)."""
        return self._relative

    @property
    def smoothing(self) -> float:
        return self._smoothing

    # -- controls, applied on the tracking thread between frames ------------------------------------------------

    def calibrate_neutral(self) -> None:
        """The user's current face becomes the avatar's rest (takes effect once a face has been seen)."""
        self._commands.put(lambda tracker: tracker.calibrate_neutral())

    def set_relative(self, relative: bool) -> None:
        """Drive expression and jaw relative to the calibrated neutral (True) or absolute."""
        relative = bool(relative)
        self._relative = relative

        self._commands.put(lambda tracker: tracker.set_relative(relative))

    def set_smoothing(self, strength: float) -> None:
        """One Euro strength, 0 (raw values) .. 1. Raises ValueError here, on the caller's thread, outside that."""
        strength = float(strength)
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"smoothing strength must be within [0, 1], not {strength}")
        self._smoothing = strength

        self._commands.put(lambda tracker: tracker.set_smoothing(strength))

    def reestimate_shape(self) -> None:
        """Estimate the user's face shape again over the next frames with a face (another person sat down)."""
        self._commands.put(lambda tracker: tracker.reestimate_shape())

    # -- threads -----------------------------------------------------------------------------------------------

    def _guarded(self, where: str, work: Callable[[], None]) -> None:
        try:
            work()
        except BaseException as error:  # noqa: BLE001 - reported through status / problem, never silent
            if self.error is None:
                self._error_where, self.error = where, error
            self._stopping.set()
            if self._slot is not None:
                self._slot.close()  # the other thread stops too

    def _track_loop(self) -> None:
        # A copy: the caller's settings object stays theirs; the controls change this one.
        # Live, the shape is estimated on a thread of its own, so the avatar never stops for it.
        settings = TrackerSettings(**{**vars(self.settings), "shape_in_background": True})
        tracker = Tracker(self.head, settings, detector=self.detector)
        uncalibrated = tracker.neutral  # calibration replaces it
        shape_fixed = settings.shape_frames <= 0
        self._waiting_since = time.perf_counter()
        self._ready.set()
        try:
            number, fps, interval = 0, 0.0, None
            previous_done: float | None = None
            while not self._stopping.is_set():
                self._apply_commands(tracker)
                frame = self._read(WAIT_SECONDS)
                if frame is None:
                    if self._played_to_the_end:
                        self._ended = True
                        return
                    continue
                self._waiting_since = None
                self._apply_commands(tracker)  # those that came while waiting
                started = time.perf_counter()
                result = tracker.track(frame.index, frame.time, frame.image)
                done = time.perf_counter()
                if frame.image is None:  # a frame that could not be decoded: nothing to show
                    self._waiting_since = done
                    continue
                if previous_done is not None:
                    step = done - previous_done
                    interval = step if interval is None else interval + FPS_SMOOTHING * (step - interval)
                    fps = 1.0 / interval if interval > 0 else 0.0
                previous_done = done
                number += 1
                state = LiveState(
                    tracked=result, image=frame.image, tracked_at=done, number=number, fps=fps,
                    track_ms=(done - started) * 1000.0, relative=settings.relative, smoothing=settings.smoothing,
                    calibrated=tracker.neutral is not uncalibrated,
                    shape_estimated=shape_fixed or tracker.shape is not None)
                with self._lock:
                    self._latest = state
                self._waiting_since = time.perf_counter()
        finally:
            tracker.close()
            if self.detector is None and hasattr(tracker.detector, "close"):
                tracker.detector.close()  # the MediaPipe graph the tracker made

    def _apply_commands(self, tracker: Tracker) -> None:
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return
            command(tracker)

    def _play(self) -> None:
        """Deliver the file's frames at their timestamps against the wall clock, looping; the tracking thread takes
        the newest. Decoding runs ahead of each frame's due time, so it adds no latency."""
        source, slot = self._source, self._slot
        while not self._ready.wait(WAIT_SECONDS):
            if self._stopping.is_set():
                source.close()
                return
        loop_start = time.perf_counter()
        while not self._stopping.is_set():
            first = last = None
            delivered = 0
            try:
                for frame in source:
                    if first is None:
                        first = frame.time
                    last = frame.time
                    due = loop_start + (frame.time - first)
                    wait = due - time.perf_counter()
                    if wait > 0 and self._stopping.wait(wait):
                        return
                    slot.put(Frame(frame.index, time.perf_counter(), frame.image))
                    delivered += frame.image is not None
            finally:
                source.close()
            if self._reopen is None or delivered == 0:
                self._played_to_the_end = True  # a source that cannot loop, or one with nothing to show
                slot.close()  # the tracking thread takes the last frame, then finds the end
                return
            loop_start += (last - first) + 1.0 / source.fps  # the last frame shows for one frame time
            source = self._reopen()

