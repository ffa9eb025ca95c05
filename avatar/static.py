"""A plain 3D Gaussian Splatting PLY as an avatar that nothing moves: to look at in the window, orbit, export or
render headless. Its head model is a stand-in (one vertex at the Gaussians' centre, FLAME's five joints, no
expressions, no landmarks), so the sliders do nothing and tracking it says, in one line, that it cannot be driven."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch

from avatar.contract import placed
from avatar.splatting.gaussians import Gaussians
from models.camera import Camera
from models.head_model import HeadModel
from models.params import FlameParams, FlameSequence

VIEW_FOV_DEGREES = 40.0  # the default view's vertical field of view; the Gaussians' extent fills most of it


@dataclass
class StaticAvatar:
    fixed: Gaussians
    head: HeadModel
    default_camera: Camera
    timeline: FlameSequence | None = None
    expression_range: tuple[float, float] = (-3.0, 3.0)
    eigen_layout: ClassVar[None] = None
    file_kind: ClassVar[None] = None  # the PLY is its file

    @staticmethod
    def of(gaussians: Gaussians, size: int = 512) -> StaticAvatar:
        """The Gaussians seen from in front (+z, y up, as 3DGS heads and FLAME are) at a distance that fits them."""
        centre = gaussians.means.median(dim=0).values
        extent = float((gaussians.means - centre).norm(dim=1).quantile(0.95))
        distance = 1.2 * extent / math.tan(math.radians(VIEW_FOV_DEGREES) / 2)
        focal = size / 2 / math.tan(math.radians(VIEW_FOV_DEGREES) / 2)
        world_to_camera = torch.tensor([[1.0, 0, 0, 0], [0, -1, 0, 0], [0, 0, -1, 0], [0, 0, 0, 1]])
        world_to_camera[:3, 3] = -world_to_camera[:3, :3] @ (centre + torch.tensor([0.0, 0.0, distance]))
        head = HeadModel(
            v_template=centre[None].float(), shapedirs=torch.zeros(1, 3, 0), exprdirs=torch.zeros(1, 3, 0),
            posedirs=torch.zeros(36, 3), joint_regressor=torch.zeros(5, 1), parents=torch.tensor([-1, 0, 1, 1, 1]),
            lbs_weights=torch.tensor([[1.0, 0, 0, 0, 0]]), faces=torch.zeros(0, 3, dtype=torch.int64))
        camera = Camera(size, size, focal, focal, (size - 1) / 2, (size - 1) / 2, world_to_camera)
        return StaticAvatar(gaussians, head, camera)

    @property
    def device(self) -> torch.device:
        return self.fixed.means.device

    def to(self, device, dtype: torch.dtype | None = None) -> StaticAvatar:
        """A copy on `device` (avatar/contract.py)."""
        return placed(self, device, "fixed")

    def gaussians(self, params: FlameParams) -> Gaussians:
        """The same Gaussians whatever the parameters."""
        return self.fixed
