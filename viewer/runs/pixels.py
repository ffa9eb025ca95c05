"""Images leave livehead as bytes: float RGB in [0, 1] inside, uint8 at the edges (videos, PNGs, recordings)."""
from __future__ import annotations

import numpy as np
import torch


def to_uint8(image: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
    """Float values in [0, 1] -> uint8, rounded; a tensor stays a tensor on its device, an array an array."""
    pixels = image if isinstance(image, torch.Tensor) else torch.from_numpy(image)
    rounded = (pixels.clamp(0, 1) * 255 + 0.5).to(torch.uint8)
    return rounded if isinstance(image, torch.Tensor) else rounded.numpy()
