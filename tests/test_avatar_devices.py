"""Avatars on another device: `avatar.to(device)` poses there, from parameters on the CPU, with nothing taken back.

PyTorch's meta device (shapes, no data) stands in for CUDA: a CPU tensor mixed into a computation raises there, and
so do numpy, numba and `.item()`. GEMs have the same test in test_gem_avatar.py (with half-precision bases).
"""
import types

import numpy as np
import pytest
import torch

from avatar import load_avatar
from avatar.point.avatar import PointAvatar
from avatar.point.experiment import open_experiment
from models.params import FlameParams
from tests.fake_experiment import write_experiment

GAUSSIAN_FIELDS = ("means", "opacities", "colors", "quats", "scales", "covars")


@pytest.fixture(scope="module", params=["rigged", "point"])
def avatar(request, tmp_path_factory):
    if request.param == "rigged":
        return load_avatar()  # the demo
    written = write_experiment(tmp_path_factory.mktemp("experiment"), num_points=5000, seed=1)
    return PointAvatar.from_experiment(open_experiment(written.train_dir, written.data_folder))


def driving_params(num_expressions: int) -> FlameParams:
    """A turned, moved head with an expression, jaw and eyes, on the CPU as the tracker makes them."""
    generator = torch.Generator().manual_seed(5)
    return FlameParams(0.5 * torch.randn(num_expressions, generator=generator),
                       0.2 * torch.randn(5, 3, generator=generator), 0.05 * torch.randn(3, generator=generator))


def present(gaussians) -> dict[str, torch.Tensor]:
    return {name: getattr(gaussians, name) for name in GAUSSIAN_FIELDS if getattr(gaussians, name) is not None}


def test_an_avatar_on_the_meta_device_poses_there(avatar):
    moved = avatar.to("meta")
    assert moved.device.type == "meta" and avatar.device.type == "cpu"
    gaussians = moved.gaussians(driving_params(avatar.head.num_expressions))
    expected = present(avatar.gaussians(driving_params(avatar.head.num_expressions)))
    out = present(gaussians)
    assert out.keys() == expected.keys()
    for name, tensor in out.items():
        assert tensor.is_meta and tensor.shape == expected[name].shape and tensor.dtype == expected[name].dtype, name
    # the head model stays where the tracker and the window read it
    assert moved.head.v_template.device.type == "cpu" and moved.head.exprdirs.device.type == "cpu"
    assert avatar.gaussians(driving_params(avatar.head.num_expressions)).means.device.type == "cpu"  # a copy moved



def test_launch_moves_every_kind_to_the_gpu_for_a_cuda_renderer(avatar, monkeypatch):
    """The window, the headless sweep and the reenactment all take their avatar through on_renderer_device."""
    import launch

    def settings(*options):
        return launch.settings_from(list(options))

    assert launch.on_renderer_device(avatar, settings("--renderer", "cpu"), gpu="meta") is avatar
    monkeypatch.setattr("avatar.rasterizer.resolve_backend", lambda backend: "inria")  # as where CUDA is
    moved = launch.on_renderer_device(avatar, settings(), gpu="meta")  # meta stands in for the GPU
    assert moved.gaussians(driving_params(avatar.head.num_expressions)).means.is_meta


def test_the_window_moves_its_avatar_once_to_each_device_its_renderers_use(avatar, monkeypatch):
    """Switching the window's renderer between the CPU and a CUDA backend and back moves nothing per frame."""
    from viewer.render_thread import RenderThread

    monkeypatch.setattr("viewer.render_thread.resolve_backend", lambda backend: backend)  # as where CUDA is
    thread = RenderThread(avatar, gpu="meta")  # meta stands in for the GPU
    try:
        assert thread.avatar_for("cpu") is avatar
        on_gpu = thread.avatar_for("inria")
        assert on_gpu.device.type == "meta" and thread.avatar_for("gsplat") is on_gpu
        assert thread.avatar_for("cpu") is avatar and thread.avatar_for("inria") is on_gpu
    finally:
        thread.stop()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_cuda_the_gaussians_are_the_cpu_ones(avatar):
    params = driving_params(avatar.head.num_expressions)
    expected, on_gpu = present(avatar.gaussians(params)), present(avatar.to("cuda").gaussians(params))
    for name, tensor in on_gpu.items():
        # CUDA's transcendentals and order of summation differ from the CPU's by a few float32 roundings
        assert tensor.is_cuda, name
        torch.testing.assert_close(tensor.cpu(), expected[name], rtol=1e-4,
                                   atol=1e-5 * float(expected[name].abs().max()), msg=name)


def test_the_headless_sweep_and_the_reenactment_put_their_avatar_on_the_renderers_device(tmp_path, monkeypatch):
    import launch
    import viewer.reenact
    from tests.test_reenact import write_clip

    placed = []  # the avatar kinds that went through on_renderer_device
    place = launch.on_renderer_device
    monkeypatch.setattr(launch, "on_renderer_device",
                        lambda avatar, settings: placed.append(type(avatar).__name__) or place(avatar, settings))
    assert launch.main(["--headless", "--frames", "2", "--size", "32", "--output", str(tmp_path / "sweep.mp4")]) == 0
    assert placed == ["RiggedAvatar"]
    drawn = []  # what the reenactment was handed
    monkeypatch.setattr(viewer.reenact, "reenact_all",
                        lambda avatar, jobs, options: drawn.append(avatar) or types.SimpleNamespace(failed=[]))
    clip = write_clip(tmp_path / "clip.mp4", [np.zeros((32, 32, 3), np.uint8)] * 2, 25)
    assert launch.main(["--video", str(clip), "--headless", "--output", str(tmp_path / "out.mp4")]) == 0
    assert placed == ["RiggedAvatar"] * 2 and len(drawn) == 1
