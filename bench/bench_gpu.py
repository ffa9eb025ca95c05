"""The CUDA rasterizers against our CPU one on the same scenes as bench_rasterizer.py: how far their images
are from the CPU image, and their frame time. Then whole frames on the GPU: the demo's GEM (float32 and float16
bases; goal 500 fps at 512x512, rasterizing included) and a 100k-point MonoGaussianAvatar (goal 300 fps, the image
back on the host), each against the same avatar posed on the CPU. Needs CUDA; writes its three sections of
docs/benchmarks.md. `bench/gpu_check.sh` runs it with the CUDA tests.

    .venv/bin/python bench/bench_gpu.py
"""
from __future__ import annotations

import itertools
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from avatar.gem.demo import load_demo_gem  # noqa: E402
from avatar.point.avatar import PointAvatar  # noqa: E402
from avatar.point.experiment import open_experiment  # noqa: E402
from avatar.splatting.rasterizer import available_backends, rasterize  # noqa: E402
from bench.bench_gem import frame_params  # noqa: E402
from bench.bench_rasterizer import BACKGROUND, SIZE, demo_scene, head_scene  # noqa: E402
from bench.report import REPORT, load, write_section  # noqa: E402
from tests.fake_experiment import write_experiment  # noqa: E402

FRAMES = 50


def gpu_ms(frame: Callable[[], object]) -> float:
    """Median time of one `frame()`, the GPU finished each time. The events also time the GPU's waits for the
    CPU's kernel launches: what a frame costs, not only its kernels."""
    times = []
    for index in range(FRAMES + 5):  # five warm-up frames (gsplat compiles its kernels on first use)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        frame()
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
    background = BACKGROUND.cuda()
    for name, gaussians, camera in scenes:
        cpu = rasterize(gaussians, camera, BACKGROUND, "cpu").image
        on_gpu = gaussians.to("cuda")
        for backend in backends:
            difference = (rasterize(on_gpu, camera, background, backend).image.cpu() - cpu).abs()
            ms = gpu_ms(lambda: rasterize(on_gpu, camera, background, backend))
            lines.append(f"| {name} | {len(gaussians):,} | {backend} | {ms:.2f} "
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
    write_section(gem_section(backends))
    write_section(point_avatar_section(backends))
    print(f"wrote {REPORT}")


def gem_section(backends: list[str]) -> str:
    """The demo's GEM posed on the CPU (the reference: its Gaussians go over to the GPU each frame) and on the GPU
    with float32 and float16 bases: `gaussians(params)` alone, and with each CUDA backend at SIZE x SIZE."""
    gem = load_demo_gem(progress=False)
    frames = frame_params(gem, FRAMES)  # held-out expressions, jaw, eyes, a turned and moved head
    camera, background = gem.default_camera.resized(SIZE, SIZE), BACKGROUND.cuda()
    header = " | ".join(f"GEM + {backend} ms | fps" for backend in backends)
    lines = [f"| GEM posed | gaussians() ms | {header} | mean / max abs diff to the CPU-posed image |",
             "|---|---|" + "---|---|" * len(backends) + "---|"]
    reference = None
    with torch.inference_mode():
        for name, avatar in (("on the CPU", gem), ("on the GPU, float32", gem.to("cuda")),
                             ("on the GPU, float16", gem.to("cuda", torch.float16))):
            cycle = itertools.cycle(frames)
            cells = [f"{gpu_ms(lambda: avatar.gaussians(next(cycle))):.3f}"]
            for backend in backends:
                ms = gpu_ms(lambda: rasterize(avatar.gaussians(next(cycle)), camera, background, backend))
                cells += [f"{ms:.2f}", f"**{1000 / ms:.0f}**"]
            image = rasterize(avatar.gaussians(frames[1]), camera, background, backends[0]).image.cpu()
            reference = image if reference is None else reference
            difference = (image - reference).abs()
            cells.append(f"{difference.mean():.1e} / {difference.max():.1e}")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
            print(lines[-1], flush=True)
    model = gem.model
    return (
        f"## GEM on the GPU, {SIZE}x{SIZE}\n\n"
        "`.venv/bin/python bench/bench_gpu.py` (this section is its second): the demo's GEM "
        f"({len(model):,} Gaussians, components {', '.join(str(c) for c in model.counts.values())}) posed with "
        f"{FRAMES} held-out parameter sets in turn, timed as above. On the CPU it is the reference: its Gaussians "
        "go over to the GPU each frame. On the GPU (`GemAvatar.to`, what the window does when a CUDA backend "
        "draws a GEM; `--fp16` for float16 bases), only the FLAME parameters go over. Issue 7's goal: 500 fps, "
        "rasterizing included. The last column compares one frame's image (first backend) with the CPU-posed "
        "one.\n\n"
        f"Machine: {torch.cuda.get_device_name()}, torch {torch.__version__}; load average {load()}.\n\n"
        + "\n".join(lines) + "\n"
    )


def point_avatar_section(backends: list[str], num_points: int = 100_000) -> str:
    """A MonoGaussianAvatar of `num_points` (what a checkpoint from epoch 61 on holds), whole frames: posed on the CPU
    (its Gaussians go over each frame) and on the GPU (`PointAvatar.to`: only the parameters go over), rasterized by
    each CUDA backend, the image back on the host as the window takes it."""
    with tempfile.TemporaryDirectory() as folder:
        written = write_experiment(Path(folder), num_points=num_points, radius=0.005)
        avatar = PointAvatar.from_experiment(open_experiment(written.train_dir, written.data_folder))
    frames = frame_params(avatar, FRAMES)
    camera, background = avatar.default_camera.resized(SIZE, SIZE), BACKGROUND.cuda()
    header = " | ".join(f"{backend} ms | fps" for backend in backends)
    lines = [f"| posed | gaussians() ms | {header} |", "|---|---|" + "---|---|" * len(backends)]
    with torch.inference_mode():
        for name, posed in (("on the CPU", avatar), ("on the GPU", avatar.to("cuda"))):
            cycle = itertools.cycle(frames)
            cells = [f"{gpu_ms(lambda: posed.gaussians(next(cycle))):.3f}"]
            for backend in backends:
                ms = gpu_ms(lambda: rasterize(posed.gaussians(next(cycle)), camera, background, backend).image.cpu())
                cells += [f"{ms:.2f}", f"**{1000 / ms:.0f}**"]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
            print(lines[-1], flush=True)
    return (
        f"## A {num_points // 1000}k-point MonoGaussianAvatar on the GPU, {SIZE}x{SIZE}\n\n"
        "`.venv/bin/python bench/bench_gpu.py` (its third section): a synthetic MonoGaussianAvatar checkpoint "
        f"(tests/fake_experiment.py) posed with {FRAMES} held-out parameter sets in turn, timed as above; a whole "
        "frame is posing, rasterizing and the image back on the host. Issue 14's goal: 300 fps.\n\n"
        f"Machine: {torch.cuda.get_device_name()}, torch {torch.__version__}; load average {load()}.\n\n"
        + "\n".join(lines) + "\n"
    )


if __name__ == "__main__":
    main()
