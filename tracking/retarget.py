"""Retargeting: a fitted face -> the parameters that drive the avatar; and what a frame without a face drives.

One rule for the live tracker (tracking/tracker.py, frame by frame) and the offline pass over a whole video
(tracking/offline.py):

- the head's rotation, the jaw and the eyes are kept; the neck and the translation are zero, so the avatar stays
  where its camera looks;
- relative driving takes the driver's neutral (rest face) off: its expression and its jaw;
- a lost face holds the last driven frame for HOLD_SECONDS, then eases toward rest (all zero).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from models.params import GLOBAL, JAW, LEFT_EYE, RIGHT_EYE, FlameParams

DRIVEN_JOINTS = [GLOBAL, JAW, LEFT_EYE, RIGHT_EYE]
HOLD_SECONDS = 0.5  # no face: hold the last driven parameters this long...
EASE_SECONDS = 1.0  # ...then ease toward rest, exp(-EASE_RATE t / EASE_SECONDS): ~5% left after EASE_SECONDS
EASE_RATE = 3.0


def retarget(expression: Tensor, pose: Tensor, neutral: FlameParams | None, relative: bool) -> tuple[Tensor, Tensor]:
    """expression (..., E) and pose (..., 5, 3) of fitted faces -> the driving expression and pose (new tensors):
    the driven joints kept, the others zero; with `relative`, the neutral's expression and jaw taken off (None: a
    zero neutral)."""
    driven_pose = torch.zeros_like(pose)
    driven_pose[..., DRIVEN_JOINTS, :] = pose[..., DRIVEN_JOINTS, :]
    driven_expression = expression.clone()
    if relative and neutral is not None:
        driven_expression -= neutral.expression.to(expression)
        driven_pose[..., JAW, :] -= neutral.pose[JAW].to(pose)
    return driven_expression, driven_pose


def lost_face_weight(seconds: float, hold_seconds: float = HOLD_SECONDS, ease_seconds: float = EASE_SECONDS
                     ) -> float:
    """How much of the last driven frame a frame without a face keeps, `seconds` after the last face: all of it
    while held, then exp(-EASE_RATE s / ease_seconds), s the seconds past the hold."""
    if seconds <= hold_seconds:
        return 1.0
    return math.exp(-EASE_RATE * (seconds - hold_seconds) / ease_seconds)
