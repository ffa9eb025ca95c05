"""The picture left of the avatar: the camera's frame with the tracked landmarks, the video's frame, or a card
saying why there is none; and the status line under it. Redrawn only when what it shows changed."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tracking.live import LiveDriver, LiveState
from viewer.runs import overlay

if TYPE_CHECKING:
    from viewer.video_timeline import VideoTimeline

FEED_SIZE = (320, 240)  # the feed's texture, letterboxed
NO_CAMERA = "no camera - sliders only"
CARDS = {"starting": "starting the camera...", "no signal": "no signal", "no camera": NO_CAMERA,
         "no source": NO_CAMERA, "ended": "the video ended", "error": "tracking stopped", "stopped": "stopped"}


class Feed:
    """`pixels` is what the feed's texture reads: (H, W, 3) float RGB."""

    def __init__(self):
        self.pixels = np.zeros((FEED_SIZE[1], FEED_SIZE[0], 3), np.float32)
        self.shown: tuple | None = None  # what it shows: (status, state number), ("video", frame, ...), ...
        self.frame: int | None = None  # with a video: the frame shown, and its image
        self.video_image: np.ndarray | None = None

    def show_live(self, driver: LiveDriver | None, state: LiveState | None) -> str | None:
        """The live driver's newest frame (`state`) with its landmarks, or the card for its status; the status
        line (None: no live source, the line stays)."""
        if driver is None:
            self._show(("off",), lambda: overlay.status_card(*FEED_SIZE, NO_CAMERA))
            return None
        status = driver.status
        if status == "live" and state is not None:
            self._show(("live", state.number), lambda: overlay.fit_into(overlay.draw_landmarks(
                state.image, state.tracked.landmarks, face_found=state.tracked.face_found), *FEED_SIZE))
        else:
            self._show((status,), lambda: overlay.status_card(*FEED_SIZE, CARDS.get(status, status)))
        problem = None if status in ("starting", "live") else driver.problem  # the same status as the picture
        return problem or f"{Path(driver.name).name}: {status}"

    def show_video(self, video: VideoTimeline, index: int) -> str:
        """The video's frame `index` once decoded (until then the last one stays), with its landmarks if asked
        for; the status line."""
        image = video.frames.get(index)
        if image is not None:
            self.frame, self.video_image = index, image
            landmarks = video.frames.landmarks.get(index) if video.show_landmarks else None
            face_found = bool(video.face_found[index])
            self._show(("video", index, video.show_landmarks, landmarks is None), lambda: overlay.fit_into(
                overlay.draw_landmarks(image, landmarks, face_found=face_found) if video.show_landmarks else image,
                *FEED_SIZE))
        status = f"{video.job.video.name}: {len(video.drive)} frames at {video.fps:.4g} fps"
        status += "" if video.face_found[index] else f"; no face in frame {index}"
        return video.frames.problem or status

    def _show(self, key: tuple, picture: Callable[[], np.ndarray]) -> None:
        if key != self.shown:
            self.shown = key
            np.multiply(picture(), np.float32(1 / 255), out=self.pixels, casting="unsafe")
