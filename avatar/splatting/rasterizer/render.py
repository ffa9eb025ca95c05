"""What every rasterizer backend returns, and the one culling rule they share."""
from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

NEAR = 0.2  # 3DGS culls Gaussians whose camera-space z is at most this; every backend does


@dataclass
class Render:
    image: Tensor  # (H, W, 3) float32 RGB, composited over the background
    alpha: Tensor | None  # (H, W) 1 - final transmittance; None when only the image was asked for
    depth: Tensor | None  # (H, W) sum of weight_i * camera-space z_i (not normalised); likewise
