"""Playing an avatar's timeline (e.g. its training dataset's tracked frames) by the clock."""
from __future__ import annotations

PLAYBACK_FPS = 25.0  # dataset frames per second while playing


def frame_at(start_frame: int, start_time: float, now: float, count: int, fps: float = PLAYBACK_FPS) -> int:
    """The frame playing at `now` when playback started at `start_frame` at `start_time` (seconds).

    By the clock, not one frame per render: when rendering is slower than `fps`, frames are skipped and the
    timeline still plays at its own speed. It loops.
    """
    return (start_frame + int((now - start_time) * fps)) % count


class Playback:
    """The current frame of a timeline of `count` frames, and whether (and since when) it plays."""

    def __init__(self, count: int, fps: float = PLAYBACK_FPS):
        self.count, self.fps = count, fps
        self.frame = 0
        self._started: tuple[int, float] | None = None  # (frame, time) when play was pressed; None: paused

    @property
    def playing(self) -> bool:
        return self._started is not None

    def play(self, now: float) -> None:
        self._started = (self.frame, now)

    def pause(self) -> None:
        self._started = None

    def toggle(self, now: float) -> None:
        if self.playing:
            self.pause()
        else:
            self.play(now)

    def seek(self, frame: int) -> None:
        """Pause at `frame` (wrapping around either end)."""
        self.pause()
        self.frame = frame % self.count

    def advance(self, now: float) -> int:
        """The frame to show at `now`."""
        if self._started is not None:
            self.frame = frame_at(*self._started, now, self.count, self.fps)
        return self.frame
