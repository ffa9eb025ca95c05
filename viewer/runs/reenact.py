"""Video reenactment: any avatar driven by any video, into an mp4 (or PNGs), one output frame per input frame.

    python launch.py --video clip.mp4 --output clip_avatar.mp4 --headless [--layout side --landmarks]

1. Track the whole video once (tracking/offline.py `track_source`), or replay a livehead tracked .npz (`--params`).
   The tracking is saved beside the output: OUT.tracked.npz (livehead) and OUT.flame_params.json (IMavatar).
2. The driver's neutral: estimated from the video (tracking/offline.py `estimate_neutral`), or one frame's.
3. The driving sequence (`drive_sequence`): smoothed with no lag, retargeted, no-face frames held then eased.
4. Every frame rendered through the avatar's default camera and laid out (viewer/runs/compose.py): alone, beside
   the source, or in a 2x2 grid.
5. H.264 at the source's exact frame rate with its audio copied, or a PNG sequence; then OUT.report.json
   (viewer/runs/report.py).

Steps 1-3 are viewer/runs/driven_video.py's, which the window's video timeline shares; `write_reenactment` does
steps 4-5. Jobs are planned by viewer/runs/jobs.py, and a folder of videos run by viewer/runs/batch.py.

Every input frame that decodes, or that is there but cannot be decoded, gives exactly one output frame: an
undecodable one is listed in the report and gets a black source panel. Everything is written under a temporary
name and renamed once complete, the report last: an output counts as done when it and its report exist, which is
what a batch run (`--video FOLDER`) checks to resume where it stopped.
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import numpy as np
import torch
from tqdm import tqdm

from avatar import Avatar
from viewer.runs.background import BackgroundWriter
from viewer.runs.compose import Compositor, layout_size
from viewer.runs.driven_video import (DrivenVideo, ReenactOptions, TimedSource, Timing, VideoInput, drive_video,
                                      open_input, open_video)
from viewer.runs.interrupts import interrupt_between_frames
from viewer.runs.jobs import Job, ReenactError, make_folder
from viewer.runs.report import reenactment_report, write_report
from viewer.runs.video import Mp4Writer, PngWriter


def reenact(avatar: Avatar, job: Job, options: ReenactOptions) -> dict:
    """Reenact `job.video` with `avatar` into `job.output`; returns the report (also written to job.report)."""
    if job.png:
        make_folder(job.output)
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

    report = reenactment_report(driven, options, rendered, writer, unreadable, notes, timing)
    write_report(job.report, report)
    return report


def _open_writer(video: VideoInput, options: ReenactOptions, notes: list[str]):
    job = video.job
    width, height = layout_size(options.layout, options.width, options.height, video.size)
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
    compositor = Compositor(avatar, options.width, options.height, options.background, options.renderer,
                            options.layout, source.size if source is not None else None, options.landmarks)
    detector = None
    if options.landmarks and options.params is not None and options.layout != "avatar":
        from tracking.face_mesh import (
            FaceMeshDetector,  # a replay has no landmarks saved: detect them again
        )

        detector = FaceMeshDetector(static_images=False, max_faces=1)
    frames = iter(source) if source is not None else iter(())
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
                picture = frame.image if frame is not None else None
                points = landmarks.get(index)
                if detector is not None and picture is not None:
                    found = detector.detect(picture)
                    points = found[0][:, :2] if found else None
                image = compositor.frame(drive.frame(index), picture, points, bool(face_found[index]))
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
