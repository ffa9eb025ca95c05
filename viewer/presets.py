"""Slider presets: the expression, pose and eigen sliders' values in a small JSON file a person can read and edit.

    {
      "livehead_preset": 1,
      "expression": {"smile_left": 0.8, "blink_left": 0.0, "expression 7": -1.5},
      "pose_degrees": {"jaw": 12.0, "head_turn": -20.0, ...},
      "eigen": {"mouth geometry 3": 1.25, "eye region rotation 0": -0.5}
    }

Expression keys: a coefficient is keyed by the avatar's name for it where the avatar has one (the head model's
`expression_names`, as they are, e.g. "blink_left"), else by its slider label "expression k" (k from 0).
Loading puts a named key on the coefficient of that name, and an "expression k" key on coefficient k only where
that coefficient has no name: a bare index written for one avatar says nothing about what it means on an avatar
whose coefficients have meanings (and FLAME's unnamed coefficient 3 is not a demo avatar's "smile"). Keys that
match nothing here are skipped and reported; coefficients the preset does not mention are 0 (neutral).
Pose keys are the PoseControl names (viewer.controls.POSE_CONTROLS), in degrees; missing ones are 0.
Eigen keys (GEM avatars) are the eigen sliders' names, "{part} {attribute} {j}" (viewer/eigen_sliders.py), in sigma
units; only the coefficients away from 0 are written, missing ones are 0, and presets without the section (older
ones, other avatars') load as all 0. On an avatar without those coefficients they are skipped and reported.

Values are kept as written (rounded to 6 decimals when saved); the sliders clamp them to their ranges.
"""
from __future__ import annotations

import json
import math
import re
from os import PathLike
from pathlib import Path
from typing import Mapping, NamedTuple, Sequence

from models.atomic_file import replaced_atomically
from viewer.controls import POSE_CONTROLS

FORMAT_KEY = "livehead_preset"
FORMAT_VERSION = 1
DECIMALS = 6
_INDEX_KEY = re.compile(r"expression (\d+)")


class Preset(NamedTuple):
    """A loaded preset: every expression slider's value, every pose slider's value (degrees, by PoseControl
    name), one line per key of the file that this avatar has no slider for, and every eigen slider's value (in
    the order of the `eigen_names` asked for)."""

    expression: list[float]
    pose: dict[str, float]
    skipped: list[str]
    eigen: list[float]


def expression_keys(count: int, names: Sequence[str] = ()) -> list[str]:
    """The preset key of each of `count` coefficients: its name where the avatar has one, else "expression k"
    (a name repeated, or one that reads as another coefficient's "expression j", falls back to the label)."""
    keys: list[str] = []
    for k in range(count):
        name = names[k] if k < len(names) else ""
        taken = not name or name in keys or (_INDEX_KEY.fullmatch(name) is not None and name != f"expression {k}")
        keys.append(f"expression {k}" if taken else name)
    return keys


def save_preset(path: str | PathLike, expression: Sequence[float], pose: dict[str, float],
                expression_names: Sequence[str] = (), eigen: Mapping[str, float] | None = None) -> None:
    """Write the sliders' values as a preset (see the module's docstring), atomically: a temporary file beside
    `path` is renamed to it once complete. `eigen`: the eigen sliders' values by name (a GEM avatar's). Non-finite
    values raise ValueError (JSON has no NaN)."""
    values = {key: _rounded(value, key) for key, value in zip(expression_keys(len(expression), expression_names),
                                                               expression)}
    known = [control.name for control in POSE_CONTROLS]
    ordered = [name for name in known if name in pose] + [name for name in pose if name not in known]
    data = {FORMAT_KEY: FORMAT_VERSION, "expression": values,
            "pose_degrees": {name: _rounded(pose[name], name) for name in ordered}}
    moved = {name: rounded for name, value in (eigen or {}).items() if (rounded := _rounded(value, name))}
    if moved:  # the eigen coefficients away from 0 (up to 1800 of them, mostly 0)
        data["eigen"] = moved
    text = json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    with replaced_atomically(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


def load_preset(path: str | PathLike, expression_count: int, expression_names: Sequence[str] = (),
                eigen_names: Sequence[str] = ()) -> Preset:
    """The slider values a preset sets on an avatar with `expression_count` coefficients named
    `expression_names` and eigen sliders named `eigen_names` (see the module's docstring for how keys are
    matched). Unreadable files, files that are not JSON or not a preset, and values that are not numbers raise
    a one-line ValueError naming the file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: cannot read the preset ({_one_line(err)})") from err
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not a livehead preset: invalid JSON at line {err.lineno} column {err.colno} "
                         f"({err.msg})") from err
    if not isinstance(data, dict) or FORMAT_KEY not in data:
        raise ValueError(f"{path}: not a livehead preset (no \"{FORMAT_KEY}\" key)")
    version = data[FORMAT_KEY]
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
        raise ValueError(f"{path}: preset format version {version!r} is not one this livehead reads "
                         f"(1..{FORMAT_VERSION}); update livehead")
    sections = {}
    for section in ("expression", "pose_degrees", "eigen"):
        values = data.get(section, {})
        if not isinstance(values, dict):
            raise ValueError(f"{path}: \"{section}\" must be an object of name: number, not "
                             f"{type(values).__name__}")
        for key, value in values.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{path}: \"{section}\" \"{_short(key)}\" is {_short(json.dumps(value))}, "
                                 "expected a number")
        sections[section] = values

    keys = expression_keys(expression_count, expression_names)
    by_key = {key: k for k, key in enumerate(keys)}
    expression = [0.0] * expression_count
    skipped = []
    for key, value in sections["expression"].items():
        if key in by_key:
            expression[by_key[key]] = float(value)
        elif (match := _INDEX_KEY.fullmatch(key)) and (k := int(match[1])) < expression_count:
            if keys[k] == f"expression {k}":  # unnamed, written e.g. "expression 012"
                expression[k] = float(value)
            else:
                skipped.append(f"expression \"{_short(key)}\": this avatar names coefficient {k} \"{keys[k]}\"")
        else:
            skipped.append(f"expression \"{_short(key)}\": this avatar has no such coefficient "
                           f"({expression_count} coefficients{', named' if any(expression_names) else ''})")
    pose = {control.name: 0.0 for control in POSE_CONTROLS}
    for key, value in sections["pose_degrees"].items():
        if key in pose:
            pose[key] = float(value)
        else:
            skipped.append(f"pose \"{_short(key)}\": no such pose slider")
    eigen_index = {name: k for k, name in enumerate(eigen_names)}
    eigen = [0.0] * len(eigen_names)
    for key, value in sections["eigen"].items():
        if key in eigen_index:
            eigen[eigen_index[key]] = float(value)
        else:
            skipped.append(f"eigen \"{_short(key)}\": this avatar has no such eigen coefficient")
    return Preset(expression, pose, skipped, eigen)


def _rounded(value: float, key: str) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"preset value for \"{key}\" is {value}; a preset holds finite numbers")
    return round(value, DECIMALS) + 0.0  # + 0.0: no "-0.0" in the file


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(str(text).split())  # one line
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _one_line(err: Exception) -> str:
    return " ".join(str(err).split())
