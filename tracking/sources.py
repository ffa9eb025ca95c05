"""Frame sources for the tracker: a video file, a webcam, a folder of images or one image.

    with open_source("clip.mp4") as source:     # or 0 / "0" for a webcam, or a folder, or a .png
        for frame in source:                    # Frame(index, time, image: (H, W, 3) uint8 RGB or None)
            ...

A frame whose image is None could not be decoded (files) or did not arrive in time (webcam): reported,
never fatal, so a tracking loop keeps running through a damaged file or an unplugged camera.

Frames leave here upright, as a player shows them: a phone stores a portrait clip sideways with a rotation in its
track header (`upright` applies it), and a photo's EXIF orientation is applied by OpenCV's imread.
"""
from __future__ import annotations

import bisect
import functools
import heapq
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from models.latest import Latest

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")

# One BGR frame from a device, as cv2.VideoCapture.read returns it: (ok, image or None).
Grab = Callable[[], "tuple[bool, np.ndarray | None]"]


class SourceError(ValueError):
    """A source that cannot be opened; the message is one line naming the source and what is wrong."""


@dataclass
class Frame:
    index: int  # frame number in the source (a webcam's count of captured frames: gaps are skipped frames)
    time: float  # seconds: presentation time for files, time.perf_counter() at capture for a webcam
    image: np.ndarray | None  # (H, W, 3) uint8 RGB; None when the frame could not be decoded or did not arrive


class FrameSource:
    """What every source offers: iteration over Frames, fps, frame_count, size, live, close()."""

    fps: float
    frame_count: int | None  # None when unknown (a webcam)
    size: tuple[int, int]  # (width, height)
    live: bool = False

    def __iter__(self) -> Iterator[Frame]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_source(spec: str | int | os.PathLike, fps: float | None = None) -> FrameSource:
    """An int or a digit string is a webcam index; a folder is an image sequence (played at `fps`, 25 unless
    given); a .png/.jpg/.jpeg/.bmp file is a one-frame source; any other file is a video."""
    if isinstance(spec, int) or (isinstance(spec, str) and spec.strip().isdigit()):
        return CameraSource(int(spec))
    path = Path(spec)
    if path.is_dir():
        return ImageFolderSource(path, fps or 25.0)
    if not path.is_file():
        raise SourceError(f"{path}: no such file or folder")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return ImageFolderSource(path, fps or 25.0)
    return VideoFileSource(path)


class VideoFileSource(FrameSource):
    """Every frame of a video file, in order, decoded by PyAV (FFmpeg: H.264, HEVC, ...). One pass: livehead's one
    reader of video files (the window's timeline reads its frames through it too, from a `start`).

    A truncated or corrupt file yields what it can: a packet that fails to decode gives a Frame with image None,
    and the end of the readable data ends the iteration; neither raises. A file FFmpeg cannot open as a video
    (not a video, or truncated before the index an .mp4/.mov may keep at its end) raises SourceError.

    `start` (seconds): begin at the keyframe at or before it; frame indexes then count from there, and frame
    times say where in the video they are. `rate` is the exact frame rate, `audio` the first audio stream's
    codec (None: no sound).
    """

    def __init__(self, path: str | os.PathLike, start: float = 0.0):
        self.path = Path(path)
        try:
            self._container = av.open(str(self.path))
        except (av.error.FFmpegError, OSError) as error:
            raise SourceError(f"{self.path}: not a readable video ({_reason(error)}){_hint(self.path)}") from None
        if not self._container.streams.video:
            self._container.close()
            raise SourceError(f"{self.path}: not a video (no video stream)")
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"  # frame threads: ~1.4x faster than slice threads on these fixtures
        self.rate = Fraction(self._stream.average_rate or self._stream.guessed_rate or 25)
        self.fps = float(self.rate)
        audio = self._container.streams.audio
        self.audio: str | None = audio[0].codec_context.codec.canonical_name if audio else None
        self.frame_count = self._stream.frames or None  # 0 when the container does not say
        self._stored_size = (self._stream.codec_context.width, self._stream.codec_context.height)
        self.decode_errors = 0  # packets that failed to decode so far
        if start > 0:
            self._container.seek(round(start / self._stream.time_base), stream=self._stream, backward=True)
        self._frames = self._decode()

    @functools.cached_property
    def size(self) -> tuple[int, int]:
        """(width, height) as shown: a quarter turn of the display matrix swaps them. Read when first asked for
        (it decodes the first frame apart), not for every pass from a `start`."""
        width, height = self._stored_size
        return (height, width) if _stored_rotation(self.path) % 180 else (width, height)

    def __iter__(self) -> Iterator[Frame]:
        return self._frames

    def _decode(self) -> Iterator[Frame]:
        index, seconds = 0, 0.0
        lost: list[float] = []  # times of packets that did not decode, until the frames shown before them are out
        try:
            for packet in self._container.demux(self._stream):
                try:
                    decoded = packet.decode()
                except av.error.FFmpegError:
                    self.decode_errors += 1
                    known = packet.pts is not None and packet.time_base is not None
                    # Decoders hand frames out in the order they are shown, packets come in decoding order (B-frames):
                    # the lost frame goes where it is shown.
                    heapq.heappush(lost, float(packet.pts * packet.time_base) if known else seconds)
                    continue
                for frame in decoded:
                    seconds = index / self.fps if frame.time is None else frame.time
                    while lost and lost[0] < seconds:
                        yield Frame(index, heapq.heappop(lost), None)
                        index += 1
                    yield Frame(index, seconds, upright(frame))
                    index += 1
        except av.error.FFmpegError:
            self.decode_errors += 1  # the demuxer itself gave up (damaged container): end here
        finally:
            self._container.close()
        while lost:  # lost at the end
            yield Frame(index, heapq.heappop(lost), None)
            index += 1

    def close(self) -> None:
        self._frames.close()  # runs the generator's finally: closes the container
        self._container.close()


class ImageFolderSource(FrameSource):
    """The images of a folder (.png/.jpg/.jpeg/.bmp, natural order: frame_2 before frame_10) played at `fps`;
    or a single image file as a one-frame source. An image that cannot be read gives image None."""

    def __init__(self, path: str | os.PathLike, fps: float = 25.0):
        self.path = Path(path)
        if self.path.is_dir():
            files = [p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
            self.files = sorted(files, key=_natural_key)
        else:
            self.files = [self.path]
        if not self.files:
            raise SourceError(f"{self.path}: no images ({'/'.join(IMAGE_SUFFIXES)}) in this folder")
        first = _read_image(self.files[0])
        if first is None:
            raise SourceError(f"{self.files[0]}: not a readable image")
        self.fps = float(fps)
        self.frame_count = len(self.files)
        self.size = (first.shape[1], first.shape[0])

    def __iter__(self) -> Iterator[Frame]:
        for index, file in enumerate(self.files):
            yield Frame(index, index / self.fps, _read_image(file))


class CameraSource(FrameSource):
    """A live source: a capture thread keeps only the newest frame, so a slow tracker always works on the
    latest image instead of falling further and further behind.

    Iteration yields the newest frame not yet seen, waiting up to `timeout` seconds for one; when none comes
    (camera unplugged, stalled) it yields Frame(index of the last frame or -1, now, None) so the caller's loop
    stays responsive. It ends when the source is closed. A camera whose read fails mid-session sets `connected`
    False and is reopened every `retry_interval` seconds until it delivers again (a read that merely blocks
    leaves `connected` True: only the None frames tell).

    `grab` replaces the webcam (a test's fake, a network stream): a callable returning (ok, bgr_image) like
    cv2.VideoCapture.read, blocking until its next frame. With it `index` only names the source.
    Opening is eager: a webcam index that cannot be opened raises SourceError at once.
    """

    live = True
    frame_count = None

    def __init__(self, index: int = 0, *, grab: Grab | None = None, fps: float | None = None,
                 timeout: float = 1.0, retry_interval: float = 1.0):
        self.index = index
        self.timeout = timeout
        self.retry_interval = retry_interval
        self._capture: cv2.VideoCapture | None = None
        reported_fps, reported_size = 0.0, (0, 0)
        if grab is None:
            self._capture = _open_camera(index)
            if self._capture is None:
                raise SourceError(f"camera {index}: cannot be opened (no camera at that index?)")
            reported_fps = self._capture.get(cv2.CAP_PROP_FPS)
            reported_size = (int(self._capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
                             int(self._capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        self._grab = grab
        self.fps = float(fps or reported_fps or 30.0)
        self._reported_size = reported_size
        self.connected = True  # False from a failed grab until the next good one
        self._newest: Latest[tuple[int, float, np.ndarray]] = Latest()  # (index, capture time, BGR)
        self._captured = 0  # frames captured so far: the next frame's index
        self._last_read = -1  # the index of the last frame handed to the reader
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._capture_loop, name=f"camera {index}", daemon=True)
        self._thread.start()

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the newest frame; before the first one, what the camera reports, or (0, 0)."""
        newest = self._newest.newest
        return (newest[2].shape[1], newest[2].shape[0]) if newest else self._reported_size

    def read(self, timeout: float | None = None) -> Frame | None:
        """The newest frame not yet returned, waiting up to `timeout` (default self.timeout) seconds; None if none
        came or the source is closed. Converted to RGB here, not in the capture thread: skipped frames cost
        nothing."""
        newest = self._newest.take(self.timeout if timeout is None else timeout)
        if newest is None or self._stopped.is_set():
            return None
        index, seconds, bgr = newest
        self._last_read = index
        return Frame(index, seconds, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))

    def __iter__(self) -> Iterator[Frame]:
        while not self._stopped.is_set():
            frame = self.read()
            if frame is None and not self._stopped.is_set():
                frame = Frame(self._last_read, time.perf_counter(), None)
            if frame is not None:
                yield frame

    def _capture_loop(self) -> None:
        try:
            while not self._stopped.is_set():
                ok, bgr = self._grab_one()
                if ok and bgr is not None:
                    self._newest.put((self._captured, time.perf_counter(), bgr))
                    self._captured += 1
                    self.connected = True
                    continue
                self.connected = False
                if self._stopped.wait(self.retry_interval):
                    break
                self._reopen()
        finally:
            if self._capture is not None:
                self._capture.release()  # here, never while a read may be running in this thread

    def _grab_one(self) -> tuple[bool, np.ndarray | None]:
        try:
            if self._grab is not None:
                return self._grab()
            if self._capture is None:
                return False, None
            return self._capture.read()
        except Exception:  # a driver or a grab function that raises is a lost camera too, not a dead thread
            return False, None

    def _reopen(self) -> None:
        """A webcam that was unplugged gets a fresh capture (the old one stays dead); a grab function is simply
        called again."""
        if self._grab is None:
            if self._capture is not None:
                self._capture.release()
            self._capture = _open_camera(self.index)

    def close(self) -> None:
        self._stopped.set()
        self._newest.close()
        # A webcam read blocks for at most about a frame; a stuck driver is left to the daemon thread.
        self._thread.join(timeout=2.0)


def _open_camera(index: int) -> cv2.VideoCapture | None:
    # OpenCV logs each backend it tries (V4L2, FFmpeg, Orbbec) on failure, some at ERROR level: silence that
    # here, where failing is expected and answered by our own message, and only here.
    previous = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        capture = cv2.VideoCapture(index)
    finally:
        cv2.utils.logging.setLogLevel(previous)
    if capture.isOpened():
        return capture
    capture.release()
    return None


QUARTER_TURNS = {1: cv2.ROTATE_90_COUNTERCLOCKWISE, 2: cv2.ROTATE_180, 3: cv2.ROTATE_90_CLOCKWISE}


def upright(frame: av.VideoFrame) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a decoded frame as a player shows it: turned by the rotation of its display matrix
    (a phone's portrait clip is stored sideways with -90 there). PyAV gives that rotation counter-clockwise."""
    image = frame.to_ndarray(format="rgb24")
    turns = round(frame.rotation / 90) % 4
    return cv2.rotate(image, QUARTER_TURNS[turns]) if turns else image


def packet_index(path: Path) -> tuple[list[int], list[int], Fraction]:
    """A video's frames from its packets alone (no decoding, ~10 ms for a 1300-frame clip): (their presentation
    times in time-base units, in order; the frame numbers of the keyframes; the time base). Empty lists where the
    packets carry no times."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        packets = [(packet.pts if packet.pts is not None else packet.dts, packet.is_keyframe)
                   for packet in container.demux(stream) if packet.size]
        time_base = stream.time_base
    if not packets or any(time is None for time, _ in packets):
        return [], [], time_base
    times = sorted(time for time, _ in packets)
    keyframes = sorted(bisect.bisect_left(times, time) for time, key in packets if key)
    return times, keyframes, time_base


def _stored_rotation(path: Path) -> int:
    """The counter-clockwise rotation, in degrees, that the video's first decodable frame asks for; 0 if none
    decodes. The container holds it at the stream level, which PyAV reads only through a frame."""
    try:
        with av.open(str(path)) as container:
            for frame in container.decode(container.streams.video[0]):
                return frame.rotation
    except av.error.FFmpegError:
        pass
    return 0


def _read_image(path: Path) -> np.ndarray | None:
    # Grey and RGBA files come back as 3-channel BGR, turned as their EXIF orientation says.
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return None if bgr is None else cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _natural_key(path: Path) -> list:
    """frame_2 < frame_10: digit runs compare as numbers."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def _hint(path: Path) -> str:
    """What a file FFmpeg cannot open most likely is, when its first bytes tell."""
    try:
        with open(path, "rb") as file:
            head = file.read(8)
    except OSError:  # unreadable: FFmpeg's reason says it
        return ""
    if not head:
        return ": the file is empty (0 bytes); copy or record it again"
    if head[4:8] == b"ftyp":  # an MP4/MOV: its index (moov) is mostly written last, so a cut file has none
        return ": an MP4/MOV cut short, most likely (an interrupted copy, download or recording); copy it again"
    return ""


def _reason(error: Exception) -> str:
    """FFmpeg's own words ("Invalid data found when processing input"), on one line."""
    text = getattr(error, "strerror", None) or str(error)
    return " ".join(str(text).split())
