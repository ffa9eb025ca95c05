"""A reenactment's report (OUT.report.json): what was written, from what, how, and how long each stage took; and
the one line a run prints from it."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from models.atomic_file import replaced_atomically
from viewer.runs.driven_video import DrivenVideo, ReenactOptions, Timing

REPORT_VERSION = 1


def reenactment_report(driven: DrivenVideo, options: ReenactOptions, rendered: int, writer, unreadable: list[int],
                       notes: list[str], timing: Timing) -> dict:
    """The report of `driven` reenacted into `writer` (an Mp4Writer or PngWriter, closed): `rendered` frames,
    the input's `unreadable` frames, the run's `notes` and `timing`."""
    video, tracked = driven.input, driven.tracked
    job = video.job
    errors = tracked.fit_error_px
    return {
        "version": REPORT_VERSION,
        "input": str(job.video),
        "output": str(job.output),
        "format": "png" if job.png else "mp4",
        "frames": rendered,
        "frames_in_container": video.expected,
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


def write_report(path: Path, value: dict) -> None:
    # One key a line, each value on its line (the per-frame lists stay one line each).
    lines = [f" {json.dumps(key)}: {json.dumps(item)}" for key, item in value.items()]
    with replaced_atomically(path) as temporary:
        temporary.write_text("{\n" + ",\n".join(lines) + "\n}\n")


def written_line(report: dict) -> str:
    """What a reenactment wrote, in one line, from its report."""
    faceless = len(report["frames_without_face"])
    extra = "".join(f"; {note}" for note in report["notes"])
    return (f"wrote {report['output']} ({report['frames']} frames, {report['size'][0]}x{report['size'][1]}, "
            f"{report['fps']:.6g} fps{', audio' if report['audio'] else ''}; {faceless} without a face; "
            f"{report['timing_s']['fps']} frames/s){extra}")
