"""Video reenactment throughput on the CPU: the demo avatar driven by a real fixture video (launch.py --video
... --headless, the avatar layout), end to end at 256x256 and 512x512, split into decode / track / render / encode.
Writes its section of docs/benchmarks.md.

    .venv/bin/python bench/bench_reenact.py [VIDEO]
"""
from __future__ import annotations

import dataclasses
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from avatar import load_avatar  # noqa: E402
from bench.report import REPORT, load, machine, write_section  # noqa: E402
from viewer.runs.driven_video import ReenactOptions
from viewer.runs.jobs import Job
from viewer.runs.reenact import reenact  # noqa: E402
from viewer.runs.settings import settings_from  # noqa: E402

FACES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "faces"
VIDEO = FACES / "pyfeat_WolfgangLanger_Pexels.mp4"
SIZES = (256, 512)
STAGES = ("decode", "track", "render", "encode")


def main() -> None:
    video = Path(sys.argv[1]) if len(sys.argv) > 1 else VIDEO
    if not video.is_file():
        sys.exit(f"{video}: no such video (the shared fixtures are absent?)")
    load_before = load()
    avatar = load_avatar()
    defaults = ReenactOptions.of(settings_from(["--headless", "--renderer", "cpu"]))  # configs/default.yaml's

    def options(size: int):
        return dataclasses.replace(defaults, width=size, height=size, progress=False)

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        # A first short run compiles what numba compiles and warms MediaPipe: not part of the figures.
        reenact(avatar, Job(FACES / "pyfeat_single_face.mp4", Path(folder) / "warm.mp4", False),
                options(64))
        for size in SIZES:
            started = time.perf_counter()
            report = reenact(avatar, Job(video, Path(folder) / f"{size}.mp4", False),
                             options(size))
            wall = time.perf_counter() - started
            frames, timing = report["frames"], report["timing_s"]
            per_frame = {stage: 1e3 * timing[stage] / frames for stage in STAGES}
            rows.append((size, frames, wall, frames / wall, per_frame, report["audio"]))
            print(f"{size}x{size}: {frames} frames in {wall:.1f} s = {frames / wall:.1f} frames/s; ms per frame "
                  + ", ".join(f"{stage} {value:.1f}" for stage, value in per_frame.items()))
    load_after = load()

    lines = [
        "## Video reenactment, CPU",
        "",
        "`.venv/bin/python bench/bench_reenact.py` (this section is what it writes). `launch.py --video "
        f"{video.name} --output OUT.mp4 --headless` as `viewer/runs/reenact.py` runs it, in one process: the demo "
        f"avatar, the CPU rasterizer, the avatar layout, {rows[0][1]} frames ({video.name}, 640x360, with its "
        "audio copied). Decode: PyAV's decoding of the source frames; track: MediaPipe's landmarks, the fit and "
        "the one-time face-shape estimate (tracking/tracker.py), then the offline neutral and zero-phase "
        "smoothing; render: the avatar's Gaussians and their rasterization; encode: libx264 (crf 18) and the "
        "audio copy. Decoding and encoding run on threads of their own (viewer/runs/background.py), overlapping the "
        "tracking and the rendering: each stage's figure is the time it was busy, and together they exceed the "
        "wall time. Frames/s is end to end (wall clock, the saved tracking and report included).",
        "",
        f"Machine: {machine()}. Load average (1, 5, 15 min) before the run {load_before}, after {load_after}.",
        "",
        "| size | frames | wall | **frames/s** | decode ms/frame | track ms/frame | render ms/frame | "
        "encode ms/frame |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for size, frames, wall, fps, per_frame, _ in rows:
        lines.append(f"| {size}x{size} | {frames} | {wall:.1f} s | **{fps:.1f}** | "
                     + " | ".join(f"{per_frame[stage]:.1f}" for stage in STAGES) + " |")
    lines.append("")
    write_section("\n".join(lines) + "\n")
    print(f"wrote its section of {REPORT}")


if __name__ == "__main__":
    main()
