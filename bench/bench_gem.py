"""Per-frame cost of a GEM against the avatar it was built from, in the same run: the demo avatar (rigged) and a
synthetic MonoGaussianAvatar point avatar (tests/fake_experiment.py), each with its GEM; posing alone and posing
plus the CPU rasterizer at 512x512. Also the one-time cost of building each GEM. Writes its section of
docs/benchmarks.md.

    .venv/bin/python bench/bench_gem.py
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from avatar import load_avatar, save_avatar  # noqa: E402
from avatar.gem.build import build_gem, sample_params  # noqa: E402
from avatar.gem.demo import DEMO_COUNTS, DEMO_SAMPLES  # noqa: E402
from avatar.point.avatar import PointAvatar  # noqa: E402
from avatar.point.experiment import open_experiment  # noqa: E402
from avatar.splatting.rasterizer.cpu import rasterize_cpu  # noqa: E402
from bench.report import REPORT, load, machine, write_section  # noqa: E402
from tests.fake_experiment import write_experiment  # noqa: E402

SIZE = 512
ROUNDS = 6  # each: FRAMES frames, each posed by the avatar then by its GEM; then rasterizing one of each
FRAMES = 10
POINTS = 20_000  # the point avatar's size: its GEM build samples it 128 times
POINT_COUNTS = {"geometry": 50, "opacity": 50, "scales": 40, "rotation": 40}  # the original's


def frame_params(avatar, count: int):
    """Held-out parameter sets (not the build's seed) with a turned, moved head: every part of a frame runs."""
    params = sample_params(avatar, count, seed=99)
    generator = torch.Generator().manual_seed(1)
    frames = []
    for i in range(count):
        p = params.frame(i)
        p.pose[0] = 0.3 * (torch.rand(3, generator=generator) - 0.5)
        p.translation = 0.01 * (torch.rand(3, generator=generator) - 0.5)
        frames.append(p)
    return frames


def compare(name: str, avatar, gem) -> dict:
    frames = frame_params(avatar, FRAMES)
    camera = avatar.default_camera.resized(SIZE, SIZE)
    background = torch.ones(3)
    times = {key: [] for key in ("avatar", "gem", "avatar_raster", "gem_raster")}
    with torch.inference_mode():
        for who in (avatar, gem):  # warm-up (numba kernels, allocations)
            rasterize_cpu(who.gaussians(frames[0]), camera, background)
        for _ in range(ROUNDS):
            for params in frames:  # alternating, so that both see the same load on a shared machine
                for key, who in (("avatar", avatar), ("gem", gem)):
                    start = time.perf_counter()
                    who.gaussians(params)
                    times[key].append(time.perf_counter() - start)
            for key, who in (("avatar", avatar), ("gem", gem)):
                gaussians = who.gaussians(frames[0])
                start = time.perf_counter()
                rasterize_cpu(gaussians, camera, background)
                times[f"{key}_raster"].append(time.perf_counter() - start)
    result = {key: 1e3 * statistics.median(values) for key, values in times.items()}
    print(f"{name}: avatar {result['avatar']:.2f} ms, GEM {result['gem']:.2f} ms per frame", flush=True)
    return result


def main() -> None:
    load_before = load()
    rows, builds = [], []
    with tempfile.TemporaryDirectory() as folder:
        demo = load_avatar()
        start = time.perf_counter()
        demo_gem = build_gem(demo, DEMO_COUNTS, DEMO_SAMPLES, progress=False).avatar
        builds.append(("demo", len(demo_gem.model), DEMO_SAMPLES, time.perf_counter() - start))
        rows.append(("demo avatar (rigged)", len(demo_gem.model), DEMO_COUNTS, compare("demo", demo, demo_gem)))

        fake = write_experiment(Path(folder), num_points=POINTS, radius=0.005)
        point = PointAvatar.from_experiment(open_experiment(fake.train_dir, fake.data_folder))
        start = time.perf_counter()
        point_gem = build_gem(point, POINT_COUNTS, DEMO_SAMPLES, progress=False).avatar
        builds.append(("point", len(point_gem.model), DEMO_SAMPLES, time.perf_counter() - start))
        saved = Path(folder) / "point_gem.npz"
        save_avatar(point_gem, saved)
        start = time.perf_counter()
        load_avatar(saved)
        load_s, size_mb = time.perf_counter() - start, saved.stat().st_size / 1e6
        rows.append((f"point avatar, N = {POINTS // 1000}k (synthetic)", len(point_gem.model), POINT_COUNTS,
                     compare("point", point, point_gem)))

    load_after = load()
    lines = ["| avatar | N | GEM components (geometry, opacity, scales, rotation) | avatar ms | GEM ms | ratio "
             "| avatar + raster ms | GEM + raster ms | ratio |", "|---|---|---|---|---|---|---|---|---|"]
    for name, n, counts, r in rows:
        total_avatar, total_gem = r["avatar"] + r["avatar_raster"], r["gem"] + r["gem_raster"]
        lines.append(f"| {name} | {n:,} | {', '.join(str(c) for c in counts.values())} | {r['avatar']:.2f} | "
                     f"{r['gem']:.2f} | **{r['avatar'] / r['gem']:.1f}x** | {total_avatar:.1f} | {total_gem:.1f} | "
                     f"**{total_avatar / total_gem:.2f}x** |")
    build_text = "; ".join(f"{name} ({n:,} Gaussians, {samples} samples) {seconds:.1f} s"
                           for name, n, samples, seconds in builds)
    section = (
        "## GEM against the avatar it was built from\n\n"
        "`.venv/bin/python bench/bench_gem.py` (this section is what it writes). Each GEM is built by "
        "`avatar.gem.build.build_gem` from the avatar beside it, then both are posed with the same held-out "
        "parameters (expression, jaw, eyes, a turned and moved head): `gaussians(params)` alone, then with the CPU "
        f"rasterizer at {SIZE}x{SIZE}. Medians over {ROUNDS * FRAMES} frames, avatar and GEM alternating; "
        f"rasterizing over {ROUNDS}. Ratio = avatar time / GEM time (above 1: the GEM is faster). The point avatar "
        "has random weights (its cost does not depend on them), so its GEM's accuracy means nothing here; "
        "tests/test_gem_build.py measures accuracy on the demo.\n\n"
        f"Machine: {machine()}. Load average (1, 5, 15 min) before the run {load_before}, after {load_after}.\n\n"
        + "\n".join(lines) + "\n\n"
        f"Building (sampling, eigen-decompositions, PCA, mapper): {build_text}. The point avatar's GEM file: "
        f"{size_mb:.0f} MB, loaded in {load_s:.2f} s.\n"
    )
    print(section)
    write_section(section)
    print(f"wrote {REPORT}")


if __name__ == "__main__":
    main()
