"""Video reenactment: any avatar driven by any video, into an mp4 (or PNGs), one output frame per input frame.

    python launch.py --video clip.mp4 --output clip_avatar.mp4 --headless [--layout side --landmarks]

1. Track the whole video once (tracking/tracker.py `track_source`), or replay a livehead tracked .npz (`--params`).
   The tracking is saved beside the output: OUT.tracked.npz (livehead) and OUT.flame_params.json (IMavatar).
2. The driver's neutral: estimated from the video (tracking/offline.py `estimate_neutral`), or one frame's.
3. The driving sequence (`drive_sequence`): smoothed with no lag, retargeted, no-face frames held then eased.
4. Every frame rendered through the avatar's default camera, laid out alone, beside the source, or in a 2x2 grid.
5. H.264 at the source's exact frame rate with its audio copied, or a PNG sequence; then OUT.report.json.

`open_input` (checks, before anything is loaded) and `drive_video` (steps 1-3) are what the window's video
timeline (viewer/video_timeline.py) shares; `write_reenactment` does steps 4-5.

Every input frame that decodes, or that is there but cannot be decoded, gives exactly one output frame: an
undecodable one is listed in the report and gets a black source panel. Everything is written under a temporary
name and renamed once complete, the report last: an output counts as done when it and its report exist, which is
what a batch run (`--video FOLDER`) checks to resume where it stopped.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from avatar import Avatar
from avatar.rasterizer import rasterize
from models.atomic_file import replace_problem, replaced_atomically
from models.params import FlameSequence
from tracking.offline import drive_sequence, estimate_neutral, neutral_from_frame
from tracking.sequence_file import (SequenceFileError, TrackedSequence, export_imavatar, load_tracked_sequence,
                                    save_tracked_sequence)
from tracking.sources import Frame, FrameSource, SourceError, VideoFileSource, open_source
from viewer.headless import interrupt_between_frames
from viewer.orbit import OrbitCamera
from viewer.overlap import BackgroundWriter, Prefetcher
from viewer.overlay import draw_landmarks, fit_into
from viewer.pixels import to_uint8
from viewer.settings import Settings
from viewer.video import Mp4Writer

VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm")
LAYOUTS = ("avatar", "side", "grid")
GRID_SIDE_YAW = math.radians(45.0)  # the grid's third panel: the avatar seen from its side
REPORT_VERSION = 1
SIDE_FILES = ("tracked.npz", "flame_params.json", "report.json")  # beside an .mp4 as OUT.<name>; in a PNG folder


class ReenactError(Exception):
    """One input cannot be reenacted; the message is one line saying what and what to do."""


@dataclass(frozen=True)
class ReenactOptions:
    """How a video is reenacted: a run's settings (viewer/settings.py, whose defaults configs/default.yaml gives)
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


@dataclass(frozen=True)
class Job:
    """One input video and where its output goes: an .mp4 file, or a folder of PNGs."""

    video: Path
    output: Path
    png: bool

    def side_file(self, name: str) -> Path:
        """OUT.mp4 -> OUT.<name>; a PNG folder keeps its side files inside: DIR/<name>."""
        return self.output / name if self.png else self.output.with_name(f"{self.output.stem}.{name}")

    def files(self) -> list[Path]:
        """Every file put in place by a rename: the .mp4 (a PNG folder's frames are written in place), the side
        files."""
        return ([] if self.png else [self.output]) + [self.side_file(name) for name in SIDE_FILES]

    @property
    def report(self) -> Path:
        return self.side_file("report.json")

    def done(self) -> bool:
        return self.output.exists() and self.report.is_file()


# -- planning -------------------------------------------------------------------------------------------------

def plan_jobs(video: Path, output: Path | None, png: bool, output_is_folder: bool = False) -> list[Job]:
    """The jobs for `--video` (a file or a folder of videos) and `--output`.

    One video: `output` is the .mp4 to write, or a folder of PNGs with `png` (or an output given as a folder:
    ending in a slash or existing). A folder of videos: `output` is the folder that gets one output per video,
    named after it. Raises ReenactError for what cannot work, before anything is tracked.
    """
    if video.is_dir():
        videos = sorted(p for p in video.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
        if not videos:
            raise ReenactError(f"--video {video}: no videos ({' '.join(VIDEO_SUFFIXES)}) in this folder")
        folder = output if output is not None else Path("reenacted")
        if folder.suffix.lower() == ".mp4" and not folder.is_dir():
            raise ReenactError(f"--output {folder}: with a folder of videos, --output is the folder that gets one "
                               "output per video")
        if folder.resolve() == video.resolve():  # the outputs would be taken for inputs by the next run
            raise ReenactError(f"--output {folder} is the folder of input videos; choose another folder for the "
                               "outputs")
        _make_folder(folder)
        stems = [p.stem for p in videos]
        jobs = []
        for path in videos:
            name = path.stem if stems.count(path.stem) == 1 else path.name  # a.mp4 and a.mov: a.mp4.mp4, a.mov.mp4
            jobs.append(Job(path, folder / name if png else folder / f"{name}.mp4", png))
        return _check_outputs(jobs)
    if not video.exists():
        raise ReenactError(f"--video {video}: no such file or folder")
    if output is None:
        output = Path(f"{video.stem}_reenacted") if png else Path(f"{video.stem}_reenacted.mp4")
    png = png or output_is_folder or (output.is_dir() and output.suffix.lower() != ".mp4")
    if png:
        _make_folder(output)
    else:
        if output.suffix.lower() != ".mp4":
            raise ReenactError(f"--output {output}: the video is written as H.264 .mp4; give a name ending in .mp4, "
                               "or a folder (ending in /) or --png for PNG frames")
    return _check_outputs([Job(video, output, png)])


def _check_outputs(jobs: list[Job]) -> list[Job]:
    """Every file the jobs write can be put in place (found now, not after the work), and no output is its input
    video."""
    for job in jobs:
        if job.output.resolve() == job.video.resolve():
            raise ReenactError(f"--output {job.output} would overwrite the input video {job.video}; choose another "
                               "name or folder")
        for path in job.files():
            problem = replace_problem(path)
            if problem is not None:
                raise ReenactError(f"cannot write --output {path}: {problem}; choose another name or folder")
    return jobs


def _make_folder(folder: Path) -> None:
    if folder.exists() and not folder.is_dir():
        raise ReenactError(f"--output {folder} is a file, and PNG frames go into a folder; choose another name")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ReenactError(f"cannot write --output {folder}: {err.strerror or err}; choose a folder that you can "
                           "write to") from None
    if not os.access(folder, os.W_OK):
        raise ReenactError(f"cannot write --output {folder}: permission denied; choose a folder that you can "
                           "write to")


# -- the pipeline ---------------------------------------------------------------------------------------------

@dataclass
class Timing:
    """Seconds each stage was busy. Decoding and encoding run on threads of their own (viewer/overlap.py), so
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
        neutral = (estimate_neutral(tracked) if options.neutral_frame is None
                   else neutral_from_frame(tracked, options.neutral_frame))
    except ValueError as err:
        if options.neutral_frame is not None:
            raise ReenactError(f"--neutral-frame: {err}") from None
        neutral = None  # no face anywhere: the avatar stays at rest
        notes.append(str(err))
    drive = drive_sequence(tracked, neutral, relative=options.relative, smoothing=options.smoothing)
    return DrivenVideo(video, tracked, drive, landmarks, tracking_pass, notes, timing)


def reenact(avatar: Avatar, job: Job, options: ReenactOptions) -> dict:
    """Reenact `job.video` with `avatar` into `job.output`; returns the report (also written to job.report)."""
    if job.png:
        _make_folder(job.output)
    return write_reenactment(avatar, drive_video(avatar, open_input(job, options), options), options)


def write_reenactment(avatar: Avatar, driven: DrivenVideo, options: ReenactOptions,
                      on_frame: Callable[[int], None] | None = None) -> dict:
    """Render `driven` into its job's output (laid out as `options` say), then the report; returns the report.
    `on_frame(index)` is called as each frame is written; what it raises stops the work, leaving no output."""
    job, video, notes = driven.input.job, driven.input, list(driven.notes)
    timing = dataclasses.replace(driven.timing)  # the tracking's seconds, then this rendering's
    tracked, drive = driven.tracked, driven.drive
    replay_source = None
    if options.params is not None or options.layout != "avatar":
        replay_source = TimedSource(open_video(job.video), timing)
    writer = _open_writer(video, options, notes)
    encoder = BackgroundWriter(writer.write)  # encodes while the next frame renders
    try:
        rendered = _render(avatar, drive, replay_source, tracked.face_found, driven.landmarks, encoder, timing,
                           options, on_frame)
        encoder.close()
    except BaseException:
        encoder.stop()
        writer.discard()  # nothing under the output's name
        raise
    start = time.perf_counter()
    try:
        writer.close()  # the encoder's last frames, then the rename
    except OSError as err:  # the output changed since it was checked (made a folder, locked)
        raise ReenactError(f"cannot write --output {job.output}: {err.strerror or err}") from None
    timing.encode += encoder.busy + time.perf_counter() - start
    decoded = driven.tracking_pass
    if replay_source is not None and options.params is not None:
        decoded = replay_source
        if decoded.count != len(drive):
            notes.append(f"--params has {len(drive)} frames and {decoded.count} decoded from the video")
    unreadable = decoded.unreadable if decoded is not None else []

    errors = tracked.fit_error_px
    report = {
        "version": REPORT_VERSION,
        "input": str(job.video),
        "output": str(job.output),
        "format": "png" if job.png else "mp4",
        "frames": rendered,
        "frames_in_container": driven.input.expected,
        "fps": float(video.rate),
        "fps_exact": str(video.rate),
        "audio": None if job.png or writer.audio is None else writer.audio.codec,
        "frames_without_face": np.flatnonzero(~tracked.face_found).tolist(),
        "unreadable_frames": unreadable,
        "fit_error_px": [None if not math.isfinite(e) else round(float(e), 4) for e in errors],
        "neutral": "auto" if options.neutral_frame is None else options.neutral_frame,
        "relative": options.relative,
        "params": None if options.params is None else str(options.params),
        "layout": options.layout,
        "size": [writer.width, writer.height],
        "notes": notes,
        "timing_s": timing.summary(rendered),
    }
    _write_json(job.report, report)
    return report


def _track(avatar: Avatar, source: TimedSource, timing: Timing, landmarks: dict | None,
           options: ReenactOptions):
    """The whole video tracked once: (the TrackedSequence, the source, the estimated face shape or None); keeps
    each frame's landmarks in `landmarks` when given."""
    from tracking.tracker import TrackedFrame, Tracker, TrackerSettings, track_source

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


class PngWriter:
    """frame_000000.png, frame_000001.png, ... into a folder; the same calls as Mp4Writer."""

    audio = None

    def __init__(self, folder: Path, width: int, height: int):
        self.folder, self.width, self.height, self.frames = folder, width, height, 0

    def write(self, rgb: np.ndarray) -> None:
        path = self.folder / f"frame_{self.frames:06d}.png"
        if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
            raise OSError(f"cannot write {path}")
        self.frames += 1

    def close(self) -> None:
        pass  # the report, written last, is what marks the folder complete

    def discard(self) -> None:
        pass  # the frames stay; without a report they do not count as done, and a new run overwrites them


def layout_size(options: ReenactOptions, source_size: tuple[int, int] | None) -> tuple[int, int]:
    """The output frame's (width, height)."""
    width, height = options.width, options.height
    if options.layout == "grid":
        return 2 * width, 2 * height
    if options.layout == "side":
        source_width = 2 * round(height * source_size[0] / source_size[1] / 2)  # even: H.264 needs it
        return max(2, source_width) + width, height
    return width, height


def _open_writer(video: VideoInput, options: ReenactOptions, notes: list[str]):
    job = video.job
    width, height = layout_size(options, video.size)
    if job.png:
        for old in job.output.glob("frame_*.png"):  # an earlier, interrupted run's frames
            old.unlink()
        return PngWriter(job.output, width, height)
    try:
        writer = Mp4Writer(job.output, width, height, video.rate, audio_from=job.video if video.audio else None)
    except ValueError as err:  # an audio codec that mp4 cannot hold: the video goes without it
        notes.append(f"audio not copied: {err}")
        writer = Mp4Writer(job.output, width, height, video.rate)
    except OSError as err:
        raise ReenactError(f"cannot write --output {job.output}: {err.strerror or err}; choose a folder that "
                           "exists and that you can write to") from None
    writer.width, writer.height = width, height
    return writer


def _render(avatar: Avatar, drive, source: TimedSource | None, face_found: np.ndarray, landmarks: dict,
            writer, timing: Timing, options: ReenactOptions, on_frame: Callable[[int], None] | None) -> int:
    """Every frame of `drive` rendered and written; returns the count."""
    orbit = OrbitCamera.home_of(avatar, options.width, options.height)
    front = orbit.camera()
    orbit.rotate(GRID_SIDE_YAW, 0.0)
    side = orbit.camera()
    background = torch.tensor(options.background, dtype=torch.float32) / 255
    detector = None
    if options.landmarks and options.params is not None and options.layout != "avatar":
        from tracking.face_mesh import FaceMeshDetector  # a replay has no landmarks saved: detect them again

        detector = FaceMeshDetector(static_images=False, max_faces=1)
    frames = iter(source) if source is not None else iter(())
    source_size = source.size if source is not None else None
    count = len(drive)
    try:
        with torch.inference_mode(), interrupt_between_frames() as interrupted, \
                tqdm(total=count, desc="rendering", unit="frame", disable=not options.progress,
                     dynamic_ncols=True) as bar:
            for index in range(count):
                if interrupted.is_set():
                    raise KeyboardInterrupt
                frame = next(frames, None) if source is not None else None
                start = time.perf_counter()
                image = _compose(avatar, drive.frame(index), frame, source_size, front, side, background,
                                 bool(face_found[index]), landmarks, detector, index, options)
                timing.render += time.perf_counter() - start
                writer.write(image)
                bar.update()
                if on_frame is not None:
                    on_frame(index)
    finally:
        if source is not None:
            source.close()
        if detector is not None:
            detector.close()
    return count


def _compose(avatar, params, frame: Frame | None, source_size, front, side, background, face_found: bool,
             landmarks: dict, detector, index: int, options: ReenactOptions) -> np.ndarray:
    gaussians = avatar.gaussians(params)
    render = rasterize(gaussians, front, background, options.renderer, image_only=options.layout != "grid")
    avatar_image = to_uint8(render.image).cpu().numpy()  # images come back as bytes, from any device
    if options.layout == "avatar":
        return avatar_image
    height = options.height
    picture = frame.image if frame is not None else None
    if picture is not None and options.landmarks:
        points = landmarks.get(index)
        if detector is not None:
            found = detector.detect(picture)
            points = found[0][:, :2] if found else None
        picture = draw_landmarks(picture, points, face_found=face_found)
    if options.layout == "side":
        panel_width = layout_size(options, source_size)[0] - options.width
        panel = (fit_into(picture, panel_width, height) if picture is not None
                 else np.zeros((height, panel_width, 3), np.uint8))
        return np.concatenate([panel, avatar_image], axis=1)
    panel = (fit_into(picture, options.width, height) if picture is not None
             else np.zeros((height, options.width, 3), np.uint8))
    side_image = to_uint8(rasterize(gaussians, side, background, options.renderer, image_only=True).image).cpu().numpy()
    alpha = to_uint8(render.alpha).cpu().numpy()
    alpha = np.repeat(alpha[:, :, None], 3, axis=2)
    return np.concatenate([np.concatenate([panel, avatar_image], axis=1),
                           np.concatenate([side_image, alpha], axis=1)], axis=0)


def _write_json(path: Path, value) -> None:
    # One key a line, each value on its line (the per-frame lists stay one line each).
    lines = [f" {json.dumps(key)}: {json.dumps(item)}" for key, item in value.items()]
    with replaced_atomically(path) as temporary:
        temporary.write_text("{\n" + ",\n".join(lines) + "\n}\n")


# -- batch ----------------------------------------------------------------------------------------------------

@dataclass
class BatchResult:
    written: list[Job] = field(default_factory=list)
    skipped: list[Job] = field(default_factory=list)
    failed: list[tuple[Job, str]] = field(default_factory=list)


def reenact_all(avatar: Avatar, jobs: list[Job], options: ReenactOptions, say=print) -> BatchResult:
    """Each job in turn; a job already done (its output and report exist) is skipped, a failed one reported
    (one line on stderr) and the rest still run."""
    result = BatchResult()
    for number, job in enumerate(jobs, 1):
        prefix = f"[{number}/{len(jobs)}] " if len(jobs) > 1 else ""
        if len(jobs) > 1 and job.done():
            say(f"{prefix}skipping {job.video.name}: {job.output} is already done (delete it to redo it)")
            result.skipped.append(job)
            continue
        if len(jobs) > 1:
            say(f"{prefix}{job.video}")
        try:
            report = reenact(avatar, job, options)
        except ReenactError as err:
            if len(jobs) == 1:
                raise
            print(f"livehead: {err}", file=sys.stderr)
            result.failed.append((job, str(err)))
            continue
        say(prefix + written_line(report))
        result.written.append(job)
    return result


def written_line(report: dict) -> str:
    """What a reenactment wrote, in one line, from its report."""
    faceless = len(report["frames_without_face"])
    extra = "".join(f"; {note}" for note in report["notes"])
    return (f"wrote {report['output']} ({report['frames']} frames, {report['size'][0]}x{report['size'][1]}, "
            f"{report['fps']:.6g} fps{', audio' if report['audio'] else ''}; {faceless} without a face; "
            f"{report['timing_s']['fps']} frames/s){extra}")
