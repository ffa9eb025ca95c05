"""A video as the window's timeline (launch.py --video IN without --headless): the avatar driven frame for frame by
the face in it exactly as a headless reenactment drives it (viewer/reenact.py's tracking, neutral and retargeting),
the video's own frames to show beside it (viewer/video_frames.py), and an export of the same reenactment through
the headless path.

The tracking is saved beside the output (OUT.tracked.npz, OUT.flame_params.json) as the headless run saves it, and an
OUT.tracked.npz already there, newer than the video and of its frame count, is replayed instead of tracking again.
"""
from __future__ import annotations

import dataclasses
import os
import re
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avatar import Avatar
from models.params import FlameSequence
from tracking.sequence_file import SequenceFileError, TrackedSequence, load_tracked_sequence
from viewer.reenact import DrivenVideo, Job, ReenactOptions, VideoInput, drive_video
from viewer.video_frames import VideoFrames

EXPORT_STOP_SECONDS = 10.0  # a cancelled export gets this long to discard its unfinished file


@dataclass
class VideoTimeline:
    """What the window plays: `drive` frame for frame at `fps`, `frames` shown beside it."""

    driven: DrivenVideo
    frames: VideoFrames
    params: Path  # the tracking file (saved or replayed): what an export replays
    show_landmarks: bool = False  # the landmarks drawn on the video's frames
    export_command: list[str] | None = None  # the headless run writing this reenactment (launch.py sets it)
    export: Export | None = None  # the latest export started

    def __post_init__(self) -> None:
        self.set_landmarks(self.show_landmarks)

    @property
    def drive(self) -> FlameSequence:
        return self.driven.drive

    @property
    def fps(self) -> float:
        return float(self.driven.input.info.rate)

    @property
    def face_found(self) -> np.ndarray:
        return self.driven.tracked.face_found

    @property
    def job(self) -> Job:
        return self.driven.input.job

    def set_landmarks(self, on: bool) -> None:
        """Draw the landmarks: the tracked ones, or for a replay (none saved) those found on the frames shown."""
        self.show_landmarks = bool(on)
        self.frames.set_detect_landmarks(self.show_landmarks and self.driven.tracking_pass is None)

    def start_export(self) -> str:
        """Write the reenactment to its output (OUT.mp4 or PNGs) in the background; see `export.status()`."""
        if self.export_command is None:
            raise ValueError("no export: this timeline was opened without the headless command that writes it")
        if self.export is not None and self.export.running:
            return self.export.status()
        self.export = Export(self.export_command)
        return f"exporting {self.job.output}"

    def close(self) -> None:
        """Stop decoding, and an export still running (it leaves no unfinished file)."""
        self.frames.close()
        if self.export is not None:
            self.export.cancel()


def open_video_timeline(avatar: Avatar, video: VideoInput, options: ReenactOptions) -> VideoTimeline:
    """Track `video` (a progress bar in the terminal unless `options.progress` is False) or replay its tracking
    (`options.params`, else a fitting OUT.tracked.npz), and drive `avatar` with it. Raises ReenactError."""
    if video.replay is None:
        saved = saved_tracking(video.job, video.expected, avatar.head.num_expressions)
        if saved is not None:
            print(f"livehead: using the tracking in {saved[0]} (delete it to track the video again)", file=sys.stderr)
            video = dataclasses.replace(video, replay=saved[1])
            options = dataclasses.replace(options, params=saved[0])
    driven = drive_video(avatar, video, options, keep_landmarks=True)
    params = options.params if options.params is not None else video.job.side_file("tracked.npz")
    frames = VideoFrames(video.job.video, len(driven.drive), driven.landmarks)
    return VideoTimeline(driven, frames, params, show_landmarks=options.landmarks)


def saved_tracking(job: Job, expected: int | None, expressions: int) -> tuple[Path, TrackedSequence] | None:
    """The OUT.tracked.npz of an earlier run on this video, where it fits: written after the video, of its frame
    count, with the avatar's number of expression coefficients; else None."""
    path = job.side_file("tracked.npz")
    try:
        if path.stat().st_mtime < job.video.stat().st_mtime:
            return None
        tracked = load_tracked_sequence(path)
    except (OSError, SequenceFileError):
        return None
    if (expected and len(tracked) != expected) or tracked.params.expression.shape[1] != expressions:
        return None
    return path, tracked


class Export:
    """The headless reenactment (`command`: launch.py --headless with the window's tracking as --params) in a
    process of its own, so that it renders beside the window without sharing its threads (numba's parallel
    kernels must not run from two threads at once) and writes exactly what the headless run writes."""

    def __init__(self, command: list[str]):
        self._last = ""
        self._read_all = threading.Event()
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, env={**os.environ,
                                                                                  "PYTHONUNBUFFERED": "1"})
        threading.Thread(target=self._read, name="export output", daemon=True).start()

    def _read(self) -> None:
        with self.process.stdout:
            for line in self.process.stdout:  # tqdm's carriage-return updates arrive as lines of their own
                if line.strip():
                    self._last = line.strip()
        self._read_all.set()

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def status(self) -> str:
        """One line: the progress ("exporting: rendering 34/72"), then what was written or why it failed."""
        code = self.process.poll()
        if code is None or not self._read_all.is_set():
            count = re.search(r"(\d+)/(\d+)", self._last)
            return f"exporting: {self._last.split(':')[0]} {count[1]}/{count[2]}" if count else "exporting..."
        if code != 0:
            return f"export failed: {self._last.removeprefix('livehead: ')}"
        return self._last

    def cancel(self) -> None:
        """Stop it as Ctrl-C would: the headless run leaves no unfinished video behind."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(EXPORT_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
