"""What every test module may use: a virtual X server for the window tests (`display`), and, before the first test,
numba's first-use compiles (the CPU rasterizer, the rigged avatar's posing, the tracker's fit; ~40 s in a fresh
checkout), so that no test that waits on behaviour, in this process or in the windows and command lines the tests
start, waits on a compile. numba caches them on disk; the later processes load them."""
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import torch


@pytest.fixture(scope="session", autouse=True)
def compiled_kernels() -> None:
    from avatar.demo import load_demo_avatar
    from avatar.splatting.rasterizer import rasterize
    from avatar.splatting.rasterizer.cpu import is_compiled as rasterizer_compiled
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


@pytest.fixture(scope="module")
def display() -> dict:
    """The environment of a fresh Xvfb server on a free display number."""
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (apt-get install xvfb)")
    number = next(n for n in range(90, 200) if not Path(f"/tmp/.X{n}-lock").exists()
                  and not Path(f"/tmp/.X11-unix/X{n}").exists())
    server = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not Path(f"/tmp/.X11-unix/X{number}").exists():
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            pytest.fail(f"Xvfb :{number} did not start")
        time.sleep(0.05)
    yield {**os.environ, "DISPLAY": f":{number}"}
    server.terminate()
    server.wait(timeout=10)
