"""The eigen coefficient sliders of a GEM avatar: one per coefficient, grouped by part and attribute.

A GEM's coefficients are (P, K) in sigma units: a row per part (one "full", or the 10 FLAME regions), each row the
attributes' coefficients one after another (`GemModel.coefficient_slices`). Coefficient j of an attribute gets a
slider tagged "eigen/{part}/{attribute}/{j}" and labelled "{attribute} {j}", under a collapsing header per part
("eigen/{part}") and a tree node per attribute ("eigen/{part}/{attribute}"). Its full name, "{part} {attribute} {j}"
("mouth geometry 3", underscores as spaces), is what the filter box matches and a preset's key.

The window is the only store of the values: they are read from it (one batched call) and written to it.
"""
from __future__ import annotations

from dataclasses import dataclass

import dearpygui.dearpygui as dpg
import torch
from torch import Tensor

from viewer.controls import matches_filter

SIGMA_RANGE = (-3.0, 3.0)  # the sliders' range: GEM's usual +-3 standard deviations
NUMBER_FORMAT = "%.2f"


@dataclass(frozen=True)
class EigenSlider:
    tag: str  # "eigen/mouth/geometry/3"
    label: str  # "geometry 3": what the slider shows, under its part's header
    name: str  # "mouth geometry 3": what the filter matches, and the preset key
    part: int  # where its value sits in the (P, K) coefficients
    column: int


@dataclass(frozen=True)
class EigenGroup:
    """A header (a part's, or an attribute's within a part) and the sliders under it."""

    tag: str  # "eigen/mouth" or "eigen/mouth/geometry"
    label: str
    sliders: tuple[EigenSlider, ...]
    attributes: tuple[EigenGroup, ...] = ()  # a part's: its attributes' groups


class EigenSliders:
    """The sliders of the coefficients (P, K) of parts `parts` whose attributes have `counts` coefficients each
    (in `GemModel.coefficient_slices` order). No parts: an avatar without eigen coefficients, no sliders."""

    def __init__(self, parts: tuple[str, ...] = (), counts: dict[str, int] | None = None):
        counts = counts or {}
        self.shape = (len(parts), sum(counts.values()))
        self.parts: list[EigenGroup] = []  # a header per part, in `parts` order
        for p, part in enumerate(parts):
            part_label = part.replace("_", " ")
            column, attributes = 0, []
            for attribute, count in counts.items():
                tag = f"eigen/{part}/{attribute}"
                attributes.append(EigenGroup(tag, f"{attribute} ({count})", tuple(
                    EigenSlider(f"{tag}/{j}", f"{attribute} {j}", f"{part_label} {attribute} {j}", p, column + j)
                    for j in range(count))))
                column += count
            sliders = tuple(slider for group in attributes for slider in group.sliders)
            self.parts.append(EigenGroup(f"eigen/{part}", part_label, sliders, tuple(attributes)))
        self.sliders = [slider for group in self.parts for slider in group.sliders]  # (part, column) order
        self.names = [slider.name for slider in self.sliders]
        self._ids: list[int] = []  # the sliders' item ids once built: batched reads skip the tag lookups
        self._open_before_filter: dict[str, bool] | None = None

    @staticmethod
    def of(avatar) -> EigenSliders:
        """The sliders for `avatar`'s eigen coefficients (its `eigen_layout`: a GEM's), or none."""
        layout = avatar.eigen_layout
        return EigenSliders() if layout is None else EigenSliders(layout.parts, layout.counts)

    def built(self) -> None:
        """Call once the window's sliders exist."""
        self._ids = [dpg.get_alias_id(slider.tag) for slider in self.sliders]

    def values(self) -> Tensor | None:
        """(P, K) float32 the sliders' values; None without eigen sliders."""
        if not self.sliders:
            return None
        return torch.tensor(dpg.get_values(self._ids), dtype=torch.float32).view(self.shape)

    def set(self, values) -> None:
        """Put `values` into the sliders: (P, K) or flat P * K (a tensor or numbers), or None for all 0. Values
        beyond the sliders' range are kept as they are (dragging then clamps them)."""
        if not self.sliders:
            return
        flat = [0.0] * len(self.sliders) if values is None else torch.as_tensor(values).reshape(-1).tolist()
        for item, value in zip(self._ids, flat, strict=True):
            dpg.set_value(item, value)

    def by_name(self, values: Tensor | None) -> dict[str, float]:
        """{"mouth geometry 3": value, ...} of (P, K) `values` (empty without eigen sliders)."""
        return {} if values is None else dict(zip(self.names, values.reshape(-1).tolist()))

    def follow_filter(self, text: str) -> None:
        """Open the headers that hold sliders matching the filter `text` and hide the others; an empty filter shows
        every header again, opened or folded as it was before filtering."""
        groups = self.parts + [attribute for part in self.parts for attribute in part.attributes]
        if not text.strip():
            for group in groups:
                dpg.configure_item(group.tag, show=True)
                if self._open_before_filter is not None:
                    dpg.set_value(group.tag, self._open_before_filter[group.tag])
            self._open_before_filter = None
            return
        if self._open_before_filter is None:
            self._open_before_filter = {group.tag: dpg.get_value(group.tag) for group in groups}
        for group in groups:
            found = any(matches_filter(slider.name, text) for slider in group.sliders)
            dpg.configure_item(group.tag, show=found)
            dpg.set_value(group.tag, found)
