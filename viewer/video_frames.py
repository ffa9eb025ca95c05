"""Any frame of a video file, for showing it in the window: decoded on a background thread, in order while the
frames asked for follow each other (playing, stepping on), after a seek to the keyframe before a frame asked for out
of order (a jump, a step back past what is kept).

    frames = VideoFrames("clip.mp4", count).start()
    image = frames.get(index)       # (H, W, 3) uint8 RGB, or None until decoded; asks for it; never blocks
    frames.close()

Only a few frames are kept, at full size (CACHE_BYTES, and at least the frames decoded ahead): the video is never
held whole in memory. The frame asked for and the PREFETCH after it are decoded ahead, so that a playing timeline
finds each frame ready. Frames are numbered as tracking numbered them: in presentation order, from a first pass
over the packets (tracking/sources.py packet_index) that also finds the keyframes. They are decoded by the
reader tracking uses (VideoFileSource, from a keyframe), so they come as tracking saw them (upright: a phone's
rotation applied); a frame that cannot be decoded (a damaged packet, a frame past the readable end) comes back
black, as in a headless reenactment.

With `detect_landmarks` set, the thread also finds MediaPipe's landmarks on each frame it keeps, once, into
`landmarks` (a replayed tracking has none saved).
"""
from __future__ import annotations

import bisect
import os
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from tracking.sources import VideoFileSource, packet_index

PREFETCH = 3  # frames decoded ahead of the one asked for
CACHE_BYTES = 96 << 20  # decoded frames kept (the newest asked for and decoded stay), at least PREFETCH + 2


class VideoFrames:
    """Frames 0..count-1 of the video at `path`, decoded on demand on a thread of its own (see the module)."""

    def __init__(self, path: str | os.PathLike, count: int, landmarks: dict[int, np.ndarray] | None = None):
        self.path, self.count = Path(path), count
        self.landmarks = {} if landmarks is None else landmarks  # frame -> (478, 2) pixels; written by the thread
        self.detect_landmarks = False  # find the landmarks of the frames kept that have none yet
        self.problem: str | None = None  # why the thread stopped, in one line
        self._detected: set[int] = set(self.landmarks)
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()  # least recently used first
        self._keep = PREFETCH + 2  # frames in the cache at most: set from the first frame's size
        self._size: tuple[int, int] | None = None  # (width, height) of the frames, once the video is open
        self._asked = 0  # the frame last asked for
        self._closed = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="video frames", daemon=True)

    def start(self) -> VideoFrames:
        self._thread.start()
        return self

    def get(self, index: int) -> np.ndarray | None:
        """Frame `index` if decoded (treat it as read-only), else None; either way it becomes the frame asked
        for, and the thread decodes it and the next PREFETCH."""
        with self._changed:
            if index != self._asked:
                self._asked = index
                self._changed.notify_all()
            image = self._cache.get(index)
            if image is not None:
                self._cache.move_to_end(index)
            return image

    def set_detect_landmarks(self, on: bool) -> None:
        with self._changed:
            self.detect_landmarks = bool(on)
            self._changed.notify_all()

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        if self._thread.is_alive():
            self._thread.join(5.0)

    # -- the thread ------------------------------------------------------------------------------------------

    def _next_job(self) -> tuple[str, int] | None:
        """("decode" or "detect", frame): the first frame from the one asked for on that is not kept or, when
        detecting, has no landmarks yet; waits while there is none; None once closed."""
        with self._changed:
            while not self._closed:
                for index in range(self._asked, min(self._asked + PREFETCH + 1, self.count)):
                    if index not in self._cache:
                        return "decode", index
                    if self.detect_landmarks and index not in self._detected:
                        return "detect", index
                self._changed.wait()
        return None

    def _run(self) -> None:
        detector, source = None, None
        try:
            times, keyframes, time_base = packet_index(self.path)
            frames, position = iter(()), None  # the frames from the last seek on, the index of the next one
            while (job := self._next_job()) is not None:
                kind, target = job
                if kind == "detect":
                    if detector is None:
                        from tracking.face_mesh import FaceMeshDetector

                        detector = FaceMeshDetector(static_images=True, max_faces=1)
                    self._detect(detector, target)
                    continue
                keyframe = keyframes[max(0, bisect.bisect_right(keyframes, target) - 1)] if keyframes else 0
                if position is None or target < position or keyframe > position:
                    if source is not None:
                        source.close()
                    source = VideoFileSource(self.path, start=float(times[keyframe] * time_base) if times else 0.0)
                    self._size = self._size or source.size
                    frames, position = iter(source), keyframe
                frame = next(frames, None)
                if frame is None:  # the end: the frame asked for will not come
                    self._keep_frame(target, None)
                    position = None
                    continue
                index = bisect.bisect_left(times, round(frame.time / time_base)) if times else position
                if frame.image is None:  # a packet that did not decode: its frame is lost, and the frames around
                    if index >= target:  # it may come out of order, so it says nothing of where decoding is
                        self._keep_frame(index, None)
                    continue
                position = index + 1
                if index > target:  # decoding went past it: it was lost
                    self._keep_frame(target, None)
                if index >= target:
                    self._keep_frame(index, frame.image)
        except Exception as error:  # noqa: BLE001 - said in `problem`; the window keeps its last picture
            self.problem = f"{self.path.name}: decoding stopped ({type(error).__name__}: {error})"
        finally:
            if source is not None:
                source.close()
            if detector is not None:
                detector.close()

    def _keep_frame(self, index: int, image: np.ndarray | None) -> None:
        if index >= self.count:
            return
        with self._changed:  # the GUI thread reorders the cache as it reads
            if image is None:  # black, at the video's size
                image = np.zeros((self._size[1], self._size[0], 3), np.uint8)
            if not self._cache:
                self._keep = max(PREFETCH + 2, CACHE_BYTES // image.nbytes)
            self._cache[index] = image
            self._cache.move_to_end(index)
            while len(self._cache) > self._keep:
                self._cache.popitem(last=False)

    def _detect(self, detector, index: int) -> None:
        with self._changed:
            image = self._cache.get(index)
        faces = detector.detect(image) if image is not None and image.any() else []
        if faces:
            self.landmarks[index] = faces[0][:, :2]
        self._detected.add(index)

