"""A video as the window's timeline (launch.py --video IN without --headless): the avatar driven frame for frame by
the face in it exactly as a headless reenactment drives it (viewer/runs/driven_video.py: tracking, neutral and
retargeting), the video's own frames to show beside it (viewer/video_frames.py), and an export of the same
reenactment by the headless path's own writer, on a thread.

The tracking is saved beside the output (OUT.tracked.npz, OUT.flame_params.json) as the headless run saves it, and an
OUT.tracked.npz already there, newer than the video and of its frame count, is replayed instead of tracking again.
"""
from __future__ import annotations

import dataclasses
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avatar import Avatar
from models.params import FlameSequence
from tracking.sequence_file import SequenceFileError, TrackedSequence, load_tracked_sequence
from viewer.runs.driven_video import DrivenVideo, ReenactOptions, VideoInput, drive_video
from viewer.runs.jobs import Job, ReenactError
from viewer.runs.reenact import write_reenactment
from viewer.runs.report import written_line
from viewer.video_frames import VideoFrames

EXPORT_STOP_SECONDS = 10.0  # a cancelled export gets this long to discard its unfinished file


@dataclass
class VideoTimeline:
    """What the window plays: `drive` frame for frame at `fps`, `frames` shown beside it."""

    avatar: Avatar
    driven: DrivenVideo
    frames: VideoFrames
    options: ReenactOptions  # the export's, as the headless run takes them: the tracking file as its replay
    show_landmarks: bool = False  # the landmarks drawn on the video's frames
    export: Export | None = None  # the latest export started

    def __post_init__(self) -> None:
        self.set_landmarks(self.show_landmarks)

    @property
    def drive(self) -> FlameSequence:
        return self.driven.drive

    @property
    def fps(self) -> float:
        return float(self.driven.input.rate)

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

    @property
    def params(self) -> Path:
        """The tracking file (saved or replayed): what an export replays."""
        return self.options.params

    def start_export(self) -> str:
        """Write the reenactment to its output (OUT.mp4 or PNGs) in the background; see `export.status()`."""
        if self.export is not None and self.export.running:
            return self.export.status()
        self.export = Export(self.avatar, self.driven, self.options)
        return f"exporting {self.job.output}"

    def toggle_export(self) -> str:
        """Start an export, or cancel the one running; what it does now, in one line."""
        if self.export is not None and self.export.running:
            self.export.cancel()
            return self.export.status()
        return self.start_export()

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
    frames = VideoFrames(video.job.video, len(driven.drive), driven.landmarks)
    params = options.params if options.params is not None else video.job.side_file("tracked.npz")
    export = dataclasses.replace(options, params=params, progress=False)
    return VideoTimeline(avatar, driven, frames, export, show_landmarks=options.landmarks)


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


class ExportCancelled(Exception):
    """The export was cancelled: raised between two frames, it leaves no output behind."""


class Export:
    """The headless reenactment of the timeline (viewer/runs/reenact.py's write_reenactment, replaying the window's
    tracking) on a thread of its own: it writes what --headless writes, beside the window, which keeps drawing
    (the CPU rasterizer takes turns between them)."""

    def __init__(self, avatar: Avatar, driven: DrivenVideo, options: ReenactOptions):
        self.total, self.done = len(driven.drive), 0  # frames to write, frames written
        self.result: str | None = None  # once it ended: what was written, or why not
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(avatar, driven, options), name="export",
                                        daemon=True)
        self._thread.start()

    def _run(self, avatar: Avatar, driven: DrivenVideo, options: ReenactOptions) -> None:
        try:
            self.result = written_line(write_reenactment(avatar, driven, options, on_frame=self._written))
        except ExportCancelled:
            self.result = "export cancelled: nothing was written"
        except ReenactError as err:
            self.result = f"export failed: {err}"
        except Exception as err:  # noqa: BLE001 - said under the button; the window goes on
            self.result = f"export failed: {type(err).__name__}: {err}"

    def _written(self, index: int) -> None:
        self.done = index + 1
        if self._cancel.is_set():
            raise ExportCancelled

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def status(self) -> str:
        """One line: the progress ("exporting: rendering 34/72"), then what was written or why not."""
        return f"exporting: rendering {self.done}/{self.total}" if self.running else self.result

    def cancel(self) -> None:
        """Stop it after the frame it is writing; it leaves no unfinished file."""
        self._cancel.set()
        self._thread.join(EXPORT_STOP_SECONDS)
