"""The window's controls, built with dearpygui: the live column left of the avatar (the camera feed and the live
controls) and the panel right of it (readout, view and render settings, files, timeline, the sliders).

Building only: every callback is a method of the ViewerApp passed in, which also owns every value. Items have
string tags ("live/on", "view/fov", "pose/jaw", "expression/3", "eigen/mouth/geometry/3", ...) that the app and the
tests read and set.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import dearpygui.dearpygui as dpg

from avatar.rasterizer import available_backends
from viewer.controls import POSE_CONTROLS
from viewer.eigen_sliders import NUMBER_FORMAT, SIGMA_RANGE

if TYPE_CHECKING:
    from viewer.app import ViewerApp

PANEL_WIDTH = 340  # the control panel right of the image
FEED_SIZE = (320, 240)  # the camera feed's texture, letterboxed
PADDING = 8
SCROLLBAR = 14
LIVE_WIDTH = FEED_SIZE[0] + 2 * PADDING + SCROLLBAR  # the live column left of the image
SLIDER_WIDTH = 150
GREY = (160, 160, 160)
RENDER_MODES = ("RGB", "alpha", "depth")
RECORD_LAYOUTS = {"avatar": "avatar", "side by side": "side_by_side"}  # shown -> Recorder's layout
FOV_RANGE = (5.0, 90.0)  # degrees, vertical
SMOOTHING_DEFAULT = 1.0
HELP = ("Drag the image: left orbits, right or middle\npans, the wheel zooms. 0 beside a slider\nresets it.\n"
        "R: reset view    P: screenshot    V: record\n")
LIVE_KEYS = "L: live / manual C: calibrate     "  # not with a --video, which drives the avatar instead
QUIT_KEYS = "Esc / Q: quit"
NO_LIVE_SOURCE = ("No live source: the sliders drive the avatar. Start with --webcam 0 (or a video file) to "
                  "drive it from a face.")
TIMELINE_HELP = "\nSpace: play / pause, Left / Right: step"


def padded_theme() -> int:
    with dpg.theme() as theme:
        with dpg.theme_component(dpg.mvAll):
            dpg.add_theme_style(dpg.mvStyleVar_WindowPadding, PADDING, PADDING)
            dpg.add_theme_style(dpg.mvStyleVar_ItemSpacing, 8, 4)
    return theme


def build_live_column(app: ViewerApp, feed_texture: int) -> None:
    """The camera feed with its landmarks (or a card saying why there is none), its status, and the live controls.
    Without a live source the controls are there but disabled."""
    live = app.driver is not None
    dpg.add_image(feed_texture, tag="feed", width=FEED_SIZE[0], height=FEED_SIZE[1])
    dpg.add_text("" if live else NO_LIVE_SOURCE, tag="live/status", wrap=FEED_SIZE[0])
    dpg.add_text("", tag="live/readout", color=GREY)
    with dpg.group(horizontal=True):
        dpg.add_checkbox(label="drive from camera (L)", tag="live/on", default_value=live, enabled=live,
                         callback=lambda _, on: app.set_live(on))
    dpg.add_checkbox(label="sliders add to the tracked face", tag="live/offsets", enabled=live,
                     callback=lambda _, on: app.set_offsets(on))
    with dpg.group(horizontal=True):
        dpg.add_button(label="calibrate neutral (C)", tag="live/calibrate", enabled=live,
                       callback=app.calibrate_neutral)
        dpg.add_button(label="re-estimate shape", tag="live/reshape", enabled=live, callback=app.reestimate_shape)
    dpg.add_slider_float(label="smoothing", tag="live/smoothing", width=200, min_value=0.0, max_value=1.0,
                         format="%.2f", enabled=live, callback=lambda _, value: app.set_smoothing(value),
                         default_value=app.driver.smoothing if live else SMOOTHING_DEFAULT)
    dpg.add_separator()
    with dpg.group(horizontal=True):
        dpg.add_button(label="record (V)", tag="record/button", width=90, callback=app.toggle_recording)
        dpg.add_combo(list(RECORD_LAYOUTS), tag="record/layout", default_value="avatar", width=120)
    dpg.add_text("", tag="record/status", color=GREY, wrap=FEED_SIZE[0])


def build_panel(app: ViewerApp) -> None:
    """At the top, always in view: readout, buttons, view and file settings (folded), help, timeline and filter;
    below, the sliders scroll."""
    dpg.add_text(f"render ({app.backend}): starting\n", tag="fps")
    with dpg.group(horizontal=True):
        dpg.add_button(label="reset view (R)", callback=app.reset_view)
        dpg.add_button(label="reset face", callback=app.reset_face)
        dpg.add_button(label="screenshot (P)", callback=lambda: app.file_action(app.save_image))
    with dpg.collapsing_header(label="view and render", tag="view"):
        dpg.add_slider_float(label="field of view", tag="view/fov", width=160, min_value=FOV_RANGE[0],
                             max_value=FOV_RANGE[1], format="%.1f deg", default_value=app.orbit.field_of_view(),
                             callback=lambda _, degrees: app.set_field_of_view(degrees))
        dpg.add_color_edit(app.background_rgb(), label="background", tag="view/background", no_alpha=True,
                           width=160, callback=lambda: app.set_background(dpg.get_value("view/background")))
        dpg.add_combo(available_backends(), label="renderer", tag="view/backend", default_value=app.backend,
                      width=160, callback=lambda _, name: app.set_backend(name))
        dpg.add_combo(RENDER_MODES, label="show", tag="view/mode", default_value="RGB", width=160,
                      callback=lambda _, mode: app.set_render_mode(mode))
    with dpg.collapsing_header(label="presets and export", tag="files"):
        dpg.add_input_text(label="preset", tag="files/preset", default_value=str(app.record_dir / "preset.json"),
                           width=200)
        with dpg.group(horizontal=True):
            dpg.add_button(label="save preset", callback=lambda: app.file_action(app.save_preset,
                                                                                 dpg.get_value("files/preset")))
            dpg.add_button(label="load preset", callback=lambda: app.file_action(app.load_preset,
                                                                                 dpg.get_value("files/preset")))
            dpg.add_button(label="export PLY", callback=lambda: app.file_action(app.export_ply))
    dpg.add_text("", tag="files/message", color=GREY, wrap=PANEL_WIDTH - 2 * PADDING, show=False)
    dpg.add_text(HELP + ("" if app.video is not None else LIVE_KEYS) + QUIT_KEYS
                 + ("" if app.timeline is None else TIMELINE_HELP), color=GREY)
    if app.timeline is not None:
        _build_timeline(app)
    dpg.add_separator()
    dpg.add_input_text(tag="filter", hint="filter sliders", width=-1, callback=app.apply_filter)
    with dpg.child_window(tag="sliders", border=False):  # the rest of the panel's height; scrolls
        dpg.add_text("pose (degrees)")
        for control in POSE_CONTROLS:
            _add_slider(app, f"pose/{control.name}", control.label, control.low, control.high, "%.1f")
        dpg.add_text("expression")
        low, high = app.avatar.expression_range
        for k, label in enumerate(app.labels):
            _add_slider(app, f"expression/{k}", label, low, high, "%.2f")
        if app.eigen.sliders:
            _build_eigen(app)


def _build_timeline(app: ViewerApp) -> None:
    with dpg.group(horizontal=True):
        dpg.add_button(arrow=True, direction=dpg.mvDir_Left, callback=lambda: app.step_frame(-1))
        dpg.add_button(label="play", tag="timeline/play", width=48, callback=app.toggle_play)
        dpg.add_button(arrow=True, direction=dpg.mvDir_Right, callback=lambda: app.step_frame(1))
        dpg.add_text("", tag="timeline/name")
    last = len(app.timeline) - 1
    dpg.add_slider_int(tag="timeline/frame", width=-1, min_value=0, max_value=last, format=f"frame %d / {last}",
                       callback=lambda _, index: app.show_frame(index))


def _build_eigen(app: ViewerApp) -> None:
    """A GEM's coefficients: a folded header per part, a tree node per attribute in it, a slider per coefficient
    (1800 for 10 parts take ~0.1 s to build; folded, they cost the window little)."""
    dpg.add_spacer(height=4)
    with dpg.group(horizontal=True):
        dpg.add_text("eigen coefficients (sigma)")
        dpg.add_button(label="reset eigen", tag="eigen/reset", callback=app.reset_eigen)
    for part in app.eigen.parts:
        with dpg.collapsing_header(label=part.label, tag=part.tag):
            for attribute in part.attributes:
                with dpg.tree_node(label=attribute.label, tag=attribute.tag):
                    for slider in attribute.sliders:
                        _add_slider(app, slider.tag, slider.label, *SIGMA_RANGE, NUMBER_FORMAT)
    app.eigen.built()


def _add_slider(app: ViewerApp, tag: str, label: str, low: float, high: float, number_format: str) -> None:
    with dpg.group(horizontal=True, tag=f"row/{tag}"):
        dpg.add_button(label="0", tag=f"reset/{tag}", callback=app.reset_slider, user_data=tag)
        dpg.add_slider_float(label=label, tag=tag, width=SLIDER_WIDTH, min_value=low, max_value=high,
                             format=number_format, callback=app.edited)
