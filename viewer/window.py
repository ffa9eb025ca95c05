"""The dearpygui plumbing of a livehead window: context and viewport, the avatar's image as a texture, the orbit
camera on the mouse, keys, and the pace of window frames. A subclass says what to draw (`build`) and what
changes each window frame (`update`).

Callbacks run in step(), on the thread that calls it (dearpygui's manual callback management). Import only
after `viewer.display.display_problem()` found a display.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import dearpygui.dearpygui as dpg
import numpy as np

from models.orbit import OrbitCamera

DRAWN_AFTER = 2  # window frames that show a new texture before it counts as on screen


class Window:
    """open(), then step() until it returns False, then close(). The image item is tagged "image"; `margin`
    is the window width beside it (the image takes the rest, and is rendered at that size)."""

    frame_rate = 60.0  # window frames per second at most

    def __init__(self, orbit: OrbitCamera, margin: int, text_inputs: tuple[str, ...] = ()):
        self.orbit = orbit
        self.margin = margin
        self.text_inputs = text_inputs  # while one of these has the keyboard, keys are text, not commands
        self.frames_drawn = 0  # window frames drawn so far, the one being drawn included
        self._pixels = np.zeros((orbit.height, orbit.width, 3), np.float32)  # what the image texture reads
        self._texture: int | None = None
        self._drag: tuple[int, tuple[float, float]] | None = None  # mouse button, last position
        self._frame_start = 0.0
        self._running = False

    # -- what a subclass says -------------------------------------------------------------------------------

    def build(self, image_texture: int) -> None:
        """Add the window's items, the image (`dpg.add_image(image_texture, tag="image", ...)`) among them."""
        raise NotImplementedError

    def update(self) -> None:
        """Each window frame, before it is drawn (`frames_drawn` already counts it)."""

    def resized(self, width: int, height: int) -> None:
        """The image area is now width x height."""

    # -- life cycle ------------------------------------------------------------------------------------------

    def open(self, title: str = "livehead") -> None:
        dpg.create_context()
        dpg.configure_app(manual_callback_management=True)  # callbacks run in step(), on this thread
        with dpg.texture_registry(tag="textures"):
            self._texture = dpg.add_raw_texture(self.orbit.width, self.orbit.height, self._pixels,
                                                format=dpg.mvFormat_Float_rgb)
        with dpg.handler_registry(tag="handlers"):
            dpg.add_mouse_wheel_handler(callback=lambda _, steps: self._zoom(steps))
        self.build(self._texture)
        dpg.create_viewport(title=title, width=self.margin + self.orbit.width, height=self.orbit.height,
                            vsync=False)
        dpg.setup_dearpygui()
        dpg.show_viewport()
        self._running = True

    def step(self) -> bool:
        """Draw one window frame; False once the window is closed or quit."""
        dpg.run_callbacks(dpg.get_callback_queue())
        if not (self._running and dpg.is_dearpygui_running()):
            return False
        self.frames_drawn += 1  # this step draws one
        self._follow_window_size()
        self._follow_mouse()
        self.update()
        dpg.render_dearpygui_frame()
        time.sleep(max(0.0, self._frame_start + 1 / self.frame_rate - time.perf_counter()))
        self._frame_start = time.perf_counter()
        return True

    def run(self, screenshot: Path | None = None) -> None:
        """Until the window closes; with `screenshot`, save the window once `ready_for_screenshot()`, and quit."""
        self.open()
        try:
            if screenshot is None:
                while self.step():
                    pass
            elif self.ready_for_screenshot():
                self.save_screenshot(screenshot)
        finally:
            self.close()

    def ready_for_screenshot(self) -> bool:
        """Step until the window shows what a screenshot should; False if it closed first."""
        return self.step()

    def quit(self) -> None:
        self._running = False

    @property
    def running(self) -> bool:
        return self._running and dpg.is_dearpygui_running()

    def close(self) -> None:
        dpg.destroy_context()

    def on_screen(self, since: int | None) -> bool:
        """Whether an image first shown in window frame `since` (or a later one) is on screen: drawn for
        DRAWN_AFTER window frames more."""
        return since is not None and self.frames_drawn - since >= DRAWN_AFTER

    def save_screenshot(self, path: Path) -> None:
        """The whole window as a PNG (dearpygui writes it while drawing the next frame)."""
        path = Path(path)
        path.unlink(missing_ok=True)
        dpg.output_frame_buffer(file=str(path))
        while not path.exists() and self.step():
            pass

    # -- the image -----------------------------------------------------------------------------------------

    def show_image(self, image: np.ndarray) -> None:
        """(H, W, 3) float RGB into the image texture (a new texture when its size changed)."""
        if image.shape != self._pixels.shape:
            old = self._texture
            self._pixels = np.empty(image.shape, np.float32)
            self._texture = dpg.add_raw_texture(image.shape[1], image.shape[0], self._pixels,
                                                format=dpg.mvFormat_Float_rgb, parent="textures")
            dpg.configure_item("image", texture_tag=self._texture)
            dpg.delete_item(old)
        np.copyto(self._pixels, image)  # the raw texture reads this buffer: changing it uploads it

    def image(self) -> np.ndarray:
        """A copy of the image as the window shows it: (H, W, 3) float RGB."""
        return self._pixels.copy()

    # -- input ---------------------------------------------------------------------------------------------

    def add_key(self, key: int, action: Callable[[], object]) -> None:
        def pressed():
            # Letters and Space typed into a text box are text, not commands (nor the Esc that leaves it).
            if not any(dpg.is_item_active(box) or dpg.is_item_deactivated(box) for box in self.text_inputs):
                action()

        dpg.add_key_press_handler(key, callback=pressed, parent="handlers")

    def _follow_window_size(self) -> None:
        """Render at the size of the window's image area (the shown texture stretches until a frame fits)."""
        width = max(dpg.get_viewport_client_width() - self.margin, 16)
        height = max(dpg.get_viewport_client_height(), 16)
        if (width, height) != (self.orbit.width, self.orbit.height):
            self.orbit.resize(width, height)
            dpg.configure_item("image", width=width, height=height)
            self.resized(width, height)

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
