"""A batch of reenactments (`--video FOLDER`): each job in turn, those already done skipped, a failure reported and
the rest still run."""
from __future__ import annotations

import sys
from dataclasses import dataclass, field

from avatar import Avatar
from viewer.runs.driven_video import ReenactOptions
from viewer.runs.jobs import Job, ReenactError
from viewer.runs.reenact import reenact
from viewer.runs.report import written_line


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
