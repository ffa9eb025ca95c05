"""Recording what the window shows to an H.264 mp4 without slowing the window down.

    recorder = Recorder("take.mp4", fps=30, layout="side")
    # every window frame, on the GUI thread:
    recorder.add(avatar_image, camera_image, time.perf_counter())
    # when recording ends, and in the window's close path (ViewerApp.close) whatever else happens:
    recorder.stop()

add() only copies the images into a small queue and returns: a background thread composes each output frame and
encodes it (viewer.runs.video.Mp4Writer). When the encoder falls behind, the oldest queued frame is dropped (`dropped`
counts them): the GUI thread never waits for it.

The file has a constant frame rate although the window's frames come irregularly: its timeline follows the times
given to add(). Each window frame fills the file's frame slots until the next one's time, so a frame that stays
on screen longer is written several times, and frames that come faster than `fps` replace each other: 2 s
recorded at 30 fps give about 60 frames at any window frame rate. The last frame holds until stop()'s time.

The output's size is fixed by the first frame (H.264 needs even sizes: a black row or column pads it), laid out by
viewer/runs/compose.py: "avatar", the avatar's image alone; "side", the camera image scaled to the avatar's height,
left of the avatar (a black panel as wide as the avatar until a camera image comes; when add() gets no camera
image, the last one stays). Later images of another size (the window was resized) are scaled to the first frame's
size.

The video is written to a hidden temporary file beside `path` and takes its name only in stop(): the app must call
stop() when the window closes (ViewerApp.close), after which the file is a complete mp4. As a last resort stop()
is also registered to run at interpreter exit, so a script that forgets it, or ends with an exception, still gets
its video; a process that is killed outright leaves only the temporary file.
"""
from __future__ import annotations

import atexit
import math
import sys
import tempfile
import threading
from collections import deque
from os import PathLike
from pathlib import Path
from time import perf_counter
from typing import Callable, Literal

import cv2
import numpy as np

from viewer.runs.compose import beside, source_panel_width
from viewer.runs.pixels import to_uint8
from viewer.runs.video import Mp4Writer

LAYOUTS = ("avatar", "side")  # of viewer/runs/settings.py's LAYOUTS, those a recording takes
QUEUE_FRAMES = 8  # window frames waiting for the encoder at most; then the oldest is dropped
# stop() this long after the last frame, or later, holds the last frame only this long: a guard against times
# given to add() from another clock than the recorder's, which would otherwise mean hours of frames.
MAX_FINAL_HOLD_S = 10.0


class Recorder:
    """Records window frames to an H.264 mp4 on a background thread; stop() finishes the file (see the module)."""

    def __init__(self, path: str | PathLike, fps: float, layout: Literal["avatar", "side"] = "avatar", *,
                 queue_frames: int = QUEUE_FRAMES, crf: int = 18, clock: Callable[[], float] = perf_counter):
        """Starts recording; the file appears at `path` once stop() has finished it.

        clock: the clock of the times given to add() and stop() (seconds), which reads it where they get none.
        Raises ValueError for a bad layout or fps, OSError (one line) where `path` cannot be written.
        """
        if layout not in LAYOUTS:
            raise ValueError(f"the layout must be one of {', '.join(LAYOUTS)}, not {layout!r}")
        try:
            rate = float(fps)
        except (TypeError, ValueError):
            rate = math.nan
        if not (math.isfinite(rate) and rate > 0):
            raise ValueError(f"the frame rate must be a positive number, not {fps!r}")
        if queue_frames < 1:
            raise ValueError(f"queue_frames must be at least 1, not {queue_frames}")
        self._path = Path(path)
        _check_writable(self._path)
        self._fps, self._layout, self._crf, self._clock = rate, layout, crf, clock
        self._queue: deque[tuple[np.ndarray, np.ndarray | None, float]] = deque()
        self._queue_frames = queue_frames
        self._wake = threading.Condition()
        self._accepting = True  # add() takes frames: until stop() or a failure
        self._stopping = False
        self._end: float | None = None  # stop()'s time
        self._dropped = 0
        self._added = False  # add() has queued a frame
        self._first_taken = False  # the encoder has taken the first frame
        self._frames_written = 0
        self._size: tuple[int, int] | None = None
        self._error: BaseException | None = None
        self._stop_lock = threading.Lock()
        self._stopped = False
        self._result: Path | None = None
        self._writer: Mp4Writer | None = None  # opened at the first frame, which fixes the size
        # A daemon thread: it must not keep the interpreter from exiting, and atexit (which runs before daemon
        # threads are ended) finishes the file where the app did not.
        self._thread = threading.Thread(target=self._run, name="recorder", daemon=True)
        self._thread.start()
        atexit.register(self._stop_at_exit)

    # -- the GUI thread ----------------------------------------------------------------------------------------

    def add(self, avatar_image: np.ndarray, camera_image: np.ndarray | None = None, time: float | None = None, *,
            copy: bool = True) -> bool:
        """Hand one window frame to the encoder; returns at once. False (and nothing done) once stopped or failed.

        avatar_image: (H, W, 3) RGB, float in [0, 1] or uint8. camera_image: (h, w, 3) uint8 RGB or None (used by
        the "side" layout only). time: when the frame appeared on screen, in seconds of the recorder's
        clock (default: now). copy=False skips copying the images, for arrays the caller never changes afterwards.
        """
        if not self._accepting:
            return False
        _check_image(avatar_image, "avatar_image")
        if self._layout != "side":
            camera_image = None
        if camera_image is not None:
            _check_image(camera_image, "camera_image")
        if copy:
            avatar_image = np.array(avatar_image)
            camera_image = None if camera_image is None else np.array(camera_image)
        moment = self._clock() if time is None else float(time)
        with self._wake:
            if not self._accepting:
                return False
            if len(self._queue) >= self._queue_frames:
                # The oldest goes, except the recording's first frame, which starts the video's timeline.
                first_queued = self._added and not self._first_taken and len(self._queue) > 1
                del self._queue[1 if first_queued else 0]
                self._dropped += 1
            self._queue.append((avatar_image, camera_image, moment))
            self._added = True
            self._wake.notify()
        return True

    def stop(self, time: float | None = None) -> Path | None:
        """Encode the frames still queued, finish the video and give it its name; wait for that.

        time: when recording ended, in seconds of the recorder's clock (default: now); the last frame holds until
        then. Returns the video's path, or None where no frame came (no file is written then). Safe to call more
        than once and from any thread (the app's close path included); later calls return the first one's result.
        Raises RuntimeError, once, if encoding failed (the partial video is deleted then).
        """
        atexit.unregister(self._stop_at_exit)
        return self._finish(time)

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, error_type, error, traceback) -> None:
        self.stop()  # also after an exception: what was recorded until then is kept

    @property
    def path(self) -> Path:
        return self._path

    @property
    def fps(self) -> float:
        return self._fps

    @property
    def layout(self) -> str:
        return self._layout

    @property
    def recording(self) -> bool:
        """True until stop() or a failure of the encoder."""
        return self._accepting and self._error is None

    @property
    def frames_written(self) -> int:
        """Frames in the video so far (repeated frames counted each time)."""
        return self._frames_written

    @property
    def dropped(self) -> int:
        """Window frames dropped unencoded because the encoder fell behind."""
        return self._dropped

    @property
    def frame_size(self) -> tuple[int, int] | None:
        """The video's (width, height), once the first frame has reached the encoder."""
        return self._size

    @property
    def error(self) -> BaseException | None:
        """What stopped the encoder, if anything did."""
        return self._error

    # -- stopping ------------------------------------------------------------------------------------------------

    def _finish(self, time: float | None) -> Path | None:
        with self._stop_lock:
            if self._stopped:
                return self._result
            self._stopped = True
            end = self._clock() if time is None else float(time)
            with self._wake:
                self._accepting, self._stopping, self._end = False, True, end
                self._wake.notify_all()
            self._thread.join()
            if self._error is not None:
                raise RuntimeError(f"recording {self._path} failed: {type(self._error).__name__}: {self._error}"
                                   ) from self._error
            self._result = self._path if self._frames_written else None
            return self._result

    def _stop_at_exit(self) -> None:
        try:
            self._finish(None)
        except Exception as error:  # noqa: BLE001 - nobody is left to raise it to
            print(f"livehead: {error}", file=sys.stderr)

    # -- the encoding thread -------------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._encode()
        except BaseException as error:  # noqa: BLE001 - stop() raises it on the caller's thread
            with self._wake:
                self._error, self._accepting = error, False
                self._queue.clear()
            if self._writer is not None:
                try:
                    self._writer.discard()
                except Exception:  # noqa: BLE001, S110 - the first error is the one to report
                    pass

    def _encode(self) -> None:
        start: float | None = None  # the first frame's time: the video's time 0
        pending: tuple[np.ndarray, np.ndarray | None, float] | None = None  # the frame on screen now
        pending_frame: np.ndarray | None = None  # composed, once it is written
        pending_written = False
        camera: np.ndarray | None = None  # the last camera image

        def write_until(moment: float) -> None:
            """Fill the video's frame slots before `moment` with the pending frame."""
            nonlocal pending_frame, pending_written
            slots = math.ceil((moment - start) * self._fps - 1e-6)
            while self._frames_written < slots:
                if pending_frame is None:
                    pending_frame = self._compose(*pending[:2])
                self._writer.write(pending_frame)
                self._frames_written += 1
                pending_written = True

        while True:
            with self._wake:
                self._wake.wait_for(lambda: self._queue or self._stopping)
                if not self._queue:
                    break
                avatar, new_camera, moment = self._queue.popleft()
                self._first_taken = True
            camera = camera if new_camera is None else new_camera
            if start is None:
                start = moment
                self._open(avatar, camera)
            else:
                write_until(moment)
            pending, pending_frame, pending_written = (avatar, camera, moment), None, False
        if pending is None:
            return  # no frame came: no video
        write_until(min(self._end, pending[2] + MAX_FINAL_HOLD_S))
        if not pending_written:  # the last frame came within the video's last slot: it is shown all the same
            self._writer.write(self._compose(*pending[:2]))
            self._frames_written += 1
        self._writer.close()

    def _open(self, avatar: np.ndarray, camera: np.ndarray | None) -> None:
        """Fix the frame's layout from the first frame and open the video."""
        height, width = avatar.shape[:2]
        panel = 0  # the camera panel's width
        if self._layout == "side":
            panel = source_panel_width(None if camera is None else (camera.shape[1], camera.shape[0]), height, width)
        self._avatar_size, self._panel = (width, height), panel
        self._size = (panel + width + (panel + width) % 2, height + height % 2)
        self._writer = Mp4Writer(self._path, *self._size, self._fps, crf=self._crf)

    def _compose(self, avatar: np.ndarray, camera: np.ndarray | None) -> np.ndarray:
        """The video frame: (height, width, 3) uint8 RGB."""
        width, height = self._avatar_size
        image = _resized(_rgb_bytes(avatar), width, height)
        if self._panel:
            image = beside(None if camera is None else _rgb_bytes(camera), image, self._panel)
        frame = np.zeros((self._size[1], self._size[0], 3), np.uint8)
        frame[:height, :image.shape[1]] = image
        return frame


def _check_writable(path: Path) -> None:
    """One-line errors now for a video that could never be written, rather than when recording ends."""
    if path.is_dir():
        raise IsADirectoryError(f"cannot record to {path}: it is a folder")
    folder = path.parent
    if not folder.is_dir():
        raise FileNotFoundError(f"cannot record to {path}: the folder {folder} does not exist")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise OSError(f"cannot record to {path}: {error.strerror or error}") from None


def _check_image(image: np.ndarray, name: str) -> None:
    if not (isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] in (3, 4)
            and image.shape[0] > 0 and image.shape[1] > 0 and (image.dtype == np.uint8 or image.dtype.kind == "f")):
        description = f"{image.shape} {image.dtype}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"{name} must be an (H, W, 3) RGB image, uint8 or float in [0, 1], not {description}")


def _rgb_bytes(image: np.ndarray) -> np.ndarray:
    """RGB(A) uint8 or float in [0, 1] -> (H, W, 3) uint8 RGB."""
    image = np.ascontiguousarray(image[..., :3])
    return image if image.dtype == np.uint8 else to_uint8(image)


def _resized(image: np.ndarray, width: int, height: int) -> np.ndarray:
    if image.shape[:2] == (height, width):
        return image
    shrinking = width * height < image.shape[0] * image.shape[1]
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
