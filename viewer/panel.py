"""The window's controls, built with dearpygui: the live column left of the avatar (the camera feed and the live
controls, or a video's) and the panel right of it (readout, view and render settings, files, timeline, the
sliders).

Building only: the items show a PanelSetup's values to begin with, and call PanelActions' methods (the window's)
when used. Items have string tags ("live/on", "view/fov", "pose/jaw", "expression/3", "eigen/mouth/geometry/3",
...) that the window and the tests read and set.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import dearpygui.dearpygui as dpg

from avatar.splatting.rasterizer import available_backends
from viewer.controls import POSE_CONTROLS
from viewer.eigen_sliders import NUMBER_FORMAT, SIGMA_RANGE, EigenSliders
from viewer.feed import FEED_SIZE

PANEL_WIDTH = 340  # the control panel right of the image
PADDING = 8
SCROLLBAR = 14
LIVE_WIDTH = FEED_SIZE[0] + 2 * PADDING + SCROLLBAR  # the live column left of the image
SLIDER_WIDTH = 150
GREY = (160, 160, 160)
RENDER_MODES = ("RGB", "alpha", "depth")
RECORD_LAYOUTS = {"avatar": "avatar", "side by side": "side"}  # shown -> Recorder's layout
FOV_RANGE = (5.0, 90.0)  # degrees, vertical
SMOOTHING_DEFAULT = 1.0
HELP = ("Drag the image: left orbits, right or middle\npans, the wheel zooms. 0 beside a slider\nresets it.\n"
        "R: reset view    P: screenshot    V: record\n")
LIVE_KEYS = "L: live / manual C: calibrate     "  # not with a --video, which drives the avatar instead
QUIT_KEYS = "Esc / Q: quit"
NO_LIVE_SOURCE = ("No live source: the sliders drive the avatar. Start with --webcam 0 (or a video file) to "
                  "drive it from a face.")
TIMELINE_HELP = "\nSpace: play / pause, Left / Right: step"
LIVE_ONLY = ("live/on", "live/offsets", "live/calibrate", "live/reshape", "live/smoothing")  # hidden with a video


@dataclass(frozen=True)
class PanelSetup:
    """What the controls show to begin with."""

    live: bool  # a live source drives the face: the live controls are enabled
    smoothing: float  # the live source's smoothing strength
    video: Path | None  # a video drives the face instead (its export writes this file)
    show_landmarks: bool  # the video's landmarks are drawn
    backend: str
    field_of_view: float  # degrees, vertical
    background: list[int]  # RGB 0-255
    preset: Path  # the preset file offered
    labels: list[str]  # the expression sliders'
    expression_range: tuple[float, float]
    eigen: EigenSliders
    timeline: int | None  # the timeline's frame count; None: no timeline


class PanelActions(Protocol):
    """What the controls do: the window's methods they call."""

    def set_live(self, on: bool) -> None: ...
    def set_offsets(self, on: bool) -> None: ...
    def calibrate_neutral(self) -> None: ...
    def reestimate_shape(self) -> None: ...
    def set_smoothing(self, strength: float) -> None: ...
    def toggle_recording(self) -> None: ...
    def set_landmarks(self, on: bool) -> None: ...
    def export_button(self) -> None: ...
    def reset_view(self) -> None: ...
    def reset_face(self) -> None: ...
    def file_action(self, action, *args) -> None: ...
    def save_image(self) -> str: ...
    def save_preset(self, path: str) -> str: ...
    def load_preset(self, path: str) -> str: ...
    def export_ply(self) -> str: ...
    def set_field_of_view(self, degrees: float) -> None: ...
    def set_background(self, rgb) -> None: ...
    def set_backend(self, name: str) -> None: ...
    def set_render_mode(self, mode: str) -> None: ...
    def apply_filter(self) -> None: ...
    def step_frame(self, steps: int) -> None: ...
    def toggle_play(self) -> None: ...
    def show_frame(self, index: int) -> None: ...
    def reset_eigen(self) -> None: ...
    def reset_slider(self, sender, value, tag: str) -> None: ...
    def edited(self) -> None: ...


def padded_theme() -> int:
    with dpg.theme() as theme:
        with dpg.theme_component(dpg.mvAll):
            dpg.add_theme_style(dpg.mvStyleVar_WindowPadding, PADDING, PADDING)
            dpg.add_theme_style(dpg.mvStyleVar_ItemSpacing, 8, 4)
    return theme


def build_window(actions: PanelActions, setup: PanelSetup, image_texture: int, feed_texture: int, width: int,
                 height: int) -> None:
    """The whole window: the live column, the avatar's image (width x height, tagged "image"), the panel."""
    with dpg.theme() as flush:  # the image fills the window's middle exactly, so pixels map 1:1
        with dpg.theme_component(dpg.mvWindowAppItem):
            dpg.add_theme_style(dpg.mvStyleVar_WindowPadding, 0, 0)
            dpg.add_theme_style(dpg.mvStyleVar_ItemSpacing, 0, 0)
            dpg.add_theme_style(dpg.mvStyleVar_WindowBorderSize, 0)
    padded = padded_theme()
    with dpg.window(tag="main") as main:
        with dpg.group(horizontal=True):
            with dpg.child_window(width=LIVE_WIDTH, height=height, tag="live"):
                build_live_column(actions, setup, feed_texture)
            dpg.add_image(image_texture, tag="image", width=width, height=height)
            with dpg.child_window(width=PANEL_WIDTH, height=height, tag="panel"):
                build_panel(actions, setup)
    dpg.bind_item_theme(main, flush)
    dpg.bind_item_theme("live", padded)
    dpg.bind_item_theme("panel", padded)
    dpg.set_primary_window(main, True)


def build_live_column(actions: PanelActions, setup: PanelSetup, feed_texture: int) -> None:
    """The camera feed with its landmarks (or a card saying why there is none), its status, and the live controls
    (disabled without a live source); with a video, its controls instead."""
    live = setup.live
    dpg.add_image(feed_texture, tag="feed", width=FEED_SIZE[0], height=FEED_SIZE[1])
    dpg.add_text("" if live else NO_LIVE_SOURCE, tag="live/status", wrap=FEED_SIZE[0])
    dpg.add_text("", tag="live/readout", color=GREY)
    with dpg.group(horizontal=True):
        dpg.add_checkbox(label="drive from camera (L)", tag="live/on", default_value=live, enabled=live,
                         callback=lambda _, on: actions.set_live(on))
    dpg.add_checkbox(label="sliders add to the tracked face", tag="live/offsets", enabled=live,
                     callback=lambda _, on: actions.set_offsets(on))
    with dpg.group(horizontal=True):
        dpg.add_button(label="calibrate neutral (C)", tag="live/calibrate", enabled=live,
                       callback=actions.calibrate_neutral)
        dpg.add_button(label="re-estimate shape", tag="live/reshape", enabled=live,
                       callback=actions.reestimate_shape)
    dpg.add_slider_float(label="smoothing", tag="live/smoothing", width=200, min_value=0.0, max_value=1.0,
                         format="%.2f", enabled=live, callback=lambda _, value: actions.set_smoothing(value),
                         default_value=setup.smoothing)
    dpg.add_separator()
    with dpg.group(horizontal=True):
        dpg.add_button(label="record (V)", tag="record/button", width=90, callback=actions.toggle_recording)
        dpg.add_combo(list(RECORD_LAYOUTS), tag="record/layout", default_value="avatar", width=120)
    dpg.add_text("", tag="record/status", color=GREY, wrap=FEED_SIZE[0])
    if setup.video is not None:
        _build_video_controls(actions, setup)


def _build_video_controls(actions: PanelActions, setup: PanelSetup) -> None:
    """With a video, in place of the live controls: its landmarks and its export."""
    for tag in LIVE_ONLY:
        dpg.configure_item(tag, show=False)
    dpg.add_separator()
    dpg.add_text("The video drives the avatar; the sliders add to it.", color=GREY, wrap=FEED_SIZE[0])
    dpg.add_checkbox(label="landmarks", tag="video/landmarks", default_value=setup.show_landmarks,
                     callback=lambda _, on: actions.set_landmarks(on))
    dpg.add_button(label="export video", tag="video/export", callback=actions.export_button)
    dpg.add_text(f"writes {setup.video}", tag="video/export_status", color=GREY, wrap=FEED_SIZE[0])


def build_panel(actions: PanelActions, setup: PanelSetup) -> None:
    """At the top, always in view: readout, buttons, view and file settings (folded), help, timeline and filter;
    below, the sliders scroll."""
    dpg.add_text(f"render ({setup.backend}): starting\n", tag="fps")
    with dpg.group(horizontal=True):
        dpg.add_button(label="reset view (R)", callback=actions.reset_view)
        dpg.add_button(label="reset face", callback=actions.reset_face)
        dpg.add_button(label="screenshot (P)", callback=lambda: actions.file_action(actions.save_image))
    with dpg.collapsing_header(label="view and render", tag="view"):
        dpg.add_slider_float(label="field of view", tag="view/fov", width=160, min_value=FOV_RANGE[0],
                             max_value=FOV_RANGE[1], format="%.1f deg", default_value=setup.field_of_view,
                             callback=lambda _, degrees: actions.set_field_of_view(degrees))
        dpg.add_color_edit(setup.background, label="background", tag="view/background", no_alpha=True,
                           width=160, callback=lambda: actions.set_background(dpg.get_value("view/background")))
        dpg.add_combo(available_backends(), label="renderer", tag="view/backend", default_value=setup.backend,
                      width=160, callback=lambda _, name: actions.set_backend(name))
        dpg.add_combo(RENDER_MODES, label="show", tag="view/mode", default_value="RGB", width=160,
                      callback=lambda _, mode: actions.set_render_mode(mode))
    with dpg.collapsing_header(label="presets and export", tag="files"):
        dpg.add_input_text(label="preset", tag="files/preset", default_value=str(setup.preset), width=200)
        with dpg.group(horizontal=True):
            dpg.add_button(label="save preset", callback=lambda: actions.file_action(
                actions.save_preset, dpg.get_value("files/preset")))
            dpg.add_button(label="load preset", callback=lambda: actions.file_action(
                actions.load_preset, dpg.get_value("files/preset")))
            dpg.add_button(label="export PLY", callback=lambda: actions.file_action(actions.export_ply))
    dpg.add_text("", tag="files/message", color=GREY, wrap=PANEL_WIDTH - 2 * PADDING, show=False)
    dpg.add_text(HELP + ("" if setup.video is not None else LIVE_KEYS) + QUIT_KEYS
                 + ("" if setup.timeline is None else TIMELINE_HELP), color=GREY)
    if setup.timeline is not None:
        _build_timeline(actions, setup.timeline)
    dpg.add_separator()
    dpg.add_input_text(tag="filter", hint="filter sliders", width=-1, callback=actions.apply_filter)
    with dpg.child_window(tag="sliders", border=False):  # the rest of the panel's height; scrolls
        dpg.add_text("pose (degrees)")
        for control in POSE_CONTROLS:
            _add_slider(actions, f"pose/{control.name}", control.label, control.low, control.high, "%.1f")
        dpg.add_text("expression")
        for k, label in enumerate(setup.labels):
            _add_slider(actions, f"expression/{k}", label, *setup.expression_range, "%.2f")
        if setup.eigen.sliders:
            _build_eigen(actions, setup.eigen)


def _build_timeline(actions: PanelActions, count: int) -> None:
    with dpg.group(horizontal=True):
        dpg.add_button(arrow=True, direction=dpg.mvDir_Left, callback=lambda: actions.step_frame(-1))
        dpg.add_button(label="play", tag="timeline/play", width=48, callback=actions.toggle_play)
        dpg.add_button(arrow=True, direction=dpg.mvDir_Right, callback=lambda: actions.step_frame(1))
        dpg.add_text("", tag="timeline/name")
    last = count - 1
    dpg.add_slider_int(tag="timeline/frame", width=-1, min_value=0, max_value=last, format=f"frame %d / {last}",
                       callback=lambda _, index: actions.show_frame(index))


def _build_eigen(actions: PanelActions, eigen: EigenSliders) -> None:
    """A GEM's coefficients: a folded header per part, a tree node per attribute in it, a slider per coefficient
    (1800 for 10 parts take ~0.1 s to build; folded, they cost the window little)."""
    dpg.add_spacer(height=4)
    with dpg.group(horizontal=True):
        dpg.add_text("eigen coefficients (sigma)")
        dpg.add_button(label="reset eigen", tag="eigen/reset", callback=actions.reset_eigen)
    for part in eigen.parts:
        with dpg.collapsing_header(label=part.label, tag=part.tag):
            for attribute in part.attributes:
                with dpg.tree_node(label=attribute.label, tag=attribute.tag):
                    for slider in attribute.sliders:
                        _add_slider(actions, slider.tag, slider.label, *SIGMA_RANGE, NUMBER_FORMAT)
    eigen.built()


def _add_slider(actions: PanelActions, tag: str, label: str, low: float, high: float, number_format: str) -> None:
    with dpg.group(horizontal=True, tag=f"row/{tag}"):
        dpg.add_button(label="0", tag=f"reset/{tag}", callback=actions.reset_slider, user_data=tag)
        dpg.add_slider_float(label=label, tag=tag, width=SLIDER_WIDTH, min_value=low, max_value=high,
                             format=number_format, callback=actions.edited)
