"""The avatar's image in the window, from request to screen: a render is asked for when what the image should show
changed, on the render thread (viewer/render_thread.py), and the newest finished one is uploaded. It knows which
request the image on screen answers and since which window frame (what the window's waits wait for), and how long
renders take and how old a camera frame is when its image reaches the screen (the readout)."""
from __future__ import annotations

import time
from collections.abc import Callable

from torch import Tensor

from models.orbit import OrbitCamera
from viewer.drive import Face
from viewer.render_thread import RenderRequest, RenderThread


class ShownImage:
    """`renderer` draws the requests (the window starts it); `uploaded` is the number of the request whose image
    is on screen."""

    def __init__(self):
        self.renderer: RenderThread | None = None
        self.requested = 0  # the number of the latest request
        self.uploaded = 0
        self._requested_state: tuple | None = None
        self._settled = 0  # the latest request that changed more than the tracked face (sliders, view, settings)
        self._settled_state: tuple | None = None
        # The window frame in which the image of the latest settled request (or a newer one) was first uploaded,
        # and the one in which any image driven by the camera was. Later uploads leave them be: while live, a
        # new image may come every window frame, and it still shows the settled request, or the camera.
        self.settled_since: int | None = None
        self.live_since: int | None = None
        self.render_ms = 0.0  # smoothed time per render
        self._untimed = True  # the next render loads a rasterizer: not a measure of speed
        self.latency_ms = 0.0  # smoothed, from a camera frame's capture to its avatar image's upload

    def ask(self, face: Face, orbit: OrbitCamera, background: Tensor, backend: str, mode: str) -> bool:
        """Ask for the image of `face` seen by `orbit` on `background`, drawn by `backend` in `mode` (see
        RenderRequest), unless that was the last one asked for. Whether it asked."""
        settings = (orbit.yaw, orbit.pitch, orbit.distance, orbit.pan, orbit.focal_scale, orbit.width, orbit.height,
                    tuple(background.tolist()), backend, mode)
        state = (face.key, *settings)
        if state == self._requested_state:  # an unchanged view is not rendered again
            return False
        self._requested_state = state
        settled = (face.settled, *settings)  # without the tracked frame
        if settled != self._settled_state:
            self._settled_state, self._settled, self.settled_since = settled, self.requested + 1, None
        self.requested += 1
        self.renderer.request(RenderRequest(self.requested, face.params, orbit.camera(), background, backend, mode,
                                            face.new_capture))
        return True

    def upload(self, show: Callable, frames_drawn: int) -> None:
        """The newest finished image, if new, to `show` (the window's texture), in window frame `frames_drawn`."""
        frame = self.renderer.latest
        if frame is None or frame.number == self.uploaded:
            return
        show(frame.image)
        self.uploaded = frame.number
        if self.settled_since is None and frame.number >= self._settled:
            self.settled_since = frames_drawn
        if frame.captured_at is not None:
            if self.live_since is None:
                self.live_since = frames_drawn
            milliseconds = (time.perf_counter() - frame.captured_at) * 1000
            self.latency_ms = 0.8 * self.latency_ms + 0.2 * milliseconds if self.latency_ms else milliseconds
        if self._untimed:  # it also loaded the rasterizer: not a measure of speed
            self._untimed = False
            return
        milliseconds = frame.seconds * 1000
        self.render_ms = 0.8 * self.render_ms + 0.2 * milliseconds if self.render_ms else milliseconds

    def readout(self, backend: str) -> str | None:
        """The render rate, once a render was timed."""
        if not self.render_ms:
            return None
        return f"render ({backend}): {1000 / self.render_ms:.1f} fps ({self.render_ms:.0f} ms)"

    def again(self) -> None:
        """Ask for the same image again (a screenshot's second render, timed without the first one's loading)."""
        self._requested_state = self._settled_state = None

    def retime(self) -> None:
        """The next render loads another rasterizer: not a measure of speed."""
        self.render_ms, self._untimed = 0.0, True
