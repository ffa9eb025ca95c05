"""Gaussians + Camera -> image: one entry point over three backends.

- "inria": graphdeco-inria's diff-gaussian-rasterization (CUDA), the original 3DGS rasterizer;
- "gsplat": gsplat's CUDA rasterizer;
- "cpu": our numba rasterizer with the 3DGS maths (`cpu.py`), what every user without CUDA sees.

Backends are imported only when used: gsplat is never imported without CUDA, where importing it logs
CUDA_HOME noise and any call fails.
"""
from __future__ import annotations

import functools
import importlib.util

import torch
from torch import Tensor

from avatar.splatting.gaussians import Gaussians
from avatar.splatting.rasterizer.render import Render
from models.camera import Camera

BACKENDS = ("inria", "gsplat", "cpu")
GPU = "cuda"  # the device the CUDA backends draw on (tests/gpu_stand_in.py puts torch's meta device here)
_PACKAGES = {
    "inria": "diff-gaussian-rasterization (pip install --no-build-isolation "
             "git+https://github.com/graphdeco-inria/diff-gaussian-rasterization)",
    "gsplat": "gsplat (pip install gsplat==1.5.3)",
}


def available_backends() -> list[str]:
    """The backends that can run here, best first."""
    return list(_available())


def resolve_backend(backend: str) -> str:
    """The backend that `backend` names: "auto" is the best available."""
    return _available()[0] if backend == "auto" else backend


def device_of(backend: str) -> str:
    """The device `backend` draws on, where the avatar it draws should pose: "cpu", or the GPU."""
    return "cpu" if resolve_backend(backend) == "cpu" else GPU


@functools.cache  # what is installed does not change while we run; rasterize() asks every frame
def _available() -> tuple[str, ...]:
    cuda = torch.cuda.is_available()
    found = {
        "inria": cuda and _importable("diff_gaussian_rasterization"),
        "gsplat": cuda and _importable("gsplat"),
        "cpu": True,
    }
    return tuple(name for name in BACKENDS if found[name])


def backend_problem(backend: str) -> str | None:
    """Why `backend` cannot run here, in one line that says what to do; None when it can."""
    if backend not in ("auto",) + BACKENDS:
        return f"unknown rasterizer backend {backend!r}: choose one of auto, {', '.join(BACKENDS)}"
    if backend == "auto" or backend in _available():
        return None
    if not torch.cuda.is_available():
        return (f"the {backend!r} backend needs CUDA, which this machine does not have, and "
                f"{_PACKAGES[backend]}; use 'cpu' or 'auto' here")
    return f"the {backend!r} backend needs {_PACKAGES[backend]}"


def rasterize(
    gaussians: Gaussians,
    camera: Camera,
    background: Tensor | None = None,  # (3,) RGB in [0, 1]; default white
    backend: str = "auto",  # "auto" (the first of available_backends()), "inria", "gsplat" or "cpu"
    image_only: bool = False,  # alpha and depth None: the inria backend then draws one pass, not two
) -> Render:
    """Render `gaussians` seen by `camera` with the 3DGS rules (alpha <= 0.99, skip alpha < 1/255, stop at T < 1e-4).

    The Render's tensors are on the Gaussians' device (CUDA backends take CPU Gaussians over and back).
    """
    problem = backend_problem(backend)
    if problem:
        raise ValueError(problem)
    backend = resolve_backend(backend)
    device = gaussians.means.device
    if backend == "inria":
        from avatar.splatting.rasterizer.inria_backend import rasterize_inria as run
    elif backend == "gsplat":
        from avatar.splatting.rasterizer.gsplat_backend import rasterize_gsplat as run
    else:
        from avatar.splatting.rasterizer.cpu import rasterize_cpu as run
    gaussians = gaussians.seen_from(camera.position)  # spherical harmonics: once per frame, on their device
    if backend != "cpu" and device.type == "cpu":
        gaussians = gaussians.to(GPU)
    background = (torch.ones(3) if background is None else background).to(gaussians.means.device, torch.float32)
    if backend == "cpu":  # one pass makes the image, alpha and depth: nothing to skip
        render = run(gaussians, camera, background)
    else:
        render = run(gaussians, camera, background, image_only)
    if image_only:
        return Render(render.image.to(device), None, None)
    return Render(render.image.to(device), render.alpha.to(device), render.depth.to(device))


def _importable(module: str) -> bool:
    """Whether `module` imports (an installed but broken CUDA extension counts as absent)."""
    if importlib.util.find_spec(module) is None:
        return False
    try:
        importlib.import_module(module)
    except Exception:  # noqa: BLE001 - any failure to load an optional extension means: not available
        return False
    return True
