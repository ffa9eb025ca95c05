"""The dearpygui window: the camera feed and the live controls on the left, the avatar's image in the middle, the
sliders for its face (and its timeline, when it has one) on the right, an orbit camera on the mouse.

With a video (launch.py --video IN, viewer/video_timeline.py), the video is the timeline: its driven frames play at
the video's rate, the sliders add to them, and the camera feed shows the video's frame.

Three kinds of threads: the live driver's (capture and tracking, tracking/live.py), or the video's decoder
(viewer/video_frames.py); the renderer's (always the newest request, viewer/render_thread.py); and this one, the
GUI thread, which only reads controls and the newest tracked or decoded frame, asks for renders and uploads the
latest finished one. Import only after `viewer.display.display_problem()` found a display.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import dearpygui.dearpygui as dpg
import numpy as np
import torch
from PIL import Image

from avatar import Avatar
from avatar.rasterizer import available_backends, resolve_backend
from models.params import FlameParams
from tracking.live import LiveDriver, LiveState
from viewer import overlay, panel
from viewer.controls import (POSE_CONTROLS, SliderValues, controls_from_params, expression_labels, matches_filter,
                             params_from_controls, with_offsets)
from viewer.eigen_sliders import EigenSliders
from viewer.orbit import OrbitCamera
from viewer.panel import FEED_SIZE, LIVE_WIDTH, PANEL_WIDTH, RECORD_LAYOUTS
from viewer.pixels import to_uint8
from viewer.render_thread import RenderRequest, RenderThread
from viewer.timeline import PLAYBACK_FPS, Playback

if TYPE_CHECKING:
    from viewer.video_timeline import VideoTimeline

IMAGE_LEFT = LIVE_WIDTH  # the avatar's image starts here in the window, right of the live column
# Window frames per second at most. With the CPU renderer, the window's own drawing (software OpenGL where there
# is no GPU) shares the cores with it: at 30 its renders come ~15% faster than at 60, and the image cannot
# change faster than they come anyway.
WINDOW_FPS_CPU_RENDERER, WINDOW_FPS = 30, 60
DRAWN_AFTER = 2  # window frames that show a new texture before it counts as on screen
LIVE_SECONDS = 120.0  # a screenshot waits this long for the camera to drive the avatar (a fresh checkout first
#                       compiles the tracker's fit, ~20 s)
RECORD_FPS = 30
TEXT_INPUTS = ("filter", "files/preset")  # while one of these has the keyboard, keys are text, not commands
NO_CAMERA = "no camera - sliders only"
CARDS = {"starting": "starting the camera...", "no signal": "no signal", "no camera": NO_CAMERA,
         "no source": NO_CAMERA, "ended": "the video ended", "error": "tracking stopped", "stopped": "stopped"}
LIVE_ONLY = ("live/on", "live/offsets", "live/calibrate", "live/reshape", "live/smoothing")  # hidden with a video


class ViewerApp:
    """open(), then step() until it returns False, then close(); or run().

    `webcam`: what drives the avatar live: a webcam index, a video file or image folder (played at its own rate,
    looping), or a LiveDriver (not started yet); None: the sliders alone. `video`: a reenacted video as the
    timeline instead (not with `webcam`); the app closes it. Recordings and screenshots go to `record_dir`, named
    by the time.
    """

    def __init__(self, avatar: Avatar, width: int, height: int, background: tuple[int, int, int], backend: str,
                 webcam: str | int | os.PathLike | LiveDriver | None = None, record_dir: str | os.PathLike = ".",
                 video: VideoTimeline | None = None):
        self.avatar = avatar
        self.backend = resolve_backend(backend)
        self.background = torch.tensor(background, dtype=torch.float32) / 255
        self.render_mode = "RGB"
        self.orbit = OrbitCamera.home_of(avatar, width, height)
        self.window_size = (LIVE_WIDTH + width + PANEL_WIDTH, height)
        self.record_dir = Path(record_dir)
        self.labels = expression_labels(avatar.head.expression_names, avatar.head.num_expressions)
        # Every slider's tag and label, expressions by index and pose controls by name, for the filter box.
        self._sliders = [(f"expression/{k}", label) for k, label in enumerate(self.labels)]
        self._sliders += [(f"pose/{control.name}", control.label) for control in POSE_CONTROLS]
        self.eigen = EigenSliders.of(avatar)  # a GEM's eigen coefficients (other avatars: none)
        self._sliders += [(slider.tag, slider.name) for slider in self.eigen.sliders]
        self.video = video
        self.timeline = avatar.timeline if video is None else video.drive
        self.playback = None if self.timeline is None else Playback(len(self.timeline),
                                                                      PLAYBACK_FPS if video is None else video.fps)
        # With a video: the frame the feed shows, and its image.
        self.feed_frame: int | None = None
        self._video_image: np.ndarray | None = None
        self._shown_frame: int | None = None  # the timeline frame last put into the sliders
        # What the sliders' values apply to: a timeline frame or the tracked face they were last set from, kept
        # exactly where no slider moved (global rotation, translation). None: the neutral face.
        self._base: FlameParams | None = None
        self._base_key: tuple | None = None
        self._webcam = webcam
        self.driver: LiveDriver | None = webcam if isinstance(webcam, LiveDriver) else None  # opened by open()
        self.live_on = webcam is not None  # the tracked face drives the avatar (else: the sliders alone)
        self.offsets = False  # while live: the sliders add to the tracked face (else: they show it)
        self._live: LiveState | None = None  # the newest tracked frame seen
        self._live_requested = 0  # the number of the tracked frame last asked to be rendered
        self._feed_shown: tuple | None = None  # what the feed texture shows: (status, state number)
        self.params = FlameParams.neutral(avatar.head.num_expressions)  # what was last asked to be rendered
        self.recorder = None
        self.requested = 0  # the number of the latest render request
        self._settled = 0  # the latest request that changed more than the tracked face (sliders, view, settings)
        self._settled_state: tuple | None = None
        self.uploaded = 0  # the number of the request whose frame is in the texture
        # Window frames drawn so far, and the one in which the texture first held the image of the latest settled
        # request (or a newer one), or any image driven by the camera. Later uploads leave them be: while live, a
        # new image may come every window frame, and it still shows the settled request, or the camera.
        self._frames_drawn = 0
        self._settled_since: int | None = None
        self._live_since: int | None = None
        self._requested_state: tuple | None = None
        self._drag: tuple[int, tuple[float, float]] | None = None  # mouse button, last position
        self._render_ms = 0.0  # smoothed time per render
        self._untimed = True  # the next render loads a rasterizer: not a measure of speed
        self.latency_ms = 0.0  # smoothed, from a camera frame's capture to its avatar image's upload
        self._readout_at = 0.0
        self._frame_start = 0.0
        self._running = False

    # -- life cycle ------------------------------------------------------------------------------------------

    def open(self) -> None:
        self.renderer = RenderThread(self.avatar)
        if self._webcam is not None:
            if self.driver is None:  # never raises: a source that cannot be opened says why in its status
                self.driver = LiveDriver(self._webcam, self.avatar.head)
            self.driver.start()
        if self.video is not None:
            self.video.frames.start()
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
        self._follow_live()
        self._request_if_changed()
        self._upload_latest()
        self._record()
        self._update_readout()
        dpg.render_dearpygui_frame()
        frame_interval = 1 / (WINDOW_FPS_CPU_RENDERER if self.backend == "cpu" else WINDOW_FPS)
        time.sleep(max(0.0, self._frame_start + frame_interval - time.perf_counter()))
        self._frame_start = time.perf_counter()
        return True

    def close(self) -> None:
        """Finish a recording (a valid video), stop the threads, close the window."""
        try:
            self.stop_recording()
        finally:
            if self.driver is not None:
                self.driver.stop()
            if self.video is not None:
                self.video.close()
            self.renderer.stop()
            dpg.destroy_context()

    def run(self, screenshot: Path | None = None) -> None:
        """Until the window closes; with `screenshot`, save the window once the avatar is drawn (while live: driven
        by the camera), and quit. Raises TimeoutError if the camera did not drive it within LIVE_SECONDS."""
        self.open()
        try:
            if screenshot is None:
                while self.step():
                    pass
            elif self.wait_until_drawn():
                # A second render, timed without the first one's loading of the rasterizer, for the readout.
                self._requested_state, self._settled_state, self._readout_at = None, None, 0.0
                if self.wait_until_drawn() and self.wait_until_live(LIVE_SECONDS):
                    self.save_screenshot(screenshot)
                elif self._running and dpg.is_dearpygui_running():  # not closed: timed out
                    where = self.driver.problem or f"{self.driver.name}: {self.driver.status}"
                    raise TimeoutError(f"no screenshot: the live source did not drive the avatar within "
                                       f"{LIVE_SECONDS:.0f} s ({where})")
        finally:
            self.close()

    def wait_until_drawn(self) -> bool:
        """Step until the window shows the image of the current controls and view (while live: of some tracked
        frame since; with a video, its frame in the feed too); False if it closed first. Pause the timeline first:
        while it plays faster than the renderer, the image never catches up.
        """
        while self.step():  # one step at least: it turns changed controls into a request
            feed_shown = self.video is None or self.feed_frame == self.playback.frame
            if self._on_screen(self._settled_since) and feed_shown:
                return True
        return False

    def wait_until_live(self, seconds: float) -> bool:
        """With a live source: step until the camera drives the image on screen, or the source says for good why it
        cannot (no camera, no source, ended, error: the feed shows why); True then. False if `seconds` passed first
        (a camera without signal may come back, so it is waited for) or the window closed; `driver.status` and
        `driver.problem` say where it stands."""
        deadline = time.perf_counter() + seconds
        while self.driver is not None:
            if self._on_screen(self._live_since) or self.driver.status not in ("starting", "live", "no signal"):
                return True
            if time.perf_counter() >= deadline or not self.step():
                return False
        return True

    def _on_screen(self, since: int | None) -> bool:
        """Whether an image first uploaded in window frame `since` (or a later one) is on screen: drawn for
        DRAWN_AFTER window frames more."""
        return since is not None and self._frames_drawn - since >= DRAWN_AFTER

    def save_screenshot(self, path: Path) -> None:
        """The whole window as a PNG (dearpygui writes it while drawing the next frame)."""
        path = Path(path)
        path.unlink(missing_ok=True)
        dpg.output_frame_buffer(file=str(path))
        while not path.exists() and self.step():
            pass

    # -- the face: sliders and timeline (the tests and the keyboard use these too) ---------------------------

    def set_control(self, name: str, value: float) -> None:
        """Move a slider as the user would: an expression label ("smile") or a pose control name ("jaw")."""
        tag = f"expression/{self.labels.index(name)}" if name in self.labels else f"pose/{name}"
        dpg.set_value(tag, value)
        self.edited()

    def set_filter(self, text: str) -> None:
        """Type into the filter box: only sliders whose label contains `text` stay shown."""
        dpg.set_value("filter", text)
        self.apply_filter()

    def shown_sliders(self) -> list[str]:
        """The labels of the sliders the filter box leaves shown."""
        return [label for tag, label in self._sliders if dpg.is_item_shown(f"row/{tag}")]

    def image(self) -> np.ndarray:
        """A copy of the avatar's image as the window shows it: (H, W, 3) float RGB."""
        return self._pixels.copy()

    def reset_face(self) -> None:
        """Every slider to 0: the neutral face (or the tracked face or the video's alone, while the sliders add to
        it), also after a timeline frame (which stays selected, paused)."""
        self._set_sliders([0.0] * len(self.labels), {control.name: 0.0 for control in POSE_CONTROLS})
        self._sliders_alone()
        self.edited()

    def reset_slider(self, _sender, _value, tag: str) -> None:
        """The "0" beside a slider."""
        dpg.set_value(tag, 0.0)
        self.edited()

    def reset_eigen(self) -> None:
        """Every eigen slider to 0 (a GEM's mean face, plus what its mapper makes of the other sliders)."""
        self.eigen.set(None)
        self.edited()

    def edited(self) -> None:
        """The user moved a slider: it changes the face from here on, so the timeline stops driving it (a video
        plays on: the sliders add to it)."""
        if self.playback is not None and self.video is None:
            self.playback.pause()

    def apply_filter(self) -> None:
        text = dpg.get_value("filter")
        for tag, label in self._sliders:
            dpg.configure_item(f"row/{tag}", show=matches_filter(label, text))
        self.eigen.follow_filter(text)

    def show_frame(self, index: int) -> None:
        """Pause at timeline frame `index` (wrapping around) and put its values into the sliders."""
        self.playback.seek(index)
        self._show(self.playback.frame)

    def step_frame(self, steps: int) -> None:
        self.show_frame(self.playback.frame + steps)

    def toggle_play(self) -> None:
        self.playback.toggle(time.perf_counter())
        if self.playback.playing:
            self.set_live(False)  # the timeline drives the face now
            self._show(self.playback.frame)  # also after the sliders were edited or reset

    def quit(self) -> None:
        self._running = False

    # -- a video as the timeline -----------------------------------------------------------------------------

    def set_landmarks(self, on: bool) -> None:
        """Draw the landmarks on the video's frame in the feed."""
        self.video.set_landmarks(on)
        dpg.set_value("video/landmarks", self.video.show_landmarks)

    def export_video(self) -> str:
        """Write the reenactment as launch.py --headless does (OUT.mp4 or PNGs, its report beside), in the
        background; the line under the button follows it."""
        return self.video.start_export()

    # -- live driving --------------------------------------------------------------------------------------

    def set_live(self, on: bool) -> None:
        """The tracked face drives the avatar (on), or the sliders alone (off: they keep the last tracked face)."""
        self.live_on = bool(on) and self.driver is not None
        dpg.set_value("live/on", self.live_on)
        if self.live_on and self.playback is not None:
            self.playback.pause()
        if self.live_on and not self.offsets and self._live is not None:
            self._mirror(self._live)

    def toggle_live(self) -> None:
        self.set_live(not self.live_on)

    def set_offsets(self, on: bool) -> None:
        """While live: the sliders add to the tracked face (starting from 0), or show it."""
        self.offsets = bool(on)
        dpg.set_value("live/offsets", self.offsets)
        if self.offsets:
            self.reset_face()
        elif self.live_on and self._live is not None:
            self._mirror(self._live)

    def calibrate_neutral(self) -> None:
        """The user's face as it is now becomes the avatar's rest face."""
        if self.driver is not None:
            self.driver.calibrate_neutral()

    def reestimate_shape(self) -> None:
        if self.driver is not None:
            self.driver.reestimate_shape()

    def set_smoothing(self, strength: float) -> None:
        if self.driver is not None:
            self.driver.set_smoothing(min(max(float(strength), 0.0), 1.0))

    def live_status(self) -> str:
        """The live driver's status ("live", "no signal", ...), or "off" without a live source."""
        return "off" if self.driver is None else self.driver.status

    # -- view and render ---------------------------------------------------------------------------------

    def reset_view(self) -> None:
        """Back to the avatar's own (training) view, its field of view included."""
        self.orbit.reset()
        dpg.set_value("view/fov", self.orbit.field_of_view())

    def set_field_of_view(self, degrees: float) -> None:
        self.orbit.set_field_of_view(degrees)
        dpg.set_value("view/fov", degrees)

    def background_rgb(self) -> list[int]:
        return [round(c * 255) for c in self.background.tolist()]

    def set_background(self, rgb) -> None:
        """The background colour, RGB 0-255."""
        self.background = torch.tensor([float(c) for c in rgb[:3]]) / 255
        dpg.set_value("view/background", [*self.background_rgb(), 255])

    def set_backend(self, name: str) -> None:
        """Render with another rasterizer backend from the next frame on (one of available_backends())."""
        if name not in available_backends():
            raise ValueError(f"renderer {name!r} is not available here: choose one of "
                             f"{', '.join(available_backends())}")
        self.backend = name
        self._render_ms, self._untimed = 0.0, True
        dpg.set_value("view/backend", name)
        dpg.set_value("fps", f"render ({name}): starting\n")

    def set_render_mode(self, mode: str) -> None:
        """Show the image ("RGB"), the opacity ("alpha") or the depth ("depth")."""
        if mode not in panel.RENDER_MODES:
            raise ValueError(f"render mode {mode!r}: choose one of {', '.join(panel.RENDER_MODES)}")
        self.render_mode = mode
        dpg.set_value("view/mode", mode)

    # -- files ---------------------------------------------------------------------------------------------

    def file_action(self, action, *args) -> None:
        """Run a file action for a button or key: what it wrote, or why it failed, in one line under the panel's
        buttons (never an exception that would close the window)."""
        try:
            message = action(*args)
        except (OSError, ValueError) as err:
            message = " ".join((getattr(err, "strerror", None) and f"{err.filename}: {err.strerror}"
                                or str(err)).split())
        dpg.set_value("files/message", message)
        dpg.configure_item("files/message", show=True)

    def save_image(self, path: str | os.PathLike | None = None) -> str:
        """The avatar's image as the window shows it, to a PNG (default: livehead_<time>.png in record_dir)."""
        path = Path(path) if path is not None else self._timestamped(".png")
        Image.fromarray(to_uint8(self._pixels)).save(path, format="PNG")
        return f"wrote {path}"

    def save_preset(self, path: str | os.PathLike) -> str:
        """The sliders' values to a JSON preset."""
        from viewer.presets import save_preset

        expression, pose, eigen = self._slider_values()
        save_preset(path, expression, pose, self.avatar.head.expression_names, self.eigen.by_name(eigen))
        return f"wrote {path}"

    def load_preset(self, path: str | os.PathLike) -> str:
        """Put a JSON preset's values into the sliders. While the tracked face drives the avatar and the sliders
        show it, this turns live driving off (the preset would be overwritten); while they add to it, the preset
        adds to it."""
        from viewer.presets import load_preset

        preset = load_preset(path, len(self.labels), self.avatar.head.expression_names, self.eigen.names)
        if self.live_on and not self.offsets:
            self.set_live(False)
        self._set_sliders(preset.expression, preset.pose, preset.eigen)
        self._sliders_alone()
        self.edited()
        skipped = f"; skipped {len(preset.skipped)}: {preset.skipped[0]}" if preset.skipped else ""
        return f"loaded {path}{skipped}"

    def export_ply(self, path: str | os.PathLike | None = None) -> str:
        """The Gaussians of the face shown now, as a 3DGS PLY (default: livehead_<time>.ply in record_dir)."""
        from viewer.ply import save_3dgs_ply

        path = Path(path) if path is not None else self._timestamped(".ply")
        with torch.inference_mode():
            gaussians = self.avatar.gaussians(self.params)
        save_3dgs_ply(path, gaussians)
        return f"wrote {path} ({len(gaussians)} Gaussians)"

    def start_recording(self, path: str | os.PathLike | None = None, layout: str | None = None) -> str:
        """Record the avatar's image (layout "avatar") or the camera beside it ("side_by_side") to an H.264 mp4
        (default: livehead_<time>.mp4 in record_dir), at RECORD_FPS, until stop_recording() or the window
        closes."""
        from viewer.recorder import Recorder

        self.stop_recording()
        path = Path(path) if path is not None else self._timestamped(".mp4")
        layout = layout or RECORD_LAYOUTS[dpg.get_value("record/layout")]
        self.recorder = Recorder(path, RECORD_FPS, layout=layout)
        dpg.configure_item("record/button", label="stop (V)")
        dpg.set_value("record/status", f"recording {path}")
        return f"recording {path}"

    def stop_recording(self) -> str:
        recorder, self.recorder = self.recorder, None
        if recorder is None:
            return "not recording"
        try:
            written = recorder.stop()
        except RuntimeError as err:  # the encoder failed: say so, keep the window
            message = " ".join(str(err).split())
        else:
            message = (f"wrote {written} ({recorder.frames_written} frames)" if written is not None
                       else "nothing recorded")
        dpg.configure_item("record/button", label="record (V)")
        dpg.set_value("record/status", message)
        return message

    def toggle_recording(self) -> None:
        self.file_action(self.start_recording if self.recorder is None else self.stop_recording)

    def _timestamped(self, suffix: str) -> Path:
        stem = f"livehead_{time.strftime('%Y%m%d_%H%M%S')}"
        path, count = self.record_dir / f"{stem}{suffix}", 1
        while path.exists():
            count += 1
            path = self.record_dir / f"{stem}_{count}{suffix}"
        return path

    # -- building the window ---------------------------------------------------------------------------------

    def _build(self) -> None:
        width, height = self.orbit.width, self.orbit.height
        self._pixels = np.empty((height, width, 3), np.float32)
        self._pixels[:] = self.background.numpy()
        self._feed_pixels = np.zeros((FEED_SIZE[1], FEED_SIZE[0], 3), np.float32)
        with dpg.texture_registry():
            self._texture = dpg.add_raw_texture(width, height, self._pixels, format=dpg.mvFormat_Float_rgb)
            feed = dpg.add_raw_texture(*FEED_SIZE, self._feed_pixels, format=dpg.mvFormat_Float_rgb)
        with dpg.theme() as flush:  # the image fills the window's middle exactly, so pixels map 1:1
            with dpg.theme_component(dpg.mvWindowAppItem):
                dpg.add_theme_style(dpg.mvStyleVar_WindowPadding, 0, 0)
                dpg.add_theme_style(dpg.mvStyleVar_ItemSpacing, 0, 0)
                dpg.add_theme_style(dpg.mvStyleVar_WindowBorderSize, 0)
        padded = panel.padded_theme()
        with dpg.window(tag="main") as main:
            with dpg.group(horizontal=True):
                with dpg.child_window(width=LIVE_WIDTH, height=height, tag="live"):
                    panel.build_live_column(self, feed)
                    if self.video is not None:
                        self._build_video_controls()
                dpg.add_image(self._texture, tag="image", width=width, height=height)
                with dpg.child_window(width=PANEL_WIDTH, height=height, tag="panel"):
                    panel.build_panel(self)
        dpg.bind_item_theme(main, flush)
        dpg.bind_item_theme("live", padded)
        dpg.bind_item_theme("panel", padded)
        dpg.set_primary_window(main, True)
        with dpg.handler_registry():
            dpg.add_mouse_wheel_handler(callback=lambda _, steps: self._zoom(steps))
            self._add_key(dpg.mvKey_R, self.reset_view)
            self._add_key(dpg.mvKey_Escape, self.quit)
            self._add_key(dpg.mvKey_Q, self.quit)
            self._add_key(dpg.mvKey_C, self.calibrate_neutral)
            self._add_key(dpg.mvKey_L, self.toggle_live)
            self._add_key(dpg.mvKey_V, self.toggle_recording)
            self._add_key(dpg.mvKey_P, lambda: self.file_action(self.save_image))
            if self.timeline is not None:
                self._add_key(dpg.mvKey_Spacebar, self.toggle_play)
                self._add_key(dpg.mvKey_Left, lambda: self.step_frame(-1))
                self._add_key(dpg.mvKey_Right, lambda: self.step_frame(1))

    def _build_video_controls(self) -> None:
        """With a video, in place of the live controls: its landmarks and its export."""
        for tag in LIVE_ONLY:
            dpg.configure_item(tag, show=False)
        dpg.add_separator()
        dpg.add_text("The video drives the avatar; the sliders add to it.", color=panel.GREY, wrap=FEED_SIZE[0])
        dpg.add_checkbox(label="landmarks", tag="video/landmarks", default_value=self.video.show_landmarks,
                         callback=lambda _, on: self.set_landmarks(on))
        dpg.add_button(label="export video", tag="video/export", callback=self._export_button)
        dpg.add_text(f"writes {self.video.job.output}", tag="video/export_status", color=panel.GREY,
                     wrap=FEED_SIZE[0])

    def _export_button(self) -> None:
        """Export, or cancel the export running."""
        export = self.video.export
        if export is not None and export.running:
            export.cancel()
        else:
            dpg.set_value("video/export_status", self.export_video())

    def _add_key(self, key: int, action) -> None:
        def pressed():
            # Letters and Space typed into a text box are text, not commands (nor the Esc that leaves it).
            if not any(dpg.is_item_active(box) or dpg.is_item_deactivated(box) for box in TEXT_INPUTS):
                action()

        dpg.add_key_press_handler(key, callback=pressed)

    # -- every window frame --------------------------------------------------------------------------------

    def _slider_values(self) -> SliderValues:
        expression = [dpg.get_value(f"expression/{k}") for k in range(len(self.labels))]
        pose = {control.name: dpg.get_value(f"pose/{control.name}") for control in POSE_CONTROLS}
        return SliderValues(expression, pose, self.eigen.values())

    def _set_sliders(self, expression: list[float], pose: dict[str, float], eigen=None) -> None:
        """`eigen`: (P, K) or flat, None: all 0 (see EigenSliders.set)."""
        for k, value in enumerate(expression):
            dpg.set_value(f"expression/{k}", value)
        for name, value in pose.items():
            dpg.set_value(f"pose/{name}", value)
        self.eigen.set(eigen)

    def _play(self) -> None:
        """Show the frame the clock has reached while the timeline plays; the button offers play or pause."""
        if self.playback is None:
            return
        frame = self.playback.advance(time.perf_counter())
        if frame != self._shown_frame:
            self._show(frame)
        dpg.configure_item("timeline/play", label="pause" if self.playback.playing else "play")

    def _show(self, index: int) -> None:
        """Timeline frame `index` into the sliders (the pose sliders show what they can), to edit from there; a
        video's frame under them instead (they add to it)."""
        self._base = self.timeline.frame(index)
        if self.video is None:
            self._set_sliders(*controls_from_params(self._base))
        self._shown_frame, self._base_key = index, ("frame", index)
        dpg.set_value("timeline/frame", index)
        dpg.set_value("timeline/name", self.timeline.names[index] if self.video is None
                      else f"{index / self.video.fps:.2f} s")

    def _sliders_alone(self) -> None:
        """The sliders' values no longer apply to a timeline frame or tracked face but to the neutral face; with
        a video they stay offsets on its frame."""
        if self.video is None:
            self._base = self._base_key = None

    def _mirror(self, state: LiveState) -> None:
        """The tracked face into the sliders, which show it (and keep it, if live driving is turned off)."""
        self._base, self._base_key = state.tracked.params, ("live", state.number)
        self._set_sliders(*controls_from_params(state.tracked.params))

    def _follow_live(self) -> None:
        """The newest tracked frame: into the feed (with its landmarks) and, while live, into the sliders."""
        if self.video is not None:
            self._follow_video()
            return
        if self.driver is None:
            self._show_feed(("off",), lambda: overlay.status_card(*FEED_SIZE, NO_CAMERA))
            return
        state, status = self.driver.latest(), self.driver.status
        if status == "live" and state is not None:
            self._show_feed(("live", state.number), lambda: overlay.fit_into(
                overlay.draw_landmarks(state.image, state.tracked.landmarks, face_found=state.tracked.face_found), *FEED_SIZE))
        else:
            self._show_feed((status,), lambda: overlay.status_card(*FEED_SIZE, CARDS.get(status, status)))
        problem = None if status in ("starting", "live") else self.driver.problem  # the same status as the feed
        dpg.set_value("live/status", problem or f"{Path(self.driver.name).name}: {status}")
        if state is None or (self._live is not None and state.number == self._live.number):
            return
        self._live = state
        if self.live_on:
            if self.playback is not None:
                self.playback.pause()
            if not self.offsets:
                self._mirror(state)

    def _follow_video(self) -> None:
        """The video's frame at the timeline's frame into the feed once decoded (until then the last one stays),
        with its landmarks if asked for; the export's progress under its button."""
        index, video = self.playback.frame, self.video
        image = video.frames.get(index)
        if image is not None:
            self.feed_frame, self._video_image = index, image
            landmarks = video.frames.landmarks.get(index) if video.show_landmarks else None
            face_found = bool(video.face_found[index])
            self._show_feed(("video", index, video.show_landmarks, landmarks is None), lambda: overlay.fit_into(
                overlay.draw_landmarks(image, landmarks, face_found=face_found) if video.show_landmarks else image,
                *FEED_SIZE))
        status = f"{video.job.video.name}: {len(video.drive)} frames at {video.fps:.4g} fps"
        status += "" if video.face_found[index] else f"; no face in frame {index}"
        dpg.set_value("live/status", video.frames.problem or status)
        if video.export is not None:
            dpg.set_value("video/export_status", video.export.status())
            dpg.configure_item("video/export", label="cancel export" if video.export.running else "export video")

    def _show_feed(self, key: tuple, picture) -> None:
        if key != self._feed_shown:
            self._feed_shown = key
            np.multiply(picture(), np.float32(1 / 255), out=self._feed_pixels, casting="unsafe")

    def _follow_window_size(self) -> None:
        """Render at the size of the window's image area (the shown texture stretches until a frame fits)."""
        width = max(dpg.get_viewport_client_width() - PANEL_WIDTH - LIVE_WIDTH, 16)
        height = max(dpg.get_viewport_client_height(), 16)
        if (width, height) != (self.orbit.width, self.orbit.height):
            self.orbit.resize(width, height)
            dpg.configure_item("image", width=width, height=height)
            dpg.configure_item("panel", height=height)
            dpg.configure_item("live", height=height)

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
        """Ask for a render when what the image should show changed: the tracked face (while live), the sliders,
        the view or the render settings."""
        expression, pose, eigen = self._slider_values()
        sliders = (*expression, *pose.values(), None if eigen is None else eigen.numpy().tobytes())
        live = self._live if self.live_on else None
        if live is not None:  # the sliders only show the tracked face, unless they add to it
            face = ("live", live.number, *(sliders if self.offsets else ()))
        else:
            face = (*sliders, self._base_key)
        view = self.orbit
        state = (face, view.yaw, view.pitch, view.distance, view.pan, view.focal_scale, view.width, view.height,
                 tuple(self.background.tolist()), self.backend, self.render_mode)
        if state == self._requested_state:  # an unchanged view is not rendered again
            return
        self._requested_state = state
        settled = (face[:1] + face[2:] if live is not None else face, *state[1:])  # without the tracked frame
        if settled != self._settled_state:
            self._settled_state, self._settled, self._settled_since = settled, self.requested + 1, None
        captured_at = None
        if live is not None:
            driven = live.tracked.params
            self.params = with_offsets(driven, expression, pose, eigen) if self.offsets else driven
            if live.number != self._live_requested:  # a new camera frame: its latency is measured
                self._live_requested, captured_at = live.number, live.tracked.time
        elif self.video is not None:
            self.params = with_offsets(self._base, expression, pose, eigen)
        else:
            self.params = params_from_controls(expression, pose, self._base, eigen)
        self.requested += 1
        self.renderer.request(RenderRequest(self.requested, self.params, self.orbit.camera(), self.background,
                                            self.backend, self.render_mode, captured_at))

    def _upload_latest(self) -> None:
        frame = self.renderer.latest
        self._frames_drawn += 1  # this step draws one
        if frame is None or frame.number == self.uploaded:
            return
        if frame.image.shape != self._pixels.shape:
            self._replace_texture(frame.image.shape[1], frame.image.shape[0])
        np.copyto(self._pixels, frame.image)  # the raw texture reads this buffer: changing it uploads it
        self.uploaded = frame.number
        if self._settled_since is None and frame.number >= self._settled:
            self._settled_since = self._frames_drawn
        if frame.captured_at is not None:
            if self._live_since is None:
                self._live_since = self._frames_drawn
            milliseconds = (time.perf_counter() - frame.captured_at) * 1000
            self.latency_ms = 0.8 * self.latency_ms + 0.2 * milliseconds if self.latency_ms else milliseconds
        if self._untimed:  # it also loaded the rasterizer: not a measure of speed
            self._untimed = False
            return
        milliseconds = frame.seconds * 1000
        self._render_ms = 0.8 * self._render_ms + 0.2 * milliseconds if self._render_ms else milliseconds

    def _record(self) -> None:
        """Every window frame while recording: the image shown (and the camera frame), stamped with the time."""
        if self.recorder is None:
            return
        if not self.recorder.recording:  # the encoder failed
            self.stop_recording()
            return
        camera = self._live.image if self._live is not None and self.live_on else self._video_image
        self.recorder.add(to_uint8(self._pixels), camera, time.perf_counter(), copy=False)  # neither changes

    def _update_readout(self) -> None:
        now = time.perf_counter()
        if now - self._readout_at < 0.25 or not (self._render_ms or self._live):  # steady numbers, no flicker
            return
        self._readout_at = now
        if self._render_ms:
            dpg.set_value("fps", f"render ({self.backend}): {1000 / self._render_ms:.1f} fps "
                                 f"({self._render_ms:.0f} ms)\n"
                                 f"window: {dpg.get_frame_rate():.0f} fps")
        state = self._live
        if state is not None:
            latency = f", latency {self.latency_ms:.0f} ms" if self.latency_ms and self.live_on else ""
            dpg.set_value("live/readout", f"tracker: {state.fps:.1f} fps ({state.track_ms:.0f} ms){latency}")
        if self.recorder is not None:
            dpg.set_value("record/status", f"recording {self.recorder.path}: {self.recorder.frames_written} "
                                           "frames")

    def _replace_texture(self, width: int, height: int) -> None:
        old = self._texture
        self._pixels = np.empty((height, width, 3), np.float32)
        self._texture = dpg.add_raw_texture(width, height, self._pixels, format=dpg.mvFormat_Float_rgb,
                                            parent=dpg.get_item_parent(old))
        dpg.configure_item("image", texture_tag=self._texture)
        dpg.delete_item(old)

