"""The window's sliders for the face, as one value: an expression slider per coefficient ("expression/{k}"), the
pose controls ("pose/{name}") and a GEM's eigen coefficients (viewer/eigen_sliders.py); read and set in one go,
and filtered by the filter box (each slider's row is "row/{tag}")."""
from __future__ import annotations

import dearpygui.dearpygui as dpg

from viewer.controls import POSE_CONTROLS, SliderValues, matches_filter
from viewer.eigen_sliders import EigenSliders


class FaceSliders:
    def __init__(self, labels: list[str], eigen: EigenSliders):
        self.labels, self.eigen = labels, eigen
        # Every slider's tag and label, expressions by index and pose controls by name, for the filter box.
        self._rows = [(f"expression/{k}", label) for k, label in enumerate(labels)]
        self._rows += [(f"pose/{control.name}", control.label) for control in POSE_CONTROLS]
        self._rows += [(slider.tag, slider.name) for slider in eigen.sliders]

    def tag(self, name: str) -> str:
        """An expression label ("smile") or a pose control's name ("jaw") -> its slider's tag."""
        return f"expression/{self.labels.index(name)}" if name in self.labels else f"pose/{name}"

    def values(self) -> SliderValues:
        expression = [dpg.get_value(f"expression/{k}") for k in range(len(self.labels))]
        pose = {control.name: dpg.get_value(f"pose/{control.name}") for control in POSE_CONTROLS}
        return SliderValues(expression, pose, self.eigen.values())

    def set(self, values: SliderValues | None) -> None:
        """Show `values` (eigen None: all 0, see EigenSliders.set); None: leave the sliders as they are."""
        if values is None:
            return
        for k, value in enumerate(values.expression):
            dpg.set_value(f"expression/{k}", value)
        for name, value in values.pose.items():
            dpg.set_value(f"pose/{name}", value)
        self.eigen.set(values.eigen)

    def filter(self, text: str) -> None:
        """Only the sliders whose label contains `text` stay shown."""
        for tag, label in self._rows:
            dpg.configure_item(f"row/{tag}", show=matches_filter(label, text))
        self.eigen.follow_filter(text)

    def shown(self) -> list[str]:
        """The labels of the sliders the filter leaves shown."""
        return [label for tag, label in self._rows if dpg.is_item_shown(f"row/{tag}")]
