"""FLAME-style parameters of one frame: the value that flows from tracking to avatars."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

# FLAME's joints, the rows of FlameParams.pose: the one table of their names and numbers.
JOINT_NAMES = ("global", "neck", "jaw", "left_eye", "right_eye")
GLOBAL, NECK, JAW, LEFT_EYE, RIGHT_EYE = range(len(JOINT_NAMES))
EYES = slice(LEFT_EYE, RIGHT_EYE + 1)  # both eyes' rows


@dataclass
class FlameParams:
    """Expression coefficients, axis-angle pose per joint in FLAME order (JOINT_NAMES) and translation; for
    eigen (GEM) avatars, eigen coefficients too, added to what the avatar maps the FLAME parameters to."""

    expression: Tensor  # (E,)
    pose: Tensor  # (5, 3)
    translation: Tensor  # (3,)
    eigen: Tensor | None = None  # (P, K) GEM coefficients in sigma units, one row per part; None: all zero

    @staticmethod
    def neutral(num_expressions: int) -> FlameParams:
        return FlameParams(torch.zeros(num_expressions), torch.zeros(len(JOINT_NAMES), 3), torch.zeros(3))


@dataclass
class FlameSequence:
    """Frames of FLAME parameters, e.g. the tracked frames of a training dataset, played as a timeline."""

    expression: Tensor  # (F, E)
    pose: Tensor  # (F, 5, 3)
    translation: Tensor  # (F, 3)
    names: tuple[str, ...]  # (F,) a label per frame, e.g. its image's name
    eigen: Tensor | None = None  # (F, P, K) GEM coefficients per frame (a GEM's own animation track), or None

    def __len__(self) -> int:
        return self.expression.shape[0]

    def to_arrays(self, prefix: str = "timeline/") -> dict[str, np.ndarray]:
        """The sequence as named arrays, for an avatar file: `prefix` + expression, pose, translation, names (and
        eigen where there is one)."""
        arrays = {f"{prefix}{key}": getattr(self, key).numpy() for key in ("expression", "pose", "translation")}
        arrays[f"{prefix}names"] = np.array(self.names, dtype=str)
        if self.eigen is not None:
            arrays[f"{prefix}eigen"] = self.eigen.numpy()
        return arrays

    def frame(self, index: int) -> FlameParams:
        eigen = None if self.eigen is None else self.eigen[index].clone()
        return FlameParams(self.expression[index].clone(), self.pose[index].clone(), self.translation[index].clone(),
                           eigen)
