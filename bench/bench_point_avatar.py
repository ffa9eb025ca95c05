"""Per-frame cost of a MonoGaussianAvatar point avatar with N = 100,000 points (what any checkpoint from epoch 61
on holds): our cached path (avatar/point/avatar.py) against the original's per-frame computation done directly
(avatar/point/original.py: geometry network, deformer, un-posing and LBS every frame), in the same run, on the
same checkpoint. Writes its section of docs/benchmarks.md.

    .venv/bin/python bench/bench_point_avatar.py
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
from avatar.point.avatar import PointAvatar  # noqa: E402
from avatar.point.experiment import open_experiment  # noqa: E402
from avatar.point.original import original_frame  # noqa: E402
from avatar.splatting.rasterizer.cpu import rasterize_cpu  # noqa: E402
from bench.report import REPORT, load, machine, write_section  # noqa: E402
from tests.fake_experiment import write_experiment  # noqa: E402

NUM_POINTS = 100_000
ROUNDS = 3  # each: FAST_FRAMES frames of our path, then one of the original's
FAST_FRAMES = 10


def main() -> None:
    load_before = load()
    with tempfile.TemporaryDirectory() as folder, torch.inference_mode():
        fake = write_experiment(Path(folder), num_points=NUM_POINTS, radius=0.005)
        experiment = open_experiment(fake.train_dir, fake.data_folder)
        start = time.perf_counter()
        avatar = PointAvatar.from_experiment(experiment)
        prepare_s = time.perf_counter() - start
        saved = Path(folder) / "avatar.npz"
        save_avatar(avatar, saved)
        start = time.perf_counter()
        load_avatar(saved)
        load_s = time.perf_counter() - start
        size_mb = saved.stat().st_size / 1e6

        frames = [avatar.timeline.frame(i) for i in range(len(avatar.timeline))]
        for params in frames[:2]:  # warm-up
            avatar.gaussians(params)
        fast_s, original_s, raster_s = [], [], []
        for round_ in range(ROUNDS):
            for k in range(FAST_FRAMES):
                params = frames[k % len(frames)]
                start = time.perf_counter()
                gaussians = avatar.gaussians(params)
                fast_s.append(time.perf_counter() - start)
            start = time.perf_counter()
            rasterize_cpu(gaussians, avatar.default_camera, torch.ones(3))
            raster_s.append(time.perf_counter() - start)
            params = frames[round_ % len(frames)]
            start = time.perf_counter()
            original_frame(experiment.state_dict, experiment.radius, experiment.canonical_expression,
                           experiment.canonical_jaw, params.expression, params.pose)
            original_s.append(time.perf_counter() - start)
            print(f"round {round_ + 1}/{ROUNDS}: ours {1e3 * statistics.median(fast_s):.1f} ms, original "
                  f"{original_s[-1]:.2f} s", flush=True)

    fast, original = statistics.median(fast_s), statistics.median(original_s)
    load_after = load()
    table = "\n".join([
        "| per frame, N = 100k | ms | speed-up |",
        "|---|---|---|",
        f"| original's computation (geometry network, deformer, un-pose, LBS, Gaussian network) | "
        f"{1e3 * original:.0f} | 1x |",
        f"| ours (cached: skeleton, blendshapes, LBS, Gaussian network) | {1e3 * fast:.1f} | "
        f"**{original / fast:.0f}x** |",
    ])
    section = (
        "## MonoGaussianAvatar point avatar, N = 100k\n\n"
        "`.venv/bin/python bench/bench_point_avatar.py` (this section is what it writes). A checkpoint in the "
        "original's layout with 100,000 points and random weights (tests/fake_experiment.py; the cost does not "
        "depend on the weights). Medians: ours over "
        f"{ROUNDS * FAST_FRAMES} frames, the original's computation over {ROUNDS}, interleaved in {ROUNDS} rounds. "
        "The original's computation is done directly without its discarded Jacobian (spec Q8), so the original "
        "itself costs more than this.\n\n"
        f"Machine: {machine()}. Load average (1, 5, 15 min) before the run {load_before}, after {load_after}.\n\n"
        f"{table}\n\n"
        f"One-time work when opening the experiment (geometry network, deformer, un-posing): {prepare_s:.1f} s. "
        f"Saved as a livehead avatar ({size_mb:.0f} MB), it loads in {load_s:.2f} s. Rasterizing this synthetic "
        f"avatar at 512x512 on the CPU: {1e3 * statistics.median(raster_s):.0f} ms (its random weights give "
        "larger Gaussians than a trained avatar's).\n"
    )
    print(section)
    write_section(section)
    print(f"wrote {REPORT}")


if __name__ == "__main__":
    main()
