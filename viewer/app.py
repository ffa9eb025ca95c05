"""The dearpygui window: the avatar's image beside sliders for its face (and its timeline, when it has one), an
orbit camera on the mouse.

Rendering runs on a background thread that always takes the newest request, so the window keeps
responding at the CPU renderer's speed; this (GUI) thread only reads controls, asks for frames and
uploads the latest finished one. Import only after `viewer.display.display_problem()` found a display.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import dearpygui.dearpygui as dpg
import numpy as np
import torch

from avatar import Avatar
from avatar.camera import Camera
from avatar.rasterizer import available_backends, rasterize
from models.params import FlameParams
from viewer.controls import (POSE_CONTROLS, controls_from_params, expression_labels, matches_filter,
                             params_from_controls)
from viewer.orbit import OrbitCamera, target_depth
from viewer.timeline import Playback

PANEL_WIDTH = 340  # the control panel right of the image; the image takes the rest of the window
SLIDER_WIDTH = 150
HELP = ("Drag the image: left orbits, right or\nmiddle pans, the wheel zooms. R: reset view,\n"
        "Esc / Q: quit. 0 beside a slider resets it.")
TIMELINE_HELP = "\nSpace: play / pause, Left / Right: step"
GREY = (160, 160, 160)
# Window frames per second at most. With the CPU renderer, the window's own drawing (software OpenGL where there
# is no GPU) shares the cores with it: at 30 its renders come ~15% faster than at 60, and the image cannot
# change faster than they come anyway.
WINDOW_FPS_CPU_RENDERER, WINDOW_FPS = 30, 60
DRAWN_AFTER = 2  # window frames that show a new texture before it counts as on screen


@dataclass
class Frame:
    number: int  # the number of the request it answers
    image: np.ndarray  # (H, W, 3) float32 RGB
    seconds: float  # how long it took


class RenderThread:
    """Renders the newest requested (params, camera); requests that arrive while it works replace each other."""

    def __init__(self, avatar: Avatar, background: torch.Tensor, backend: str):
        self.avatar, self.background, self.backend = avatar, background, backend
        self.latest: Frame | None = None
        self.error: BaseException | None = None
        self._request: tuple[int, FlameParams, Camera] | None = None
        self._wake = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="render", daemon=True)
        self._thread.start()

    def request(self, number: int, params: FlameParams, camera: Camera) -> None:
        with self._wake:
            self._request = (number, params, camera)
            self._wake.notify()

    def stop(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify()
        self._thread.join()

    def _run(self) -> None:
        with torch.inference_mode():
            while True:
                with self._wake:
                    self._wake.wait_for(lambda: self._request is not None or self._stopping)
                    if self._stopping:
                        return
                    (number, params, camera), self._request = self._request, None
                start = time.perf_counter()
                try:
                    image = rasterize(self.avatar.gaussians(params), camera, self.background, self.backend).image
                except BaseException as error:  # noqa: BLE001 - handed to the GUI thread, which raises it
                    self.error = error
                    return
                self.latest = Frame(number, image.numpy(), time.perf_counter() - start)


class ViewerApp:
    """open(), then step() until it returns False, then close(); or run()."""

    def __init__(self, avatar: Avatar, width: int, height: int, background: tuple[int, int, int], backend: str):
        self.avatar = avatar
        self.backend = available_backends()[0] if backend == "auto" else backend
        self._frame_interval = 1 / (WINDOW_FPS_CPU_RENDERER if self.backend == "cpu" else WINDOW_FPS)
        self.background = torch.tensor(background, dtype=torch.float32) / 255
        home = avatar.default_camera
        self.orbit = OrbitCamera.around(home, target_depth(home, avatar.head.v_template))
        self.orbit.resize(width, height)
        self.window_size = (width + PANEL_WIDTH, height)
        self.labels = expression_labels(avatar.head.expression_names, avatar.head.num_expressions)
        # Every slider's tag and label, expressions by index and pose controls by name, for the filter box.
        self._sliders = [(f"expression/{k}", label) for k, label in enumerate(self.labels)]
        self._sliders += [(f"pose/{control.name}", control.label) for control in POSE_CONTROLS]
        self.timeline = avatar.timeline
        self.playback = None if self.timeline is None else Playback(len(self.timeline))
        self._shown_frame: int | None = None  # the timeline frame last put into the sliders
        self._base_frame: int | None = None  # the frame the sliders' values apply to; None: the neutral face
        self.requested = 0  # the number of the latest render request
        self.uploaded = 0  # the number of the request whose frame is in the texture
        self._drawn_for = 0  # window frames drawn since that upload
        self._requested_state: tuple | None = None
        self._drag: tuple[int, tuple[float, float]] | None = None  # mouse button, last position
        self._render_ms = 0.0  # smoothed time per render
        self._readout_at = 0.0
        self._frame_start = 0.0
        self._running = False

    # -- life cycle ------------------------------------------------------------------------------------------

    def open(self) -> None:
        self.renderer = RenderThread(self.avatar, self.background, self.backend)
        dpg.create_context()
        dpg.configure_app(manual_callback_management=True)  # callbacks run in step(), on this thread
        self._build()
        dpg.create_viewport(title="livehead", width=self.window_size[0], height=self.window_size[1], vsync=False)
        dpg.setup_dearpygui()
        dpg.show_viewport()
        self._running = True

    def step(self) -> bool:
        """Draw one window frame; False once the window is closed or quit."""
        if self.renderer.error is not None:
            raise self.renderer.error
        dpg.run_callbacks(dpg.get_callback_queue())
        if not (self._running and dpg.is_dearpygui_running()):
            return False
        self._follow_window_size()
        self._follow_mouse()
        self._play()
        self._request_if_changed()
        self._upload_latest()
        self._update_readout()
        dpg.render_dearpygui_frame()
        time.sleep(max(0.0, self._frame_start + self._frame_interval - time.perf_counter()))
        self._frame_start = time.perf_counter()
        return True

    def close(self) -> None:
        self.renderer.stop()
        dpg.destroy_context()

    def run(self, screenshot: Path | None = None) -> None:
        """Until the window closes; with `screenshot`, save the window once the avatar is drawn, and quit."""
        self.open()
        try:
            if screenshot is None:
                while self.step():
                    pass
            elif self.wait_until_drawn():
                # A second render, timed without the first one's loading of the rasterizer, for the readout.
                self._requested_state, self._readout_at = None, 0.0
                if self.wait_until_drawn():
                    self.save_screenshot(screenshot)
        finally:
            self.close()

    def wait_until_drawn(self) -> bool:
        """Step until the window shows the image of the current controls and view; False if it closed first.

        Pause the timeline first: while it plays faster than the renderer, the image never catches up.
        """
        while self.step():  # one step at least: it turns changed controls into a request
            if self.uploaded == self.requested and self._drawn_for >= DRAWN_AFTER:
                return True
        return False

    def save_screenshot(self, path: Path) -> None:
        """The window as a PNG (dearpygui writes it while drawing the next frame)."""
        path.unlink(missing_ok=True)
        dpg.output_frame_buffer(file=str(path))
        while not path.exists() and self.step():
            pass

    # -- controls the tests and the keyboard use -------------------------------------------------------------

    def set_control(self, name: str, value: float) -> None:
        """Move a slider as the user would: an expression label ("smile") or a pose control name ("jaw")."""
        tag = f"expression/{self.labels.index(name)}" if name in self.labels else f"pose/{name}"
        dpg.set_value(tag, value)
        self._edited()

    def set_filter(self, text: str) -> None:
        """Type into the filter box: only sliders whose label contains `text` stay shown."""
        dpg.set_value("filter", text)
        self._apply_filter()

    def shown_sliders(self) -> list[str]:
        """The labels of the sliders the filter box leaves shown."""
        return [label for tag, label in self._sliders if dpg.is_item_shown(f"row/{tag}")]

    def image(self) -> np.ndarray:
        """A copy of what the window shows: (H, W, 3) float RGB."""
        return self._pixels.copy()

    def reset_face(self) -> None:
        """Every slider to 0: the neutral face, also after a timeline frame (which stays selected, paused)."""
        for tag, _ in self._sliders:
            dpg.set_value(tag, 0.0)
        self._base_frame = None
        self._edited()

    def show_frame(self, index: int) -> None:
        """Pause at timeline frame `index` (wrapping around) and put its values into the sliders."""
        self.playback.seek(index)
        self._show(self.playback.frame)

    def step_frame(self, steps: int) -> None:
        self.show_frame(self.playback.frame + steps)

    def toggle_play(self) -> None:
        self.playback.toggle(time.perf_counter())
        if self.playback.playing:
            self._show(self.playback.frame)  # also after the sliders were edited or reset

    def quit(self) -> None:
        self._running = False

    # -- building and updating the window --------------------------------------------------------------------

    def _build(self) -> None:
        width, height = self.orbit.width, self.orbit.height
        self._pixels = np.empty((height, width, 3), np.float32)
        self._pixels[:] = self.background.numpy()
        with dpg.texture_registry():
            self._texture = dpg.add_raw_texture(width, height, self._pixels, format=dpg.mvFormat_Float_rgb)
        with dpg.theme() as flush:  # the image fills the window's left part exactly, so pixels map 1:1
            with dpg.theme_component(dpg.mvWindowAppItem):
                dpg.add_theme_style(dpg.mvStyleVar_WindowPadding, 0, 0)
                dpg.add_theme_style(dpg.mvStyleVar_ItemSpacing, 0, 0)
                dpg.add_theme_style(dpg.mvStyleVar_WindowBorderSize, 0)
        with dpg.window(tag="main") as main:
            with dpg.group(horizontal=True):
                dpg.add_image(self._texture, tag="image", width=width, height=height)
                with dpg.child_window(width=PANEL_WIDTH, tag="panel"):
                    self._build_panel()
        dpg.bind_item_theme(main, flush)
        dpg.set_primary_window(main, True)
        with dpg.handler_registry():
            dpg.add_mouse_wheel_handler(callback=lambda _, steps: self._zoom(steps))
            self._add_key(dpg.mvKey_R, self.orbit.reset)
            self._add_key(dpg.mvKey_Escape, self.quit)
            self._add_key(dpg.mvKey_Q, self.quit)
            if self.timeline is not None:
                self._add_key(dpg.mvKey_Spacebar, self.toggle_play)
                self._add_key(dpg.mvKey_Left, lambda: self.step_frame(-1))
                self._add_key(dpg.mvKey_Right, lambda: self.step_frame(1))

    def _add_key(self, key: int, action) -> None:
        def pressed():
            # Letters and Space typed into the filter box are text, not commands (nor the Esc that leaves it).
            if not (dpg.is_item_active("filter") or dpg.is_item_deactivated("filter")):
                action()

        dpg.add_key_press_handler(key, callback=pressed)

    def _build_panel(self) -> None:
        """At the top, always in view: readout, buttons, help, timeline and filter; below, the sliders scroll."""
        with dpg.theme() as padded:
            with dpg.theme_component(dpg.mvAll):
                dpg.add_theme_style(dpg.mvStyleVar_WindowPadding, 8, 8)
                dpg.add_theme_style(dpg.mvStyleVar_ItemSpacing, 8, 4)
        dpg.bind_item_theme("panel", padded)
        dpg.add_text(f"render ({self.backend}): starting\n", tag="fps")
        with dpg.group(horizontal=True):
            dpg.add_button(label="reset view (R)", callback=self.orbit.reset)
            dpg.add_button(label="reset face", callback=self.reset_face)
        dpg.add_text(HELP + ("" if self.timeline is None else TIMELINE_HELP), color=GREY)
        if self.timeline is not None:
            self._build_timeline()
        dpg.add_separator()
        dpg.add_input_text(tag="filter", hint="filter sliders", width=-1, callback=self._apply_filter)
        with dpg.child_window(tag="sliders", border=False):  # the rest of the panel's height; scrolls
            dpg.add_text("pose (degrees)")
            for control in POSE_CONTROLS:
                self._add_slider(f"pose/{control.name}", control.label, control.low, control.high, "%.1f")
            dpg.add_text("expression")
            low, high = self.avatar.expression_range
            for k, label in enumerate(self.labels):
                self._add_slider(f"expression/{k}", label, low, high, "%.2f")

    def _build_timeline(self) -> None:
        with dpg.group(horizontal=True):
            dpg.add_button(arrow=True, direction=dpg.mvDir_Left, callback=lambda: self.step_frame(-1))
            dpg.add_button(label="play", tag="timeline/play", width=48, callback=self.toggle_play)
            dpg.add_button(arrow=True, direction=dpg.mvDir_Right, callback=lambda: self.step_frame(1))
            dpg.add_text("", tag="timeline/name")
        last = len(self.timeline) - 1
        dpg.add_slider_int(tag="timeline/frame", width=-1, min_value=0, max_value=last, format=f"frame %d / {last}",
                           callback=lambda _, index: self.show_frame(index))

    def _add_slider(self, tag: str, label: str, low: float, high: float, number_format: str) -> None:
        with dpg.group(horizontal=True, tag=f"row/{tag}"):
            dpg.add_button(label="0", tag=f"reset/{tag}", callback=self._reset_slider, user_data=tag)
            dpg.add_slider_float(label=label, tag=tag, width=SLIDER_WIDTH, min_value=low, max_value=high,
                                 format=number_format, callback=self._edited)

    def _reset_slider(self, _sender, _value, tag: str) -> None:
        dpg.set_value(tag, 0.0)
        self._edited()

    def _edited(self) -> None:
        """The user moved a slider: it changes the face from here on, so the timeline stops driving it."""
        if self.playback is not None:
            self.playback.pause()

    def _apply_filter(self) -> None:
        text = dpg.get_value("filter")
        for tag, label in self._sliders:
            dpg.configure_item(f"row/{tag}", show=matches_filter(label, text))

    def _play(self) -> None:
        """Show the frame the clock has reached while the timeline plays; the button offers play or pause."""
        if self.playback is None:
            return
        frame = self.playback.advance(time.perf_counter())
        if frame != self._shown_frame:
            self._show(frame)
        dpg.configure_item("timeline/play", label="pause" if self.playback.playing else "play")

    def _show(self, index: int) -> None:
        """Timeline frame `index` into the sliders (the pose sliders show what they can), to edit from there."""
        expression, pose = controls_from_params(self.timeline.frame(index))
        for k, value in enumerate(expression):
            dpg.set_value(f"expression/{k}", value)
        for name, value in pose.items():
            dpg.set_value(f"pose/{name}", value)
        self._shown_frame = self._base_frame = index
        dpg.set_value("timeline/frame", index)
        dpg.set_value("timeline/name", self.timeline.names[index])

    def _follow_window_size(self) -> None:
        """Render at the size of the window's image area (the shown texture stretches until a frame fits)."""
        width = max(dpg.get_viewport_client_width() - PANEL_WIDTH, 16)
        height = max(dpg.get_viewport_client_height(), 16)
        if (width, height) != (self.orbit.width, self.orbit.height):
            self.orbit.resize(width, height)
            dpg.configure_item("image", width=width, height=height)
            dpg.configure_item("panel", height=height)

    def _follow_mouse(self) -> None:
        """Drags that start on the image move the camera: left orbits, right or middle pans."""
        position = dpg.get_mouse_pos(local=False)
        if self._drag is None:
            for button in (dpg.mvMouseButton_Left, dpg.mvMouseButton_Right, dpg.mvMouseButton_Middle):
                if dpg.is_mouse_button_clicked(button) and dpg.is_item_hovered("image"):
                    self._drag = (button, position)
            return
        button, (x, y) = self._drag
        if not dpg.is_mouse_button_down(button):
            self._drag = None
            return
        dx, dy = position[0] - x, position[1] - y
        if button == dpg.mvMouseButton_Left:
            self.orbit.drag_rotate(dx, dy)
        else:
            self.orbit.drag_pan(dx, dy)
        self._drag = (button, position)

    def _zoom(self, steps: float) -> None:
        if dpg.is_item_hovered("image"):
            self.orbit.zoom(steps)

    def _request_if_changed(self) -> None:
        expression = [dpg.get_value(f"expression/{k}") for k in range(len(self.labels))]
        pose = {control.name: dpg.get_value(f"pose/{control.name}") for control in POSE_CONTROLS}
        view = self.orbit
        state = (*expression, *pose.values(), self._base_frame, view.yaw, view.pitch, view.distance, view.pan,
                 view.width, view.height)
        if state != self._requested_state:  # an unchanged view is not rendered again
            self._requested_state = state
            self.requested += 1
            base = None if self._base_frame is None else self.timeline.frame(self._base_frame)
            self.renderer.request(self.requested, params_from_controls(expression, pose, base), self.orbit.camera())

    def _upload_latest(self) -> None:
        frame = self.renderer.latest
        self._drawn_for += 1
        if frame is None or frame.number == self.uploaded:
            return
        if frame.image.shape != self._pixels.shape:
            self._replace_texture(frame.image.shape[1], frame.image.shape[0])
        np.copyto(self._pixels, frame.image)  # the raw texture reads this buffer: changing it uploads it
        first = self.uploaded == 0  # it also loaded the compiled rasterizer: not a measure of speed
        self.uploaded, self._drawn_for = frame.number, 0
        milliseconds = frame.seconds * 1000
        if not first:
            self._render_ms = 0.8 * self._render_ms + 0.2 * milliseconds if self._render_ms else milliseconds

    def _update_readout(self) -> None:
        now = time.perf_counter()
        if self._render_ms and now - self._readout_at > 0.25:  # a steady number, not a flicker
            self._readout_at = now
            dpg.set_value("fps", f"render ({self.backend}): {1000 / self._render_ms:.1f} fps "
                                 f"({self._render_ms:.0f} ms)\n"
                                 f"window: {dpg.get_frame_rate():.0f} fps")

    def _replace_texture(self, width: int, height: int) -> None:
        old = self._texture
        self._pixels = np.empty((height, width, 3), np.float32)
        self._texture = dpg.add_raw_texture(width, height, self._pixels, format=dpg.mvFormat_Float_rgb,
                                            parent=dpg.get_item_parent(old))
        dpg.configure_item("image", texture_tag=self._texture)
        dpg.delete_item(old)
