"""Temporal smoothing of tracked parameters: the One Euro filter (Casiez, Roussel and Vogel, CHI 2012).

A low-pass filter whose cutoff rises with speed: still heads lose their jitter (low cutoff), moving heads
lose little lag (high cutoff). Per element: cutoff = min_cutoff + beta * |filtered derivative|.
"""
from __future__ import annotations

import math

import numpy as np


class OneEuroFilter:
    """filtered = OneEuroFilter(min_cutoff=1.0, beta=0.0)(value, t) for arrays of any fixed shape.

    min_cutoff (Hz): smoothing when still; lower = steadier, laggier. beta (1 / value unit): how fast the cutoff
    rises with speed; higher = less lag in motion. d_cutoff (Hz): smoothing of the speed estimate itself.
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.0, d_cutoff: float = 1.0):
        self.min_cutoff = min_cutoff
        self.beta = beta
        self.d_cutoff = d_cutoff
        self.reset()

    def reset(self) -> None:
        self._value: np.ndarray | None = None  # the last output
        self._speed: np.ndarray | None = None  # the filtered derivative, per element
        self._time = 0.0

    def __call__(self, value: np.ndarray, t: float) -> np.ndarray:
        x = np.asarray(value, dtype=np.float64)
        dt = t - self._time
        if self._value is None or self._value.shape != x.shape or dt < 0:
            # First sample, a new shape, or time went backwards (a video restarted): start afresh from it.
            self._value, self._speed, self._time = x.copy(), np.zeros_like(x), t
            return self._output(value)
        if dt == 0:
            return self._output(value, self._value)  # no time passed: no derivative to take; keep the estimate
        speed = (x - self._value) / dt
        self._speed = self._speed + _alpha(self.d_cutoff, dt) * (speed - self._speed)
        cutoff = self.min_cutoff + self.beta * np.abs(self._speed)
        self._value = self._value + _alpha(cutoff, dt) * (x - self._value)
        self._time = t
        return self._output(value, self._value)

    def _output(self, value: np.ndarray, filtered: np.ndarray | None = None) -> np.ndarray:
        """The filtered value in the input's float dtype (float64 for integer input), never the state itself."""
        filtered = np.asarray(value, dtype=np.float64) if filtered is None else filtered
        dtype = value.dtype if isinstance(value, np.ndarray) and value.dtype.kind == "f" else np.float64
        return filtered.astype(dtype, copy=True)


def _alpha(cutoff: float | np.ndarray, dt: float) -> float | np.ndarray:
    """Weight of the new sample in an exponential smoother with this cutoff frequency (Hz) at this step (s)."""
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff))
    return 1.0 / (1.0 + tau / dt)


# (min_cutoff Hz, beta) per FLAME parameter group, for a tracker at 25-30 fps. Rotations are axis-angle radians,
# translation metres, expression FLAME's unitless coefficients (mostly within +-3). Beta is in 1/unit: at speed v
# (units per second) the cutoff is min_cutoff + beta * v.
DEFAULT_GROUPS: dict[str, tuple[float, float]] = {
    # Expression coefficients are the noisiest output (each fits little image evidence). A blink closes in
    # 100-150 ms and a brow flashes up for a few frames; at (1.5, 0.8) the filter's speed estimate (1 Hz) rose
    # too late for either and took their peaks off (bench/bench_transfer.py: the avatar's eyes and brows
    # followed the driver's at r 0.02-0.04 lower). Here a still face still loses its frame-to-frame flicker.
    "expression": (3.0, 1.6),
    # The jaw opens and closes several times a second in speech (~2 rad/s): a high beta lets it track speech
    # (cutoff ~20 Hz at that speed) while a closed mouth stays still.
    "jaw": (2.0, 10.0),
    # Head rotation: jitter of a fraction of a degree is the most visible artefact on a still head (1 Hz);
    # a quick turn (~2 rad/s) reaches ~11 Hz, a lag of a frame or so.
    "rotation": (1.0, 5.0),
    # Depth is the least certain part of a monocular fit and slow drift matters less than shimmer in scale:
    # smooth hardest when still; a 0.2 m/s move lifts the cutoff to ~4.5 Hz.
    "translation": (0.5, 20.0),
    # Eyes: noisy iris estimates when fixating, but saccades (several rad/s) must snap, not glide.
    "eyes": (1.0, 10.0),
}


class ParamSmoother:
    """One One Euro filter per parameter group: smoother(groups: {name: array}, t) -> {name: smoothed array}.

    `strength` in [0, 1] divides every cutoff (min_cutoff and beta alike): 1 uses the group settings as given,
    0.5 halves the smoothing time constants, 0 passes values through untouched.
    """

    def __init__(self, groups: dict[str, tuple[float, float]] | None = None, strength: float = 1.0,
                 d_cutoff: float = 1.0):
        self.settings = {**DEFAULT_GROUPS, **(groups or {})}
        self.filters = {name: OneEuroFilter(d_cutoff=d_cutoff) for name in self.settings}
        self.strength = strength

    @property
    def strength(self) -> float:
        return self._strength

    @strength.setter
    def strength(self, value: float) -> None:
        """Takes effect on the next sample, keeping each filter's state: a slider can move while tracking."""
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"smoothing strength must be within [0, 1], not {value}")
        self._strength = float(value)
        for name, (min_cutoff, beta) in self.settings.items():
            if value > 0:
                self.filters[name].min_cutoff = min_cutoff / value
                self.filters[name].beta = beta / value

    def __call__(self, groups: dict[str, np.ndarray], t: float) -> dict[str, np.ndarray]:
        unknown = set(groups) - set(self.filters)
        if unknown:
            # A group smoothed with made-up settings would misbehave quietly; say so instead.
            raise KeyError(f"no smoothing settings for {sorted(unknown)} (known: {sorted(self.filters)}); "
                           "pass them as ParamSmoother(groups={name: (min_cutoff, beta)})")
        if self._strength == 0:
            for name in groups:
                self.filters[name].reset()  # when turned back on, start from the live value, not a stale one
            return {name: np.array(value, copy=True) for name, value in groups.items()}
        return {name: self.filters[name](value, t) for name, value in groups.items()}

    def reset(self) -> None:
        """Forget the past (a new video, a lost and re-found face)."""
        for one in self.filters.values():
            one.reset()
