"""The Avatar contract: what every avatar kind provides, on which device, and which optional capabilities it
declares. Callers (the window, live driving, the runs without a window, launch.py) use these members and never
test an avatar's class; tests/test_avatar_contract.py runs every kind listed there through every mode.

The device rule, in one place (`placed`): an avatar poses on its `device` and its Gaussians come out there, while
what tracking and the window read (`head`, `default_camera`, `timeline`) stays on the CPU, wherever it poses.
Every kind's `to()` is `placed` over its own buffers.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Protocol, TypeVar

import torch

from avatar.splatting.gaussians import Gaussians
from models.camera import Camera
from models.head_model import HeadModel
from models.params import FlameParams, FlameSequence

CPU_MEMBERS = ("head", "default_camera", "timeline")  # read by tracking and the window: never moved


@dataclass(frozen=True)
class EigenLayout:
    """The eigen coefficients a GEM adds to FLAME's: (P, K) in sigma units, a row per part, each row the
    attributes' coefficients one after another (`counts`, in that order)."""

    parts: tuple[str, ...]  # ("full",) or the FLAME regions
    counts: dict[str, int]  # coefficients per attribute: {"geometry": 32, ...}

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.parts), sum(self.counts.values())


class Avatar(Protocol):
    """What every avatar kind offers."""

    head: HeadModel
    """The head model its FLAME parameters drive, with its landmark embeddings (none: it cannot be tracked): what
    tracking fits and the window frames the view by. Its `expression_names` and `num_expressions` are the
    expression sliders'. On the CPU, always: a kind that poses elsewhere keeps its own copy for that."""

    default_camera: Camera
    """The view it was made for (its training camera); on the CPU."""

    expression_range: tuple[float, float]
    """A sensible slider range for its expression coefficients."""

    timeline: FlameSequence | None
    """The frames that came with it (a training dataset's tracking, a GEM's coefficient track), or None; on the
    CPU. A caller may set it (a motion file); `to()` keeps it."""

    eigen_layout: EigenLayout | None
    """The eigen coefficients it takes in `FlameParams.eigen` (a GEM's), or None: it takes none."""

    file_kind: str | None
    """The kind a livehead avatar file records when `avatar.save_avatar` writes it; None: it cannot be saved (it
    opens from its own files)."""

    @property
    def device(self) -> torch.device:
        """Where it poses, and its Gaussians come out."""

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> Avatar:
        """A copy that poses on `device` (the original is unchanged); `head`, `default_camera` and `timeline` stay
        on the CPU (`placed`). `dtype`: a lower precision (torch.float16, bfloat16) for the large buffers each
        frame reads, where the kind has such (a GEM's bases); other kinds keep float32. Its Gaussians are float32
        either way."""

    def gaussians(self, params: FlameParams) -> Gaussians:
        """The Gaussians of one frame, on `device`, from parameters on any device (the CPU, as tracking and the
        sliders make them): only `params` crosses to the device."""


A = TypeVar("A")


def placed(avatar: A, device: torch.device | str, *buffers: str, **moved) -> A:
    """`avatar` (a dataclass) copied to pose on `device`, by the one rule every kind's `to()` follows.

    The fields named in `buffers` go to `device` (each by its `.to(device)`; None stays None), and so do the
    values in `moved`, which the kind moved itself (a GEM's bases in a lower precision). A `posing_head` field
    gets `head` on `device` (None on the CPU, where `head` itself poses). `head`, `default_camera` and `timeline`
    stay on the CPU, where tracking and the window read them: naming one of them is a programming error.
    """
    device = torch.device(device)
    wrong = [name for name in (*buffers, *moved) if name in CPU_MEMBERS]
    if wrong:
        raise ValueError(f"{type(avatar).__name__}.to: {', '.join(wrong)} stay on the CPU (avatar/contract.py)")
    changes = {name: None if getattr(avatar, name) is None else getattr(avatar, name).to(device) for name in buffers}
    if any(field.name == "posing_head" for field in fields(avatar)):
        changes["posing_head"] = None if device.type == "cpu" else avatar.head.to(device)
    return replace(avatar, **changes, **moved)
