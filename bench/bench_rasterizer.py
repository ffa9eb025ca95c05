"""Speed of the CPU rasterizer at 512x512, against the brute-force reference measured in the same run.

Scenes: a head-like shell of random Gaussians at 20k, 60k and 100k, and the demo avatar; then the demo's whole
frame (posing + rasterizing) over the scripted sweep.
Prints a table and writes it to docs/benchmarks.md.

    .venv/bin/python bench/bench_rasterizer.py
"""
from __future__ import annotations

import math
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from avatar.demo import load_demo_avatar  # noqa: E402
from avatar.splatting.gaussians import Gaussians  # noqa: E402
from avatar.splatting.rasterizer.cpu import rasterize_cpu  # noqa: E402
from avatar.splatting.rasterizer.reference import rasterize_reference  # noqa: E402
from bench.report import REPORT, load, machine, write_section  # noqa: E402
from models.camera import Camera  # noqa: E402
from models.orbit import OrbitCamera  # noqa: E402
from models.params import FlameParams  # noqa: E402
from viewer.runs.sweep import sweep_frame  # noqa: E402

SIZE = 512
FRAMES = 40  # per scene, in ROUNDS rounds
ROUNDS = 4
BACKGROUND = torch.ones(3)


def head_scene(n: int, seed: int = 0) -> tuple[Gaussians, Camera]:
    """n Gaussians on an ellipsoid shell (semi-axes 9/12/10 cm) seen from 0.6 m with f = 1.2 W. Log-normal
    scales average 1.5 mm at 100k and grow as 1/sqrt(n), so that every n covers about the same pixels."""
    g = torch.Generator().manual_seed(seed)
    means = torch.nn.functional.normalize(torch.randn(n, 3, generator=g), dim=1) * torch.tensor([0.09, 0.12, 0.10])
    quats = torch.nn.functional.normalize(torch.randn(n, 4, generator=g), dim=1)
    mean_scale, spread = 1.5e-3 * math.sqrt(100_000 / n), 0.5
    scales = torch.exp(torch.randn(n, 3, generator=g) * spread + math.log(mean_scale) - spread**2 / 2)
    opacities = 0.6 + 0.4 * torch.rand(n, generator=g)
    colors = torch.rand(n, 3, generator=g)
    camera = Camera.look_at((0.0, 0.0, -0.6), (0.0, 0.0, 0.0), (0.0, -1.0, 0.0), SIZE, SIZE, 1.2 * SIZE)
    return Gaussians(means, opacities, colors, quats, scales), camera


def demo_scene() -> tuple[Gaussians, Camera]:
    """The demo avatar at rest, through its own camera at 512x512."""
    avatar = load_demo_avatar()
    with torch.inference_mode():
        gaussians = avatar.gaussians(FlameParams.neutral(avatar.head.num_expressions))
    return gaussians, avatar.default_camera.resized(SIZE, SIZE)


def demo_frames() -> dict:
    """What a frame of the demo costs in the app: posing the avatar (skinning, triangle frames, Gaussians) and
    rasterizing, over the frames of the scripted sweep (expressions, jaw, head turns, eyes, camera orbit)."""
    avatar = load_demo_avatar()
    orbit = OrbitCamera.home_of(avatar, SIZE, SIZE)
    pose_s, raster_s = [], []
    with torch.inference_mode():
        for index in range(-2, 4 * FRAMES):  # two warm-up frames
            params, camera = sweep_frame(max(index, 0), 4 * FRAMES, avatar.head.num_expressions, orbit)
            start = time.perf_counter()
            gaussians = avatar.gaussians(params)
            posed = time.perf_counter()
            rasterize_cpu(gaussians, camera, BACKGROUND)
            if index >= 0:
                pose_s.append(posed - start)
                raster_s.append(time.perf_counter() - posed)
    total = [a + b for a, b in zip(pose_s, raster_s)]
    return {"pose": 1e3 * statistics.median(pose_s), "raster": 1e3 * statistics.median(raster_s),
            "total": 1e3 * statistics.median(total), "fps": 1e3 / (1e3 * statistics.median(total))}


def measure(scenes: list[tuple[str, Gaussians, Camera]]) -> list[dict]:
    """Time every scene in ROUNDS interleaved rounds (so that a busy spell of a shared machine weighs on all
    scenes alike), then the reference once per scene; one row per scene."""
    for _, gaussians, camera in scenes:  # the first call may compile (or load the compiled kernels)
        rasterize_cpu(gaussians, camera, BACKGROUND)
    totals = {name: [] for name, _, _ in scenes}
    stages = {name: [] for name, _, _ in scenes}
    for _ in range(ROUNDS):
        for name, gaussians, camera in scenes:
            for _ in range(FRAMES // ROUNDS):
                timings: dict[str, float] = {}
                start = time.perf_counter()
                rasterize_cpu(gaussians, camera, BACKGROUND, timings)
                totals[name].append(time.perf_counter() - start)
                stages[name].append(timings)
    rows = []
    for name, gaussians, camera in scenes:
        start = time.perf_counter()
        expected = rasterize_reference(gaussians, camera, BACKGROUND)
        reference_s = time.perf_counter() - start
        render = rasterize_cpu(gaussians, camera, BACKGROUND)
        frame_s = statistics.median(totals[name])
        rows.append({
            "scene": name,
            "N": len(gaussians),
            "ms": 1e3 * frame_s,
            "fps": 1 / frame_s,
            **{stage: 1e3 * statistics.median(t[stage] for t in stages[name]) for stage in stages[name][0]},
            "reference_s": reference_s,
            "speedup": reference_s / frame_s,
            "max_diff": (render.image.double() - expected.image).abs().max().item(),
        })
        print(f"{name}: {rows[-1]['ms']:.1f} ms/frame, reference {reference_s:.1f} s", flush=True)
    return rows


def table(rows: list[dict]) -> str:
    lines = [
        "| scene | N | ms/frame | fps | project ms | sort+bin ms | composite ms | reference s/frame | speed-up "
        "| max abs diff (image) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['scene']} | {r['N']:,} | {r['ms']:.1f} | {r['fps']:.1f} | {r['project']:.1f} | {r['sort+bin']:.1f} "
            f"| {r['composite']:.1f} | {r['reference_s']:.1f} | {r['speedup']:.0f}x | {r['max_diff']:.1e} |"
        )
    return "\n".join(lines)


def main() -> None:
    scenes = [(f"head shell {n // 1000}k", *head_scene(n)) for n in (20_000, 60_000, 100_000)]
    scenes.append(("demo avatar", *demo_scene()))
    load_before = load()
    rows = measure(scenes)
    demo = demo_frames()
    frame_line = (f"Demo avatar, whole frame over the scripted sweep ({4 * FRAMES} frames, medians): posing "
                  f"{demo['pose']:.1f} ms + rasterizing {demo['raster']:.1f} ms = {demo['total']:.1f} ms, "
                  f"{demo['fps']:.0f} fps.")
    print(frame_line)
    load_after = load()
    header = f"{machine()}\nload average (1, 5, 15 min) before {load_before}, after {load_after}"
    print(header)
    print(table(rows))
    section = (
        "## CPU rasterizer, 512x512\n\n"
        "`.venv/bin/python bench/bench_rasterizer.py` (this section is what it writes). The CPU rasterizer "
        f"(`avatar/splatting/rasterizer/cpu.py`) is timed as the median of {FRAMES} frames after warm-up, taken in "
        f"{ROUNDS} rounds that go through all scenes in turn; the brute-force reference "
        "(`avatar/splatting/rasterizer/reference.py`) once per scene, in the same run. Head shell: random Gaussians "
        "on an ellipsoid shell of semi-axes 9/12/10 cm seen from 0.6 m, f = 1.2 W, opacities 0.6-1. Demo avatar: at "
        "rest, through its own camera. Stages are medians of their own. The last column compares the CPU image with the reference's. Other "
        "work on the (shared, virtual) machine moves these figures by 20-40% from run to run. For scale: the "
        "throw-away prototype of shared/specs/dependencies.md section 7 (torch projection and binning, numba "
        "compositing) took 52 ms (20k) and 126 ms (100k) on the same kind of machine.\n\n"
        f"Machine: {machine()}. Load average (1, 5, 15 min) before the run {load_before}, after {load_after}.\n\n"
        f"{table(rows)}\n\n{frame_line}\n"
    )
    write_section(section)
    print(f"wrote {REPORT}")


if __name__ == "__main__":
    main()
