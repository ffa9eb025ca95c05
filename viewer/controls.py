"""What the window's sliders mean: expression coefficients, a few named head, jaw and eye rotations, and for
eigen (GEM) avatars every eigen coefficient.

The window only shows these and reads them back; turning slider values into FlameParams (and a timeline frame
into slider values) happens here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from models.params import JAW, LEFT_EYE, NECK, RIGHT_EYE, FlameParams


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


# The head faces +z with y up, so a positive rotation about y turns it to its left, a positive rotation about x
# tips the face down (and opens the jaw). The head sliders turn the neck.
POSE_CONTROLS = (
    PoseControl("jaw", "jaw open", (JAW,), 0, 0.0, 25.0),
    PoseControl("jaw_side", "jaw side (left +)", (JAW,), 1, -10.0, 10.0),
    PoseControl("head_turn", "head turn (left +)", (NECK,), 1, -45.0, 45.0),
    PoseControl("head_nod", "head nod (down +)", (NECK,), 0, -30.0, 30.0),
    PoseControl("head_tilt", "head tilt (left +)", (NECK,), 2, -30.0, 30.0, sign=-1.0),
    PoseControl("eyes_turn", "eyes look (left +)", (LEFT_EYE, RIGHT_EYE), 1, -25.0, 25.0),
    PoseControl("eyes_up", "eyes look (down +)", (LEFT_EYE, RIGHT_EYE), 0, -20.0, 20.0),
)


def expression_labels(names: tuple[str, ...], count: int) -> list[str]:
    """Slider labels: the head model's names where it has them, else "expression k"."""
    return [names[k].replace("_", " ") if k < len(names) and names[k] else f"expression {k}" for k in range(count)]


def matches_filter(label: str, text: str) -> bool:
    """Whether the slider `label` stays visible while the filter box holds `text` (any case; empty shows all)."""
    return text.strip().lower() in label.lower()


class SliderValues(NamedTuple):
    """What the sliders show: expression coefficients, pose controls in degrees by PoseControl name, and eigen
    coefficients (P, K) in sigma units (None: none, or all 0)."""

    expression: list[float]
    pose: dict[str, float]
    eigen: Tensor | None = None


def controls_from_params(params: FlameParams) -> SliderValues:
    """The slider values that show `params`: its expression, each pose control's rotation in degrees (the mean
    over its joints, e.g. of both eyes), and its eigen coefficients."""
    pose = {}
    for control in POSE_CONTROLS:
        angle = float(params.pose[list(control.joints), control.axis].mean())
        pose[control.name] = control.sign * math.degrees(angle) + 0.0  # + 0.0: a slider shows -0.0 as "-0.0"
    return SliderValues(params.expression.tolist(), pose, params.eigen)


def params_from_controls(expression: list[float], pose: dict[str, float], base: FlameParams | None = None,
                         eigen: Tensor | None = None) -> FlameParams:
    """FlameParams from expression slider values, pose slider values (degrees) by PoseControl name and eigen
    slider values (P, K) (None: an avatar without eigen sliders, `base`'s eigen coefficients are kept).

    `base`: the timeline frame the sliders were set from (default: the neutral face). A pose slider moved away
    from the value that shows `base` turns its joints by the difference, so untouched sliders keep the frame
    exactly, including what no slider shows (the global rotation, the translation, left and right eye apart).
    An eigen slider still at `base`'s value (as a float32 slider holds it) keeps that value exactly; a moved one
    sets its coefficient.
    """
    if base is None:
        base = FlameParams.neutral(len(expression))
    shown = controls_from_params(base).pose
    params = FlameParams(base.expression.new_tensor(expression), base.pose.clone(), base.translation.clone(),
                         _eigen_from_sliders(eigen, base.eigen))
    for control in POSE_CONTROLS:
        turn = control.sign * math.radians(pose.get(control.name, shown[control.name]) - shown[control.name])
        for joint in control.joints:
            params.pose[joint, control.axis] += turn
    return params


def with_offsets(live: FlameParams, expression: list[float], pose: dict[str, float],
                 eigen: Tensor | None = None) -> FlameParams:
    """`live` (the tracked face) with the sliders added on top: each expression slider adds to its coefficient,
    each pose slider turns its joints by its angle (added to the axis-angle; exact for one axis, close for small
    turns about several), each eigen slider (P, K) adds to its coefficient."""
    offsets = params_from_controls(expression, pose, eigen=eigen)
    if offsets.eigen is None or live.eigen is None:
        eigen = offsets.eigen if live.eigen is None else live.eigen.clone()
    else:
        eigen = live.eigen + offsets.eigen
    return FlameParams(live.expression + offsets.expression, live.pose + offsets.pose,
                       live.translation + offsets.translation, eigen)


def _eigen_from_sliders(values: Tensor | None, base: Tensor | None) -> Tensor | None:
    """(P, K): `base` where the slider still shows it, the slider's value where it moved."""
    if values is None or base is None:
        return values if base is None else base.clone()
    return torch.where(values == base.to(values.dtype), base, values.to(base.dtype))
