"""A GPU where there is none, for tests: what livehead does on a CUDA machine, on torch's meta device.

`stand_in(monkeypatch, device)` makes the rasterizer see a CUDA renderer ("inria", the one "auto" picks) drawing
on `device` ("meta" here; "cuda" where bench/gpu_check.sh runs): a stand-in `diff_gaussian_rasterization` that
checks that every tensor it is handed is on that device and draws a black image of the right shape on it. Meta
tensors hold no data, so a CPU tensor mixed into their computation raises, as it would on CUDA, and so do numpy,
numba and `.item()`. What the meta device cannot do, copy an image back, the stand-in does with zeros of its shape.

Every tensor that crosses between the CPU and the device, on every thread, is logged (`Crossings`), with each
draw, so that a test sees what one frame moved: `Crossings.last_frame()`.
"""
from __future__ import annotations

import sys
import threading
from collections import namedtuple
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType

import torch
from torch.overrides import TorchFunctionMode

SETTINGS_FIELDS = ("image_height", "image_width", "tanfovx", "tanfovy", "bg", "scale_modifier", "viewmatrix",
                   "projmatrix", "sh_degree", "campos", "prefiltered", "debug")  # the original's, no antialiasing
CREATING = (torch.tensor, torch.as_tensor, torch.asarray)  # host data made into a tensor where `device` says
READING = (torch.Tensor.item, torch.Tensor.tolist)  # a device's values read on the host


@dataclass(frozen=True)
class Crossing:
    thread: str
    what: str  # "over" (to the device), "back" (to the CPU) or "draw" (the stand-in renderer drew)
    shape: tuple[int, ...]


class Crossings:
    """What crossed between the CPU and the device, in order, on every thread."""

    def __init__(self, device: str):
        self.device = torch.device(device)
        self.log: list[Crossing] = []

    def add(self, what: str, shape) -> None:
        self.log.append(Crossing(threading.current_thread().name, what, tuple(shape)))

    def draws(self) -> list[Crossing]:
        return [crossing for crossing in self.log if crossing.what == "draw"]

    def last_frame(self) -> list[Crossing]:
        """What crossed between the last two draws on the thread that drew last: one frame, from the image of the
        one before coming back to this one's draw. Empty with fewer than two draws there."""
        thread = self.draws()[-1].thread
        mine = [crossing for crossing in self.log if crossing.thread == thread]
        draws = [index for index, crossing in enumerate(mine) if crossing.what == "draw"]
        return [] if len(draws) < 2 else mine[draws[-2] + 1:draws[-1]]


class _Watch(TorchFunctionMode):
    """Logs every tensor that changes device; a copy off the meta device comes back as zeros of its shape."""

    def __init__(self, crossings: Crossings):
        super().__init__()
        self.crossings = crossings

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        source = args[0] if args and isinstance(args[0], torch.Tensor) else None
        if source is not None and source.is_meta and func in (torch.Tensor.cpu, torch.Tensor.to):
            device, dtype = (torch.device("cpu"), None) if func is torch.Tensor.cpu else \
                torch._C._nn._parse_to(*args[1:], **kwargs)[:2]
            if device is not None and device.type == "cpu":
                self.crossings.add("back", source.shape)
                return torch.zeros(source.shape, dtype=dtype or source.dtype)
        result = func(*args, **kwargs)
        if func is torch.Tensor.copy_ and isinstance(args[1], torch.Tensor):
            source = args[1]
        if isinstance(result, torch.Tensor):
            if source is not None and result.device.type != source.device.type:
                self.crossings.add("over" if source.device.type == "cpu" else "back", result.shape)
            elif func in CREATING and result.device.type != "cpu":
                self.crossings.add("over", result.shape)
        elif func in READING and source is not None and source.device.type != "cpu":
            self.crossings.add("back", source.shape)
        return result


def _rasterizer_module(crossings: Crossings) -> ModuleType:
    """A `diff_gaussian_rasterization` whose rasterizer checks where its inputs are and draws black there."""
    module = ModuleType("diff_gaussian_rasterization")
    module.GaussianRasterizationSettings = namedtuple("GaussianRasterizationSettings", SETTINGS_FIELDS)

    class GaussianRasterizer:
        def __init__(self, raster_settings):
            self.settings = raster_settings

        def __call__(self, **inputs):
            handed = {**inputs, **{name: getattr(self.settings, name) for name in ("bg", "viewmatrix", "projmatrix",
                                                                                   "campos")}}
            elsewhere = [f"{name} on {tensor.device}" for name, tensor in handed.items()
                         if tensor.device.type != crossings.device.type]
            assert not elsewhere, f"the CUDA renderer was handed tensors off {crossings.device}: {elsewhere}"
            means = inputs["means3D"]
            assert means.ndim == 2 and means.shape[1] == 3 and inputs["opacities"].shape == (len(means), 1)
            crossings.add("draw", means.shape)
            image = torch.zeros(3, self.settings.image_height, self.settings.image_width, device=means.device)
            return image, torch.zeros(len(means), dtype=torch.int32, device=means.device)

    module.GaussianRasterizer = GaussianRasterizer
    return module


@contextmanager
def stand_in(monkeypatch, device: str = "meta"):
    """Until the end of the block: "auto" renders with the stand-in CUDA renderer on `device`, and what crosses
    between the CPU and `device`, on this thread and on every thread started inside, is logged in the Crossings
    it yields."""
    import avatar.splatting.rasterizer

    crossings = Crossings(device)
    monkeypatch.setitem(sys.modules, "diff_gaussian_rasterization", _rasterizer_module(crossings))
    # imported anew, over it
    monkeypatch.delitem(sys.modules, "avatar.splatting.rasterizer.inria_backend", raising=False)
    monkeypatch.delattr(avatar.splatting.rasterizer, "inria_backend", raising=False)
    monkeypatch.setattr(avatar.splatting.rasterizer, "_available", lambda: ("inria", "cpu"))
    monkeypatch.setattr(avatar.splatting.rasterizer, "GPU", device)
    run = threading.Thread.run

    def watched_run(thread):
        with _Watch(crossings):
            run(thread)

    monkeypatch.setattr(threading.Thread, "run", watched_run)
    try:
        with _Watch(crossings):
            yield crossings
    finally:
        sys.modules.pop("avatar.splatting.rasterizer.inria_backend", None)  # bound to the stand-in: not for later tests
