"""What drives the avatar's face in the window, without the window: the timeline (the avatar's own frames, or a
video's), the tracked face (live), or the sliders alone; and what the sliders' values apply to.

The window reads its sliders and hands their values in; where the sliders must change to show a face (a timeline
frame, the tracked face), a method returns the SliderValues to put into them, else None.

- The sliders show a face and edit it: a timeline frame, the tracked face (live, unless the sliders add to it), or
  the neutral face. `base` is that face, kept exactly where no slider moved (global rotation, translation).
- With a video, the video's frame drives the face and the sliders add to it (offsets), as they do to the tracked
  face with `offsets` on.
"""
from __future__ import annotations

from dataclasses import dataclass

from models.params import FlameParams, FlameSequence
from tracking.live import LiveState
from viewer.controls import POSE_CONTROLS, SliderValues, controls_from_params, params_from_controls, with_offsets
from viewer.timeline import Playback


@dataclass(frozen=True)
class Face:
    """The face the image should show, for the sliders' values."""

    key: tuple  # changes when the face does
    settled: tuple  # the same without the tracked frame: changes when more than the camera changed
    params: FlameParams
    new_capture: float | None  # a tracked frame new to the image: its capture time (its latency is measured)


class DriveState:
    """`timeline`: the avatar's frames (played at `fps`), or a video's driven frames with `video`; None: none.
    `live`: whether a live source drives the face to begin with."""

    def __init__(self, num_expressions: int, timeline: FlameSequence | None, fps: float, video: bool = False,
                 live: bool = False):
        self.num_expressions = num_expressions
        self.timeline = timeline
        self.playback = None if timeline is None else Playback(len(timeline), fps)
        self.video = video
        self.live_on = live  # the tracked face drives the avatar (else: the sliders alone)
        self.offsets = False  # while live: the sliders add to the tracked face (else: they show it)
        self.live: LiveState | None = None  # the newest tracked frame seen
        self.shown_frame: int | None = None  # the timeline frame last shown
        self.base: FlameParams | None = None  # what the sliders apply to; None: the neutral face
        self.base_key: tuple | None = None
        self._live_requested = 0  # the number of the tracked frame last handed out to be rendered

    # -- the timeline ----------------------------------------------------------------------------------------

    def show(self, index: int) -> SliderValues | None:
        """Timeline frame `index` becomes the base: the sliders show it to edit from there (with a video they
        stay offsets on it)."""
        self.base = self.timeline.frame(index)
        self.shown_frame, self.base_key = index, ("frame", index)
        return None if self.video else controls_from_params(self.base)

    def toggle_play(self, now: float) -> bool:
        """Play or pause; playing, the timeline drives the face (not the tracked one). Whether it plays."""
        self.playback.toggle(now)
        if self.playback.playing:
            self.live_on = False
        return self.playback.playing

    # -- the sliders -------------------------------------------------------------------------------------------

    def edited(self) -> None:
        """A slider moved: it changes the face from here on, so the timeline stops driving it (a video plays on:
        the sliders add to it)."""
        if self.playback is not None and not self.video:
            self.playback.pause()

    def sliders_alone(self) -> None:
        """The sliders' values now apply to the neutral face (with a video they stay offsets on its frame)."""
        if not self.video:
            self.base = self.base_key = None

    def reset(self) -> SliderValues:
        """Every slider to 0: the neutral face (or the tracked face or the video's alone, while they add to it)."""
        self.sliders_alone()
        self.edited()
        return SliderValues([0.0] * self.num_expressions, {control.name: 0.0 for control in POSE_CONTROLS})

    def loaded(self) -> None:
        """Values were put into the sliders from elsewhere (a preset): they drive the face from the neutral face.
        While the sliders show the tracked face, live driving stops (it would overwrite them); while they add to
        it, they go on adding."""
        if self.live_on and not self.offsets:
            self.live_on = False
        self.sliders_alone()
        self.edited()

    # -- the tracked face ------------------------------------------------------------------------------------

    def set_live(self, on: bool, available: bool) -> SliderValues | None:
        """The tracked face drives the avatar (on, where a live source is `available`), or the sliders alone (off:
        they keep the last tracked face)."""
        self.live_on = bool(on) and available
        if self.live_on and self.playback is not None:
            self.playback.pause()
        return self._mirror() if self.live_on and not self.offsets else None

    def set_offsets(self, on: bool) -> SliderValues | None:
        """While live: the sliders add to the tracked face (starting from 0), or show it."""
        self.offsets = bool(on)
        if self.offsets:
            return self.reset()
        return self._mirror() if self.live_on else None

    def tracked(self, state: LiveState | None) -> SliderValues | None:
        """The live driver's newest state: a new tracked frame drives the face while live."""
        if state is None or (self.live is not None and state.number == self.live.number):
            return None
        self.live = state
        if not self.live_on:
            return None
        if self.playback is not None:
            self.playback.pause()
        return None if self.offsets else self._mirror()

    def _mirror(self) -> SliderValues | None:
        """The tracked face into the sliders, which show it (and keep it, if live driving is turned off)."""
        if self.live is None:
            return None
        self.base, self.base_key = self.live.tracked.params, ("live", self.live.number)
        return controls_from_params(self.base)

    # -- what to render ----------------------------------------------------------------------------------------

    def face(self, sliders: SliderValues) -> Face:
        """The face for the sliders' values: the tracked face (with the sliders added, with `offsets`), a video's
        frame with the sliders added, or the sliders applied to the base."""
        expression, pose, eigen = sliders
        values = (*expression, *pose.values(), None if eigen is None else eigen.numpy().tobytes())
        live = self.live if self.live_on else None
        if live is not None:  # the sliders only show the tracked face, unless they add to it
            key = ("live", live.number, *(values if self.offsets else ()))
            driven = live.tracked.params
            params = with_offsets(driven, expression, pose, eigen) if self.offsets else driven
            new_capture = None
            if live.number != self._live_requested:
                self._live_requested, new_capture = live.number, live.tracked.time
            return Face(key, key[:1] + key[2:], params, new_capture)
        key = (*values, self.base_key)
        if self.video:
            params = with_offsets(self.base, expression, pose, eigen)
        else:
            params = params_from_controls(expression, pose, self.base, eigen)
        return Face(key, key, params, None)
