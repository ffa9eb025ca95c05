"""Which face drives the avatar in the window (viewer/drive.py), without a window: timeline frames, the tracked face,
the sliders on their own, and the sliders added to a tracked face or a video's frame."""
import numpy as np
import torch

from models.params import JAW, FlameParams, FlameSequence
from tracking.live import LiveState
from tracking.tracker import TrackedFrame
from viewer.controls import SliderValues, controls_from_params, with_offsets
from viewer.drive import DriveState

EXPRESSIONS = 6


def timeline(frames: int = 5) -> FlameSequence:
    generator = torch.Generator().manual_seed(0)
    return FlameSequence(torch.randn(frames, EXPRESSIONS, generator=generator),
                         0.2 * torch.randn(frames, 5, 3, generator=generator),
                         torch.randn(frames, 3, generator=generator), tuple(f"frame {i}" for i in range(frames)))


def tracked(number: int, smile: float = 0.5) -> LiveState:
    params = FlameParams.neutral(EXPRESSIONS)
    params.expression[0], params.pose[JAW, 0] = smile, 0.1 * number
    frame = TrackedFrame(number, 100.0 + number, True, params, params, None, None, 1.0)
    return LiveState(frame, np.zeros((4, 4, 3), np.uint8), 100.5 + number, number, 30.0, 5.0, True, 1.0, False,
                     True)


def moved(values: SliderValues, name: str, degrees: float) -> SliderValues:
    return SliderValues(values.expression, {**values.pose, name: degrees}, values.eigen)


def same(a: FlameParams, b: FlameParams) -> bool:
    return all(torch.equal(x, y) for x, y in ((a.expression, b.expression), (a.pose, b.pose),
                                              (a.translation, b.translation)))


def test_a_timeline_frame_is_shown_in_the_sliders_and_kept_exactly_where_no_slider_moved():
    frames = timeline()
    drive = DriveState(EXPRESSIONS, frames, 25.0)
    sliders = drive.show(3)
    assert sliders == controls_from_params(frames.frame(3)) and drive.shown_frame == 3
    face = drive.face(sliders)
    assert same(face.params, frames.frame(3))  # translation and global rotation too, which no slider shows
    turned = drive.face(moved(sliders, "jaw", sliders.pose["jaw"] + 10.0)).params
    assert turned.pose[JAW, 0] - frames.frame(3).pose[JAW, 0] == np.float32(np.radians(10.0))
    assert torch.equal(turned.translation, frames.frame(3).translation)


def test_editing_a_slider_stops_a_playing_timeline_but_not_a_playing_video():
    for video in (False, True):
        drive = DriveState(EXPRESSIONS, timeline(), 25.0, video=video)
        assert drive.toggle_play(now=0.0)
        drive.edited()
        assert drive.playback.playing == video


def test_the_tracked_face_drives_the_sliders_while_live_and_stays_when_live_is_turned_off():
    drive = DriveState(EXPRESSIONS, None, 25.0, live=True)
    first = drive.tracked(tracked(1))
    assert first == controls_from_params(tracked(1).tracked.params)
    face = drive.face(first)
    assert same(face.params, tracked(1).tracked.params) and face.new_capture == 101.0
    assert drive.face(first).new_capture is None  # its latency is measured once
    assert drive.tracked(tracked(1)) is None  # the same frame again: nothing new
    second = drive.tracked(tracked(2))
    assert drive.face(second).key != face.key

    assert drive.set_live(False, available=True) is None
    assert drive.tracked(tracked(3)) is None  # tracked on, but it no longer drives the face
    manual = drive.face(second)
    assert same(manual.params, tracked(2).tracked.params) and manual.new_capture is None
    assert drive.set_live(True, available=False) is None and not drive.live_on  # no live source: stays off


def test_with_offsets_the_sliders_add_to_the_tracked_face():
    drive = DriveState(EXPRESSIONS, None, 25.0, live=True)
    drive.tracked(tracked(1))
    zero = drive.set_offsets(True)
    assert zero == SliderValues([0.0] * EXPRESSIONS, {name: 0.0 for name in zero.pose})
    assert drive.tracked(tracked(2)) is None  # the sliders stay the offsets
    offsets = moved(zero, "jaw", 10.0)
    face = drive.face(offsets)
    assert same(face.params, with_offsets(tracked(2).tracked.params, *offsets))
    assert drive.face(moved(zero, "jaw", 5.0)).key != face.key  # the offsets are part of the face
    assert drive.set_offsets(False) == controls_from_params(tracked(2).tracked.params)


def test_live_driving_pauses_the_timeline_and_playing_it_turns_live_off():
    drive = DriveState(EXPRESSIONS, timeline(), 25.0, live=True)
    drive.tracked(tracked(1))
    assert drive.toggle_play(now=0.0) and not drive.live_on  # the timeline drives the face now
    assert drive.set_live(True, available=True) == controls_from_params(tracked(1).tracked.params)
    assert drive.live_on and not drive.playback.playing


def test_a_preset_loaded_over_the_tracked_face_stops_live_driving_unless_it_adds_to_it():
    drive = DriveState(EXPRESSIONS, None, 25.0, live=True)
    drive.tracked(tracked(1))
    drive.loaded()
    assert not drive.live_on and drive.base is None  # the preset applies to the neutral face
    drive = DriveState(EXPRESSIONS, None, 25.0, live=True)
    drive.tracked(tracked(1))
    drive.set_offsets(True)
    drive.loaded()
    assert drive.live_on


def test_a_videos_frame_is_the_base_and_the_sliders_add_to_it():
    frames = timeline()
    drive = DriveState(EXPRESSIONS, frames, 30.0, video=True)
    assert drive.show(2) is None  # the sliders stay offsets
    offsets = moved(drive.reset(), "head_turn", 20.0)
    assert same(drive.face(offsets).params, with_offsets(frames.frame(2), *offsets))
    assert drive.base is not None  # reset keeps the video's frame under the sliders
