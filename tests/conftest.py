"""Before the first test: numba's first-use compiles (the CPU rasterizer, the rigged avatar's posing, the tracker's
fit; ~40 s in a fresh checkout), so that no test that waits on behaviour, in this process or in the windows and
command lines the tests start, waits on a compile. numba caches them on disk; the later processes load them."""
import numpy as np
import pytest
import torch


@pytest.fixture(scope="session", autouse=True)
def compiled_kernels() -> None:
    from avatar.demo import load_demo_avatar
    from avatar.rasterizer import rasterize
    from avatar.rasterizer.cpu import is_compiled as rasterizer_compiled
    from models.params import FlameParams
    from tracking.fit import FitModel, fit_frame
    from tracking.fit import is_compiled as fit_compiled
    from tracking.landmark_model import LandmarkSet

    if rasterizer_compiled() and fit_compiled():
        return
    avatar = load_demo_avatar()
    neutral = FlameParams.neutral(avatar.head.num_expressions)
    camera = avatar.default_camera.resized(32, 32)
    rasterize(avatar.gaussians(neutral), camera, torch.ones(3), "cpu")
    model = FitModel.build(avatar.head, LandmarkSet.mediapipe(avatar.head))
    ring = np.stack([np.cos(np.arange(478)), np.sin(np.arange(478))], axis=1) * 60 + 200  # any landmarks will do
    first = fit_frame(model, ring, None, (500.0, 500.0, 200.0, 200.0), None)
    fit_frame(model, ring, None, (500.0, 500.0, 200.0, 200.0), first.state)
