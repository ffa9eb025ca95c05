"""What the window's sliders mean: expression coefficients and a few named head, jaw and eye rotations.

The window only shows these and reads them back; turning slider values into FlameParams happens here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from models.params import FlameParams

EXPRESSION_RANGE = (-1.0, 1.0)


@dataclass(frozen=True)
class PoseControl:
    """A slider in degrees driving one axis-angle component of one or more joints (FLAME order)."""

    name: str
    label: str
    joints: tuple[int, ...]
    axis: int  # 0: x (nod, jaw open), 1: y (turn), 2: z (tilt)
    low: float
    high: float
    sign: float = 1.0  # makes "left" mean the avatar's left


# Joints: 1 neck, 2 jaw, 3 left eye, 4 right eye. The head faces +z with y up, so a positive rotation about
# y turns it to its left, a positive rotation about x tips the face down (and opens the jaw).
POSE_CONTROLS = (
    PoseControl("jaw", "jaw open", (2,), 0, 0.0, 25.0),
    PoseControl("head_turn", "head turn (left +)", (1,), 1, -45.0, 45.0),
    PoseControl("head_nod", "head nod (down +)", (1,), 0, -30.0, 30.0),
    PoseControl("head_tilt", "head tilt (left +)", (1,), 2, -30.0, 30.0, sign=-1.0),
    PoseControl("eyes_turn", "eyes look (left +)", (3, 4), 1, -25.0, 25.0),
    PoseControl("eyes_up", "eyes look (down +)", (3, 4), 0, -20.0, 20.0),
)


def expression_labels(names: tuple[str, ...], count: int) -> list[str]:
    """Slider labels: the head model's names where it has them, else "expression k"."""
    return [names[k].replace("_", " ") if k < len(names) and names[k] else f"expression {k}" for k in range(count)]


def params_from_controls(expression: list[float], pose: dict[str, float]) -> FlameParams:
    """FlameParams from expression slider values and pose slider values (degrees) by PoseControl name."""
    params = FlameParams.neutral(len(expression))
    params.expression[:] = params.expression.new_tensor(expression)
    for control in POSE_CONTROLS:
        for joint in control.joints:
            params.pose[joint, control.axis] = control.sign * math.radians(pose.get(control.name, 0.0))
    return params
