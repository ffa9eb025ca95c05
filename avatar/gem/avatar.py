"""GEM avatars: FLAME parameters -> eigen coefficients (a mapper, plus any given directly) -> Gaussians.

GEM poses only the root (spec §4.4): expression, jaw and eyes live in the coefficients, the global rotation and
translation turn the whole reconstruction about the root joint, as the original's root_RT does. Its bases hold
the head with the neck rotation taken out (§3.1: every Gaussian un-posed by the neck joint's transform), so the
neck pose is put back as that rigid turn about the neck joint, under the root.

`GemAvatar.to("cuda")` keeps every buffer on the GPU: per frame only the FLAME parameters' values cross over.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from os import PathLike
from typing import ClassVar, Literal

import torch
from torch import Tensor

from avatar.contract import EigenLayout, placed
from avatar.demo import load_demo_avatar
from avatar.gem.mapper import EigenMapper
from avatar.gem.model import GemModel, eigen_gaussians
from avatar.gem.original_files import load_original_gem
from avatar.splatting.gaussians import Gaussians
from models.camera import Camera
from models.head_model import HeadModel
from models.params import GLOBAL, JOINT_NAMES, NECK, FlameParams, FlameSequence
from models.rotation import axis_angle_to_matrix


@dataclass
class GemAvatar:
    """An Avatar: per frame, coefficients = mapper(params) (or zero) + params.eigen, then one `eigen_gaussians`."""

    model: GemModel
    head: HeadModel  # the head model whose FLAME parameters drive it (the tracker fits this one)
    default_camera: Camera
    mapper: Callable[[FlameParams], Tensor] | None = None  # FLAME params -> (P, K) sigma units; None: the mean face
    root_joint: Tensor = field(default_factory=lambda: torch.zeros(3))  # (3,) what the global rotation turns about
    frozen_gaussians: Tensor | None = None  # (N,) bool held at their mean (GEM's test-time masking), or None
    timeline: FlameSequence | None = None  # for original files: the `_coeffs` track as `eigen`, neutral FLAME
    expression_range: tuple[float, float] = (-3.0, 3.0)
    neck_joint: Tensor | None = None  # (3,) what the neck rotation turns about; None: the root joint (the
    # original's files do not say where the neck joint is)
    zero_coefficients: Tensor = field(init=False, repr=False)  # (P, K)
    file_kind: ClassVar[str] = "gem"

    def __post_init__(self):
        self.zero_coefficients = torch.zeros(len(self.model.parts), self.model.coefficients_per_part,
                                             device=self.device)

    @property
    def device(self) -> torch.device:
        """Where its buffers live, and its Gaussians come out."""
        return self.model.colors.device

    @property
    def eigen_layout(self) -> EigenLayout:
        return EigenLayout(self.model.parts, self.model.counts)

    def to(self, device, dtype: torch.dtype | None = None) -> GemAvatar:
        """A copy whose buffers live on `device` (avatar/contract.py), the bases' sigma-scaled rows in `dtype`
        (torch.float16 or bfloat16 halve what each frame reads; None: float32). Its Gaussians stay float32."""
        mapper = self.mapper.to(device) if isinstance(self.mapper, EigenMapper) else self.mapper
        return placed(self, device, "root_joint", "frozen_gaussians", "neck_joint",
                      model=self.model.to(device, dtype), mapper=mapper)

    @staticmethod
    def from_original(path: str | PathLike, regressor: str | PathLike | None | Literal[False] = None) -> GemAvatar:
        """An original GEM's `{id}.ptk` / `{id}_parts.ptk` (with its refined basis when the regressor checkpoint
        is found or given, see `load_original_gem`). It is driven through the demo avatar's head model, so the
        tracker runs; with no mapper, live driving moves only the head pose, and the timeline plays the
        coefficient track GEM was built from."""
        original = load_original_gem(path, regressor)
        demo = load_demo_avatar()
        timeline = None
        if original.track is not None:
            frames = original.track.shape[0]
            timeline = FlameSequence(torch.zeros(frames, demo.head.num_expressions),
                                     torch.zeros(frames, len(JOINT_NAMES), 3), torch.zeros(frames, 3),
                                     names=tuple(f"{i:05d}" for i in range(frames)), eigen=original.track)
        return GemAvatar(original.model, demo.head, frontal_camera(original.model.rest["geometry"]), timeline=timeline,
                         expression_range=demo.expression_range)

    def root_transform(self, params: FlameParams) -> Tensor:
        """(4, 4) [R, J0 - R J0 + t] [N, J1 - N J1]: the neck rotation N about the neck joint, then the global
        rotation R about the root joint, then the translation t (FLAME's chain: the neck is the root's child).
        On the avatar's device, wherever the parameters are."""
        device = self.device
        turn, neck_turn = axis_angle_to_matrix(params.pose[[GLOBAL, NECK]].to(device, torch.float32))
        neck_joint = self.root_joint if self.neck_joint is None else self.neck_joint
        root, neck = torch.eye(4, device=device), torch.eye(4, device=device)
        root[:3, :3], neck[:3, :3] = turn, neck_turn
        root[:3, 3] = self.root_joint - turn @ self.root_joint + params.translation.to(device, torch.float32)
        neck[:3, 3] = neck_joint - neck_turn @ neck_joint
        return root @ neck

    def gaussians(self, params: FlameParams) -> Gaussians:
        """Float32 Gaussians on the avatar's device, from parameters on any device."""
        coefficients = self.zero_coefficients if self.mapper is None else self.mapper(params).to(self.device)
        if params.eigen is not None:
            coefficients = coefficients + params.eigen.to(self.device, torch.float32)
        g = eigen_gaussians(self.model, coefficients, self.root_transform(params), self.frozen_gaussians)
        colors = self.model.colors  # fixed, or spherical harmonics (a GEM of a GaussianAvatars avatar)
        return Gaussians(means=g.means, opacities=g.opacities, colors=colors if colors.ndim == 2 else None,
                         quats=g.quats, scales=g.scales, sh=colors if colors.ndim == 3 else None)


def frontal_camera(means: Tensor, size: int = 512, distance: float = 1.1, fill: float = 0.8) -> Camera:
    """The original's synthetic view (spec §6): `distance` in front (+z) of the Gaussians (N, 3), looking along -z
    (world-to-camera rotation diag(1, -1, -1)), with the focal length that fits their extent into `fill` of the
    image. The extent ignores the outermost 0.5 % on each side (stray Gaussians)."""
    low, high = torch.quantile(means, torch.tensor([0.005, 0.995]), dim=0)
    centre = (low + high) / 2
    half_extent = float(((high - low) / 2)[:2].max())
    nearest = distance - float(high[2] - centre[2])  # depth of the front of the head: it looks largest
    focal = fill * (size / 2) * nearest / half_extent
    return Camera.look_at(centre + torch.tensor([0.0, 0.0, distance]), centre, (0.0, 1.0, 0.0), size, size, focal)
