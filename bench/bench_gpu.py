"""The CUDA rasterizers against our CPU one on the same scenes as bench_rasterizer.py: how far their images
are from the CPU image, and their frame time. Needs CUDA; writes its section of docs/benchmarks.md.

    .venv/bin/python bench/bench_gpu.py
"""
from __future__ import annotations

import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from avatar.rasterizer import available_backends, rasterize  # noqa: E402
from bench.bench_rasterizer import BACKGROUND, demo_scene, head_scene  # noqa: E402
from bench.report import REPORT, load, write_section  # noqa: E402

FRAMES = 50


def gpu_ms(gaussians, camera, backend: str) -> float:
    """Median time of one frame, the GPU finished each time (the background is on the GPU beforehand)."""
    background = BACKGROUND.cuda()
    times = []
    for index in range(FRAMES + 5):  # five warm-up frames (gsplat compiles its kernels on first use)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        rasterize(gaussians, camera, background, backend)
        end.record()
        torch.cuda.synchronize()
        if index >= 5:
            times.append(start.elapsed_time(end))
    return statistics.median(times)


def main() -> None:
    backends = [name for name in available_backends() if name != "cpu"]
    if not backends:
        sys.exit("bench_gpu: needs CUDA and gsplat or diff-gaussian-rasterization; nothing to measure here")
    scenes = [(f"head shell {n // 1000}k", *head_scene(n)) for n in (20_000, 60_000, 100_000)]
    scenes.append(("demo avatar", *demo_scene()))
    lines = ["| scene | N | backend | GPU ms/frame | mean abs diff to cpu | max abs diff | pixels > 1/255 |",
             "|---|---|---|---|---|---|---|"]
    for name, gaussians, camera in scenes:
        cpu = rasterize(gaussians, camera, BACKGROUND, "cpu").image
        on_gpu = gaussians.to("cuda")
        for backend in backends:
            difference = (rasterize(on_gpu, camera, BACKGROUND.cuda(), backend).image.cpu() - cpu).abs()
            lines.append(f"| {name} | {len(gaussians):,} | {backend} | {gpu_ms(on_gpu, camera, backend):.2f} "
                         f"| {difference.mean():.1e} | {difference.max():.1e} | "
                         f"{(difference.amax(dim=-1) > 1 / 255).double().mean():.2%} |")
            print(lines[-1], flush=True)
    section = (
        "## GPU rasterizers, 512x512\n\n"
        "`.venv/bin/python bench/bench_gpu.py` (this section is what it writes): each CUDA backend on the scenes "
        f"above, timed with CUDA events (median of {FRAMES} frames after 5 warm-up ones), and its image "
        "against the CPU backend's. gsplat keeps rules of its own (tiles from 3.33 sigma, alpha capped at 0.999), "
        "so it agrees closely rather than exactly.\n\n"
        f"Machine: {torch.cuda.get_device_name()}, torch {torch.__version__}; load average {load()}.\n\n"
        + "\n".join(lines) + "\n"
    )
    write_section(section)
    print(f"wrote {REPORT}")


if __name__ == "__main__":
    main()
