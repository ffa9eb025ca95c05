"""FLAME-style parameters of one frame: the value that flows from tracking to avatars."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

JOINT_NAMES = ("global", "neck", "jaw", "left_eye", "right_eye")


@dataclass
class FlameParams:
    """Expression coefficients, axis-angle pose per joint in FLAME order (JOINT_NAMES) and translation."""

    expression: Tensor  # (E,)
    pose: Tensor  # (5, 3)
    translation: Tensor  # (3,)

    @staticmethod
    def neutral(num_expressions: int) -> FlameParams:
        return FlameParams(torch.zeros(num_expressions), torch.zeros(len(JOINT_NAMES), 3), torch.zeros(3))
