"""A video made ready to drive an avatar (steps 1-3 of viewer/runs/reenact.py): checked before anything is loaded
(`open_input`), tracked once (tracking/offline.py `track_source`) or its tracking replayed (`--params`), the tracking
saved beside the output (OUT.tracked.npz for livehead, OUT.flame_params.json for IMavatar), then the driver's
neutral and the driving sequence (`drive_video`). The window's video timeline (viewer/video_timeline.py) shares it.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from avatar import Avatar
from models.params import FlameSequence
from tracking.offline import drive_tracked, track_source
from tracking.sequence_file import (SequenceFileError, TrackedSequence, export_imavatar, load_tracked_sequence,
                                    save_tracked_sequence)
from tracking.sources import Frame, FrameSource, SourceError, VideoFileSource, open_source
from viewer.runs.background import Prefetcher
from viewer.runs.interrupts import interrupt_between_frames
from viewer.runs.jobs import Job, ReenactError
from viewer.runs.settings import Settings


@dataclass(frozen=True)
class ReenactOptions:
    """How a video is reenacted: a run's settings (viewer/runs/settings.py, whose defaults configs/default.yaml gives)
    as the reenactment takes them (`of`)."""

    width: int
    height: int
    background: tuple[int, int, int]
    renderer: str
    layout: str
    landmarks: bool  # draw the tracked landmarks on the source panel (side, grid)
    neutral_frame: int | None  # None: estimated from the video
    relative: bool  # False (--absolute): the tracked expression and jaw as they are
    params: Path | None  # a livehead tracked .npz to replay instead of tracking
    smoothing: float = 1.0  # One Euro strength, as the live tracker's
    progress: bool = True  # progress bars in the terminal

    @staticmethod
    def of(settings: Settings) -> ReenactOptions:
        return ReenactOptions(settings.width, settings.height, settings.background, settings.renderer,
                              settings.layout, settings.landmarks, settings.neutral_frame, not settings.absolute,
                              settings.params)


@dataclass
class Timing:
    """Seconds each stage was busy. Decoding and encoding run on threads of their own (viewer/runs/background.py), so
    the stages overlap and add up to more than the wall time, from `started` on."""

    decode: float = 0.0
    track: float = 0.0
    render: float = 0.0
    encode: float = 0.0
    started: float = field(default_factory=time.perf_counter)

    def summary(self, frames: int) -> dict:
        wall = time.perf_counter() - self.started
        return {"decode": round(self.decode, 3), "track": round(self.track, 3), "render": round(self.render, 3),
                "encode": round(self.encode, 3), "wall": round(wall, 3),
                "fps": round(frames / wall, 2) if wall > 0 else None}


class TimedSource(FrameSource):
    """A file source decoded on a thread of its own, a few frames ahead; its decoding timed, its undecodable
    frames and its frame count noted."""

    def __init__(self, source: FrameSource, timing: Timing):
        self.source, self.timing = source, timing
        self.fps, self.frame_count, self.size = source.fps, source.frame_count, source.size
        self.unreadable: list[int] = []
        self.count = 0
        self.interrupted = None  # a threading.Event: set by Ctrl-C, the iteration stops before the next frame
        self.prefetcher: Prefetcher | None = None

    def __iter__(self) -> Iterator[Frame]:
        self.prefetcher = Prefetcher(self._decoded())
        for frame in self.prefetcher:
            if self.interrupted is not None and self.interrupted.is_set():
                raise KeyboardInterrupt
            self.count += 1
            if frame.image is None:
                self.unreadable.append(frame.index)
            yield frame

    def _decoded(self) -> Iterator[Frame]:
        """The frames, timed; this runs on the prefetcher's thread."""
        frames = iter(self.source)
        while True:
            start = time.perf_counter()
            frame = next(frames, None)
            self.timing.decode += time.perf_counter() - start
            if frame is None:
                return
            yield frame

    def close(self) -> None:
        if self.prefetcher is not None:
            self.prefetcher.close()  # before the decoder it reads from is closed
        self.source.close()


def open_video(path: Path) -> FrameSource:
    try:
        source = open_source(path)
    except SourceError as err:
        raise ReenactError(f"--video {err}") from None
    if not isinstance(source, VideoFileSource):
        source.close()
        raise ReenactError(f"--video {path}: not a video file (give an .mp4, .mov, .avi, .mkv or .webm)")
    return source


@dataclass
class VideoInput:
    """A video checked for reenactment before anything is loaded or tracked."""

    job: Job
    rate: Fraction  # the video's frame rate, exactly (30000/1001 stays 30000/1001)
    audio: str | None  # its first audio stream's codec; None: no sound
    size: tuple[int, int]  # (width, height), as shown
    expected: int | None  # the frames the container says it holds; None where it does not say
    replay: TrackedSequence | None  # `options.params` read back, its frame count checked; None: to be tracked


def open_input(job: Job, options: ReenactOptions) -> VideoInput:
    """What can be checked without the avatar: the video opens, `--neutral-frame` is within it, `--params` is a
    tracking of as many frames. Raises ReenactError."""
    source = open_video(job.video)
    source.close()
    expected = source.frame_count
    if options.neutral_frame is not None and expected and not -expected <= options.neutral_frame < expected:
        raise ReenactError(f"--neutral-frame {options.neutral_frame} is out of range: {job.video} has {expected} "
                           f"frames (0..{expected - 1})")
    replay = None
    if options.params is not None:
        try:
            replay = load_tracked_sequence(options.params)
        except SequenceFileError as err:
            raise ReenactError(f"--params {err}") from None
        if expected and len(replay) != expected:
            raise ReenactError(f"--params {options.params} holds {len(replay)} frames and {job.video} has "
                               f"{expected}; give the tracking of this video")
    return VideoInput(job, source.rate, source.audio, source.size, expected, replay)


@dataclass
class DrivenVideo:
    """A video tracked (or its tracking replayed) and turned into what drives the avatar, frame for frame."""

    input: VideoInput
    tracked: TrackedSequence
    drive: FlameSequence  # one frame per input frame: smoothed, retargeted, no-face frames held then eased
    landmarks: dict[int, np.ndarray]  # frame -> (478, 2) tracked landmarks in pixels, where kept (not replays)
    tracking_pass: TimedSource | None  # the tracking's pass over the video (its counts); None for a replay
    notes: list[str]
    timing: Timing


def drive_video(avatar: Avatar, video: VideoInput, options: ReenactOptions,
                keep_landmarks: bool = False) -> DrivenVideo:
    """Track `video` once (a progress bar unless `options.progress` is False) and save the tracking beside the
    output (OUT.tracked.npz, OUT.flame_params.json), or take its replay; then the neutral (estimated, or
    `options.neutral_frame`'s face) and the driving sequence. Each frame's landmarks are kept with
    `keep_landmarks` or `options.landmarks`. Raises ReenactError."""
    job, timing, notes = video.job, Timing(), []
    landmarks: dict[int, np.ndarray] = {}
    tracking_pass = None
    if video.replay is not None:
        tracked = video.replay
        if tracked.params.expression.shape[1] != avatar.head.num_expressions:
            raise ReenactError(f"--params {options.params} has {tracked.params.expression.shape[1]} expression "
                               f"coefficients and this avatar {avatar.head.num_expressions}; track the video with "
                               "this avatar's head model")
    else:
        source = TimedSource(open_video(job.video), timing)
        keep = landmarks if keep_landmarks or options.landmarks else None
        tracked, tracking_pass, shape = _track(avatar, source, timing, keep, options)
        if tracking_pass.count == 0:
            raise ReenactError(f"--video {job.video}: no frame could be decoded")
        if video.expected and tracking_pass.count < video.expected:
            notes.append(f"the video ends early: {tracking_pass.count} of {video.expected} frames decoded")
        # Replays (--params) read the saved file; driving from the same file here makes them identical.
        save_tracked_sequence(job.side_file("tracked.npz"), tracked)
        tracked = load_tracked_sequence(job.side_file("tracked.npz"))
        export_imavatar(job.side_file("flame_params.json"), tracked, shape=shape)

    try:
        drive, note = drive_tracked(tracked, options.neutral_frame, options.relative, options.smoothing)
    except ValueError as err:
        raise ReenactError(f"--neutral-frame: {err}") from None
    notes += [note] if note is not None else []
    return DrivenVideo(video, tracked, drive, landmarks, tracking_pass, notes, timing)


def _track(avatar: Avatar, source: TimedSource, timing: Timing, landmarks: dict | None,
           options: ReenactOptions):
    """The whole video tracked once: (the TrackedSequence, the source, the estimated face shape or None); keeps
    each frame's landmarks in `landmarks` when given."""
    from tracking.tracker import TrackedFrame, Tracker, TrackerSettings

    def record(result: TrackedFrame, seconds: float) -> None:
        timing.track += seconds
        if landmarks is not None and result.landmarks is not None:
            landmarks[result.index] = result.landmarks[:, :2].astype(np.float32)

    try:
        tracker = Tracker(avatar.head, TrackerSettings())
    except ValueError as err:
        raise ReenactError(f"cannot track for this avatar: {err}") from None
    with source, interrupt_between_frames() as source.interrupted:  # Ctrl-C inside numba: a SystemError
        tracked = track_source(source, tracker, progress=options.progress, on_frame=record)
    shape = None if tracker.shape is None else torch.from_numpy(np.asarray(tracker.shape)).float()
    return tracked, source, shape
