"""The dearpygui window: the camera feed and the live controls on the left, the avatar's image in the middle, the
sliders for its face (and its timeline, when it has one) on the right, an orbit camera on the mouse.

With a video (launch.py --video IN, viewer/video_timeline.py), the video is the timeline: its driven frames play at
the video's rate, the sliders add to them, and the camera feed shows the video's frame.

Three kinds of threads: the live driver's (capture and tracking, tracking/live.py), or the video's decoder
(viewer/video_frames.py); the renderer's (always the newest request, viewer/render_thread.py); and this one, the
GUI thread, which only reads controls and the newest tracked or decoded frame, asks for renders and uploads the
latest finished one. Which face drives the avatar is viewer/drive.py's; the window plumbing viewer/window.py's; the
controls are built by viewer/panel.py. Import only after `viewer.display.display_problem()` found a display.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import dearpygui.dearpygui as dpg
import torch

from avatar import Avatar
from avatar.splatting.rasterizer import available_backends, resolve_backend
from models.orbit import OrbitCamera
from models.params import FlameParams
from tracking.live import LiveDriver
from viewer import panel
from viewer.controls import SliderValues, expression_labels
from viewer.drive import DriveState
from viewer.eigen_sliders import EigenSliders
from viewer.face_sliders import FaceSliders
from viewer.feed import Feed
from viewer.file_actions import FileActions
from viewer.panel import LIVE_WIDTH, PANEL_WIDTH, RECORD_LAYOUTS, PanelSetup
from viewer.render_thread import RenderThread
from viewer.shown_image import ShownImage
from viewer.timeline import PLAYBACK_FPS
from viewer.window import Window

if TYPE_CHECKING:
    from viewer.video_timeline import VideoTimeline

IMAGE_LEFT = LIVE_WIDTH  # the avatar's image starts here in the window, right of the live column
# Window frames per second at most. With the CPU renderer, the window's own drawing (software OpenGL where there
# is no GPU) shares the cores with it: at 30 its renders come ~15% faster than at 60, and the image cannot
# change faster than they come anyway.
WINDOW_FPS_CPU_RENDERER, WINDOW_FPS = 30, 60
LIVE_SECONDS = 120.0  # a screenshot waits this long for the camera to drive the avatar (a fresh checkout first
#                       compiles the tracker's fit, ~20 s)
TEXT_INPUTS = ("filter", "files/preset")  # while one of these has the keyboard, keys are text, not commands


class ViewerApp(Window):
    """open(), then step() until it returns False, then close(); or run().

    `webcam`: what drives the avatar live: a webcam index, a video file or image folder (played at its own rate,
    looping), or a LiveDriver (not started yet); None: the sliders alone. `video`: a reenacted video as the
    timeline instead (not with `webcam`); the app closes it. Recordings and screenshots go to `record_dir`, named
    by the time.
    """

    def __init__(self, avatar: Avatar, width: int, height: int, background: tuple[int, int, int], backend: str,
                 webcam: str | int | os.PathLike | LiveDriver | None = None, record_dir: str | os.PathLike = ".",
                 video: VideoTimeline | None = None):
        super().__init__(OrbitCamera.home_of(avatar, width, height), LIVE_WIDTH + PANEL_WIDTH, TEXT_INPUTS)
        self.files = FileActions(Path(record_dir), self._say)
        self.avatar = avatar
        self.shown = ShownImage()
        self.background = torch.tensor(background, dtype=torch.float32) / 255
        self.render_mode = "RGB"
        self.backend = resolve_backend(backend)
        self.labels = expression_labels(avatar.head.expression_names, avatar.head.num_expressions)
        self.eigen = EigenSliders.of(avatar)  # a GEM's eigen coefficients (other avatars: none)
        self.sliders = FaceSliders(self.labels, self.eigen)
        self.video = video
        self.drive = DriveState(avatar.head.num_expressions, avatar.timeline if video is None else video.drive,
                                PLAYBACK_FPS if video is None else video.fps, video is not None, webcam is not None)
        self.timeline, self.playback = self.drive.timeline, self.drive.playback
        self.feed = Feed()
        self._webcam = webcam
        self.driver: LiveDriver | None = webcam if isinstance(webcam, LiveDriver) else None  # opened by open()
        self.params = FlameParams.neutral(avatar.head.num_expressions)  # what was last asked to be rendered
        self._readout_at = 0.0

    @property
    def frame_rate(self) -> float:
        return WINDOW_FPS_CPU_RENDERER if self.backend == "cpu" else WINDOW_FPS

    # -- life cycle ------------------------------------------------------------------------------------------

    def open(self) -> None:
        self.shown.renderer = RenderThread(self.avatar)
        if self._webcam is not None:
            if self.driver is None:  # never raises: a source that cannot be opened says why in its status
                self.driver = LiveDriver(self._webcam, self.avatar.head)
            self.driver.start()
        if self.video is not None:
            self.video.frames.start()
        super().open()

    def update(self) -> None:
        if self.shown.renderer.error is not None:
            raise self.shown.renderer.error
        self._play()
        self._follow_feed()
        face = self.drive.face(self.sliders.values())
        if self.shown.ask(face, self.orbit, self.background, self.backend, self.render_mode):
            self.params = face.params  # what was last asked to be rendered
        self.shown.upload(self.show_image, self.frames_drawn)
        live = self.drive.live if self.drive.live_on else None  # the camera's frame, or the video's, recorded beside
        self.files.record(self._pixels, live.image if live is not None else self.feed.video_image)
        self._update_readout()

    def close(self) -> None:
        """Finish a recording (a valid video), stop the threads, close the window."""
        try:
            self.stop_recording()
        finally:
            if self.driver is not None:
                self.driver.stop()
            if self.video is not None:
                self.video.close()
            self.shown.renderer.stop()
            super().close()

    def ready_for_screenshot(self) -> bool:
        """The avatar drawn (while live: driven by the camera). Raises TimeoutError if the camera did not drive it
        within LIVE_SECONDS."""
        if not self.wait_until_drawn():
            return False
        self.shown.again()  # a second render, timed without the first one's loading of the rasterizer
        self._readout_at = 0.0
        if self.wait_until_drawn() and self.wait_until_live(LIVE_SECONDS):
            return True
        if self.running:  # not closed: timed out
            where = self.driver.problem or f"{self.driver.name}: {self.driver.status}"
            raise TimeoutError(f"no screenshot: the live source did not drive the avatar within {LIVE_SECONDS:.0f} s "
                               f"({where})")
        return False

    def wait_until_drawn(self) -> bool:
        """Step until the window shows the image of the current controls and view (while live: of some tracked
        frame since; with a video, its frame in the feed too); False if it closed first. Pause a timeline first."""
        while self.step():  # one step at least: it turns changed controls into a request
            feed_shown = self.video is None or self.feed.frame == self.playback.frame
            if self.on_screen(self.shown.settled_since) and feed_shown:
                return True
        return False

    def wait_until_live(self, seconds: float) -> bool:
        """With a live source: step until the camera drives the image on screen, or the source says for good why it
        cannot (no camera, no source, ended, error); True then. False if `seconds` passed first (a camera without
        signal may come back) or the window closed; `driver.status` and `driver.problem` say where it stands."""
        deadline = time.perf_counter() + seconds
        while self.driver is not None:
            if self.on_screen(self.shown.live_since) or self.driver.status not in ("starting", "live", "no signal"):
                return True
            if time.perf_counter() >= deadline or not self.step():
                return False
        return True

    # -- the face: sliders and timeline (the tests and the keyboard use these too) ---------------------------

    def set_control(self, name: str, value: float) -> None:
        """Move a slider as the user would: an expression label ("smile") or a pose control name ("jaw")."""
        dpg.set_value(self.sliders.tag(name), value)
        self.edited()

    def set_filter(self, text: str) -> None:
        """Type into the filter box: only sliders whose label contains `text` stay shown."""
        dpg.set_value("filter", text)
        self.apply_filter()

    def shown_sliders(self) -> list[str]:
        """The labels of the sliders the filter box leaves shown."""
        return self.sliders.shown()

    def reset_face(self) -> None:
        """Every slider to 0: the neutral face (or the tracked face or the video's alone, while the sliders add to
        it), also after a timeline frame (which stays selected, paused)."""
        self.sliders.set(self.drive.reset())

    def reset_slider(self, _sender, _value, tag: str) -> None:
        """The "0" beside a slider."""
        dpg.set_value(tag, 0.0)
        self.edited()

    def reset_eigen(self) -> None:
        """Every eigen slider to 0 (a GEM's mean face, plus what its mapper makes of the other sliders)."""
        self.eigen.set(None)
        self.edited()

    def edited(self) -> None:
        """The user moved a slider: it changes the face from here on (see DriveState.edited)."""
        self.drive.edited()

    def apply_filter(self) -> None:
        self.sliders.filter(dpg.get_value("filter"))

    def show_frame(self, index: int) -> None:
        """Pause at timeline frame `index` (wrapping around) and put its values into the sliders."""
        self.playback.seek(index)
        self._show(self.playback.frame)

    def step_frame(self, steps: int) -> None:
        self.show_frame(self.playback.frame + steps)

    def toggle_play(self) -> None:
        if self.drive.toggle_play(time.perf_counter()):
            dpg.set_value("live/on", False)  # the timeline drives the face now
            self._show(self.playback.frame)  # also after the sliders were edited or reset

    # -- a video as the timeline -----------------------------------------------------------------------------

    def set_landmarks(self, on: bool) -> None:
        """Draw the landmarks on the video's frame in the feed."""
        self.video.set_landmarks(on)
        dpg.set_value("video/landmarks", self.video.show_landmarks)

    def export_button(self) -> None:
        """Write the reenactment as launch.py --headless does (OUT.mp4 or PNGs, its report beside), in the
        background, or cancel the export running; the line under the button follows it."""
        dpg.set_value("video/export_status", self.video.toggle_export())

    # -- live driving --------------------------------------------------------------------------------------

    def set_live(self, on: bool) -> None:
        """The tracked face drives the avatar (on), or the sliders alone (off: they keep the last tracked face)."""
        self.sliders.set(self.drive.set_live(on, self.driver is not None))
        dpg.set_value("live/on", self.drive.live_on)

    def set_offsets(self, on: bool) -> None:
        """While live: the sliders add to the tracked face (starting from 0), or show it."""
        self.sliders.set(self.drive.set_offsets(on))
        dpg.set_value("live/offsets", self.drive.offsets)

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
        self.shown.retime()
        dpg.set_value("view/backend", name)
        dpg.set_value("fps", f"render ({name}): starting\n")

    def set_render_mode(self, mode: str) -> None:
        """Show the image ("RGB"), the opacity ("alpha") or the depth ("depth")."""
        if mode not in panel.RENDER_MODES:
            raise ValueError(f"render mode {mode!r}: choose one of {', '.join(panel.RENDER_MODES)}")
        self.render_mode = mode
        dpg.set_value("view/mode", mode)

    # -- files (viewer/file_actions.py): the panel's buttons and keys use these ------------------------------

    def file_action(self, action, *args) -> None:
        self.files.run(action, *args)

    @staticmethod
    def _say(where: str, line: str) -> None:
        """A file action's line: under the panel's buttons, or by the record button, which says what it does next."""
        if where == "files":
            dpg.set_value("files/message", line)
            dpg.configure_item("files/message", show=True)
            return
        dpg.configure_item("record/button", label="stop (V)" if where == "recording" else "record (V)")
        dpg.set_value("record/status", line)

    def save_image(self, path: str | os.PathLike | None = None) -> str:
        """The avatar's image as the window shows it, to a PNG (default: livehead_<time>.png in record_dir)."""
        return self.files.save_image(self._pixels, path)

    def save_preset(self, path: str | os.PathLike) -> str:
        return self.files.save_preset(path, self.sliders.values(), self.avatar.head.expression_names, self.eigen)

    def load_preset(self, path: str | os.PathLike) -> str:
        """Put a JSON preset's values into the sliders (see DriveState.loaded)."""
        from viewer.presets import load_preset

        preset = load_preset(path, len(self.labels), self.avatar.head.expression_names, self.eigen.names)
        self.drive.loaded()
        dpg.set_value("live/on", self.drive.live_on)
        self.sliders.set(SliderValues(preset.expression, preset.pose, preset.eigen))
        skipped = f"; skipped {len(preset.skipped)}: {preset.skipped[0]}" if preset.skipped else ""
        return f"loaded {path}{skipped}"

    def export_ply(self, path: str | os.PathLike | None = None) -> str:
        """The Gaussians of the face shown now, as a 3DGS PLY (default: livehead_<time>.ply in record_dir)."""
        with torch.inference_mode():
            return self.files.export_ply(self.avatar.gaussians(self.params), path)

    def start_recording(self, path: str | os.PathLike | None = None, layout: str | None = None) -> str:
        """Until stop_recording() or the window closes (see FileActions.start_recording); layout: as chosen."""
        return self.files.start_recording(layout or RECORD_LAYOUTS[dpg.get_value("record/layout")], path)

    def stop_recording(self) -> str:
        return self.files.stop_recording()

    def toggle_recording(self) -> None:
        self.file_action(self.start_recording if self.files.recorder is None else self.stop_recording)

    # -- building the window ---------------------------------------------------------------------------------

    def build(self, image_texture: int) -> None:
        self._pixels[:] = self.background.numpy()
        feed = dpg.add_raw_texture(*self.feed.pixels.shape[1::-1], self.feed.pixels, format=dpg.mvFormat_Float_rgb,
                                   parent="textures")
        setup = PanelSetup(
            live=self.driver is not None, video=None if self.video is None else self.video.job.output,
            smoothing=self.driver.smoothing if self.driver is not None else panel.SMOOTHING_DEFAULT,
            show_landmarks=self.video is not None and self.video.show_landmarks, backend=self.backend,
            field_of_view=self.orbit.field_of_view(), background=self.background_rgb(),
            preset=self.files.folder / "preset.json", labels=self.labels, expression_range=self.avatar.expression_range,
            eigen=self.eigen, timeline=None if self.timeline is None else len(self.timeline))
        panel.build_window(self, setup, image_texture, feed, self.orbit.width, self.orbit.height)
        keys = {dpg.mvKey_R: self.reset_view, dpg.mvKey_Escape: self.quit, dpg.mvKey_Q: self.quit,
                dpg.mvKey_C: self.calibrate_neutral, dpg.mvKey_L: lambda: self.set_live(not self.drive.live_on),
                dpg.mvKey_V: self.toggle_recording, dpg.mvKey_P: lambda: self.file_action(self.save_image)}
        if self.timeline is not None:
            keys |= {dpg.mvKey_Spacebar: self.toggle_play, dpg.mvKey_Left: lambda: self.step_frame(-1),
                     dpg.mvKey_Right: lambda: self.step_frame(1)}
        for key, action in keys.items():
            self.add_key(key, action)

    def resized(self, width: int, height: int) -> None:
        dpg.configure_item("panel", height=height)
        dpg.configure_item("live", height=height)

    # -- every window frame --------------------------------------------------------------------------------

    def _play(self) -> None:
        """Show the frame the clock has reached while the timeline plays; the button offers play or pause."""
        if self.playback is None:
            return
        frame = self.playback.advance(time.perf_counter())
        if frame != self.drive.shown_frame:
            self._show(frame)
        dpg.configure_item("timeline/play", label="pause" if self.playback.playing else "play")

    def _show(self, index: int) -> None:
        """Timeline frame `index` drives the face (see DriveState.show); its number and name under the timeline."""
        self.sliders.set(self.drive.show(index))
        dpg.set_value("timeline/frame", index)
        dpg.set_value("timeline/name", self.timeline.names[index] if self.video is None
                      else f"{index / self.video.fps:.2f} s")

    def _follow_feed(self) -> None:
        """The newest tracked frame into the feed and, while live, into the sliders; or the video's frame at the
        timeline's frame, and the export's progress under its button."""
        if self.video is None:
            state = None if self.driver is None else self.driver.latest()
            status = self.feed.show_live(self.driver, state)
            self.sliders.set(self.drive.tracked(state))
        else:
            status = self.feed.show_video(self.video, self.playback.frame)
            export = self.video.export
            if export is not None:
                dpg.set_value("video/export_status", export.status())
                dpg.configure_item("video/export", label="cancel export" if export.running else "export video")
        if status is not None:
            dpg.set_value("live/status", status)

    def _update_readout(self) -> None:
        now, render, latency_ms = time.perf_counter(), self.shown.readout(self.backend), self.shown.latency_ms
        if now - self._readout_at < 0.25 or not (render or self.drive.live):  # steady numbers, no flicker
            return
        self._readout_at = now
        if render:
            dpg.set_value("fps", f"{render}\nwindow: {dpg.get_frame_rate():.0f} fps")
        state = self.drive.live
        if state is not None:
            latency = f", latency {latency_ms:.0f} ms" if latency_ms and self.drive.live_on else ""
            dpg.set_value("live/readout", f"tracker: {state.fps:.1f} fps ({state.track_ms:.0f} ms){latency}")
        recorder = self.files.recorder
        if recorder is not None:
            dpg.set_value("record/status", f"recording {recorder.path}: {recorder.frames_written} frames")
