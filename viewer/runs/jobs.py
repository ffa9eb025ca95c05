"""Reenactment jobs: each input video and where its output goes (`plan_jobs` for `--video` and `--output`), every
output checked before any work starts."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from models.atomic_file import replace_problem

VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm")
SIDE_FILES = ("tracked.npz", "flame_params.json", "report.json")  # beside an .mp4 as OUT.<name>; in a PNG folder


class ReenactError(Exception):
    """One input cannot be reenacted; the message is one line saying what and what to do."""


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
        make_folder(folder)
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
        make_folder(output)
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


def make_folder(folder: Path) -> None:
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
