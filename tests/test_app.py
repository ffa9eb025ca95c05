"""The window, drawn for real under Xvfb (each run in its own process: dearpygui aborts a process it fails in)."""
import json
import math
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from avatar import load_avatar
from viewer.app import IMAGE_LEFT
from viewer.file_actions import RECORD_FPS
from viewer.panel import FEED_SIZE, PADDING, PANEL_WIDTH
from viewer.window import DRAWN_AFTER

ROOT = Path(__file__).resolve().parent.parent
FACES = ROOT.parent / "shared" / "fixtures" / "faces"


SUBPROCESS_SECONDS = 300  # a window's whole run, at most
LIVE_SECONDS = 60  # a live source drives the window within this, well inside it (the fit compiled before, in conftest)


def run(args: list[str], env: dict) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=SUBPROCESS_SECONDS,
                            env=env, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return result


def rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).astype(int)


def skin(pixels: np.ndarray) -> np.ndarray:
    """Where pixels look like the demo's skin: warm, red over green over blue, neither white nor dark."""
    r, g, b = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    return (r > 140) & (r < 250) & (r - g > 15) & (g - b > 10)


def test_screenshot_shows_the_avatar_beside_the_controls(display, tmp_path):
    shot = tmp_path / "shot.png"
    run([str(ROOT / "launch.py"), "--screenshot", str(shot), "--size", "256"], display)
    pixels = rgb(shot)
    assert pixels.shape == (256, IMAGE_LEFT + 256 + PANEL_WIDTH, 3)  # the live column, image area and panel
    image, panel = pixels[:, IMAGE_LEFT:IMAGE_LEFT + 256], pixels[:, IMAGE_LEFT + 256:]
    assert skin(image[96:160, 96:160]).mean() > 0.5  # the face fills the middle of the image area
    assert (image[:8, :8] == 255).all()  # on the default white background
    assert panel.mean() < 100 and panel.std() > 10  # the dark control panel, with text on it
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 500  # not a blank or flat window


DRIVE = textwrap.dedent("""
    import json, math, sys
    from pathlib import Path
    import dearpygui.dearpygui as dpg
    from avatar import load_avatar
    from viewer.app import IMAGE_LEFT, PANEL_WIDTH, ViewerApp

    out = Path(sys.argv[1])
    app = ViewerApp(load_avatar(), 192, 192, (255, 255, 255), "auto")
    app.open()
    result = {}
    assert app.wait_until_drawn()
    app.save_screenshot(out / "neutral.png")
    app.set_control("jaw", 25.0)
    assert app.wait_until_drawn()
    app.save_screenshot(out / "jaw.png")
    result["jaw_slider"] = dpg.get_value("pose/jaw")
    app.reset_face()
    app.orbit.rotate(math.pi, 0.0)  # what a drag does: the back of the head
    assert app.wait_until_drawn()
    app.save_screenshot(out / "back.png")
    dpg.set_viewport_width(IMAGE_LEFT + PANEL_WIDTH + 160)
    dpg.set_viewport_height(120)
    for _ in range(400):
        app.wait_until_drawn()
        if app.image().shape[:2] == (120, 160):
            break
    result["resized"] = list(app.image().shape)
    app.close()
    print(json.dumps(result))
""")


def test_controls_and_camera_change_what_the_window_draws(display, tmp_path):
    result = json.loads(run(["-c", DRIVE, str(tmp_path)], display).stdout.strip().splitlines()[-1])
    neutral, jaw, back = (rgb(tmp_path / f"{name}.png")[:192, IMAGE_LEFT:IMAGE_LEFT + 192]
                          for name in ("neutral", "jaw", "back"))
    assert result["jaw_slider"] == 25.0

    def dark(pixels):  # the open mouth is the only dark thing on the face
        return (pixels.sum(axis=-1) < 150).sum()

    mouth = (slice(100, 130), slice(70, 122))
    assert dark(jaw[mouth]) > dark(neutral[mouth]) + 40
    assert np.abs(jaw - neutral)[:90].mean() < 2  # the jaw moved, not the forehead
    assert skin(neutral[70:120, 70:122]).mean() > 0.5
    assert skin(back[70:120, 70:122]).mean() < 0.1  # from behind: hair, no face
    assert result["resized"] == [120, 160, 3]  # the render follows the window's size


TIMELINE = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    import dearpygui.dearpygui as dpg
    import numpy as np
    import torch
    from avatar.demo import DEMO_AVATAR_PATH
    from avatar.rigged import load_rigged_avatar
    from models.params import FlameSequence
    from viewer.app import ViewerApp

    out = Path(sys.argv[1])
    avatar = load_rigged_avatar(DEMO_AVATAR_PATH)
    frames = 50
    expression, pose = torch.zeros(frames, 9), torch.zeros(frames, 5, 3)
    pose[1, 2, 0] = 0.4  # frame 1: the jaw open
    expression[2, 0] = 1.0  # frame 2: a smile
    expression[3:, 3] = torch.linspace(0, 1, frames - 3)  # then a slow blink
    names = tuple(f"f{i:03d}.png" for i in range(frames))
    avatar.timeline = FlameSequence(expression, pose, torch.zeros(frames, 3), names)
    app = ViewerApp(avatar, 128, 128, (255, 255, 255), "auto")
    app.open()
    result = {}
    images = {}

    def drawn(name):
        assert app.wait_until_drawn()
        images[name] = app.image()

    drawn("start")
    app.show_frame(1)
    drawn("frame1")
    result["frame1"] = [dpg.get_value("timeline/frame"), dpg.get_value("timeline/name"), dpg.get_value("pose/jaw")]
    dpg.get_item_callback("timeline/frame")("timeline/frame", 2)  # what dragging the frame slider to 2 does
    drawn("frame2")
    result["frame2_smile"] = dpg.get_value("expression/0")

    pressed = [time.perf_counter()]
    app.toggle_play()
    pressed.append(time.perf_counter())
    while time.perf_counter() - pressed[0] < 0.6:
        last_step = [time.perf_counter()]
        app.step()
        last_step.append(time.perf_counter())
    # Play was pressed at some time within `pressed`, and the last step showed the frame of a time within its own.
    result["played"] = [app.playback.playing, app.playback.frame, last_step[0] - pressed[1], last_step[1] - pressed[0],
                        dpg.get_value("timeline/frame"), dpg.get_value("expression/3"),
                        float(expression[app.playback.frame, 3]), dpg.get_item_label("timeline/play")]
    app.set_control("frown left", 0.5)  # editing a slider pauses
    app.step()
    result["after_edit"] = [app.playback.playing, dpg.get_item_label("timeline/play")]

    app.set_filter("BLINK")
    result["shown"] = app.shown_sliders()
    app.set_filter("")
    result["shown_unfiltered"] = len(app.shown_sliders())

    app.reset_face()
    drawn("reset")
    app.set_control("jaw", 25.0)
    drawn("jaw")
    reset = "reset/pose/jaw"  # the "0" button beside the jaw slider
    dpg.get_item_callback(reset)(reset, None, dpg.get_item_user_data(reset))
    result["jaw_after_reset"] = dpg.get_value("pose/jaw")
    drawn("jaw_reset")
    app.close()
    np.savez(out / "images.npz", **images)
    print(json.dumps(result))
""")


def test_the_timeline_drives_the_sliders_and_the_image(display, tmp_path):
    result = json.loads(run(["-c", TIMELINE, str(tmp_path)], display).stdout.strip().splitlines()[-1])
    images = np.load(tmp_path / "images.npz")

    def changed(a, b):  # the share of pixels that differ visibly
        return (np.abs(images[a] - images[b]).max(axis=-1) > 0.1).mean()

    assert result["frame1"] == [1, "f001.png", pytest.approx(22.92, abs=0.01)]  # 0.4 rad of jaw, in degrees
    assert changed("frame1", "start") > 0.01  # the open jaw
    assert result["frame2_smile"] == 1.0
    assert changed("frame2", "frame1") > 0.01

    playing, frame, least, most, slider, blink, timeline_blink, label = result["played"]
    assert playing and label == "pause"
    assert 2 + int(25 * least) <= frame <= 2 + int(25 * most)  # 25 frames a second from frame 2, by the clock
    assert slider == frame and blink == pytest.approx(timeline_blink)  # the sliders show the playing frame
    assert result["after_edit"] == [False, "play"]

    assert result["shown"] == ["blink left", "blink right"]
    assert result["shown_unfiltered"] == 32 + 7  # the demo's expressions and the pose controls

    assert changed("reset", "start") == 0  # reset face: the neutral face again
    assert changed("jaw", "reset") > 0.01
    assert result["jaw_after_reset"] == 0.0 and changed("jaw_reset", "reset") == 0


MANY_EXPRESSIONS = textwrap.dedent("""
    import dataclasses, json
    import dearpygui.dearpygui as dpg
    import torch
    from avatar.demo import DEMO_AVATAR_PATH
    from avatar.rigged import load_rigged_avatar
    from models.params import FlameSequence
    from viewer.app import ViewerApp

    demo = load_rigged_avatar(DEMO_AVATAR_PATH)  # the demo's Gaussians on a head with 50 (null) expressions
    head = dataclasses.replace(demo.head, exprdirs=torch.zeros(*demo.head.exprdirs.shape[:2], 50), expression_names=())
    avatar = dataclasses.replace(demo, head=head)
    avatar.expression_range = (-3.0, 3.0)
    torch.manual_seed(0)
    timeline = FlameSequence(torch.randn(300, 50), torch.zeros(300, 5, 3), torch.zeros(300, 3), ("a",) * 300)
    avatar.timeline = timeline
    app = ViewerApp(avatar, 64, 480, (255, 255, 255), "auto")
    app.open()
    app.show_frame(7)
    assert app.wait_until_drawn()
    app.set_filter("expression 4")
    app.step()
    result = {
        "sliders": len(app.labels),
        "last": dpg.get_item_label("expression/49"),
        "range": [dpg.get_item_configuration("expression/0")[key] for key in ("min_value", "max_value")],
        "frame_shown": [dpg.get_value(f"expression/{k}") for k in range(50)] == timeline.expression[7].tolist(),
        "scrolls": [dpg.get_y_scroll_max("sliders"), dpg.get_y_scroll_max("panel")],
        "filtered": app.shown_sliders(),
    }
    app.close()
    print(json.dumps(result))
""")


def test_fifty_expressions_fit_in_a_scrolling_list(display):
    result = json.loads(run(["-c", MANY_EXPRESSIONS], display).stdout.strip().splitlines()[-1])
    assert result["sliders"] == 50 and result["last"] == "expression 49"
    assert result["range"] == [-3.0, 3.0]  # the avatar's expression_range
    assert result["frame_shown"]
    sliders, panel = result["scrolls"]
    assert sliders > 0 and panel == 0  # the list scrolls; the readout, buttons and timeline above it stay
    assert result["filtered"] == ["expression 4", *(f"expression {k}" for k in range(40, 50))]


KEYS = textwrap.dedent("""
    import json, subprocess, sys
    from pathlib import Path
    import dearpygui.dearpygui as dpg
    import torch
    from avatar.demo import DEMO_AVATAR_PATH
    from avatar.rigged import load_rigged_avatar
    from models.params import FlameSequence
    from viewer.app import ViewerApp

    avatar = load_rigged_avatar(DEMO_AVATAR_PATH)
    avatar.timeline = FlameSequence(torch.zeros(10, 9), torch.zeros(10, 5, 3), torch.zeros(10, 3), ("a",) * 10)
    out = Path(sys.argv[1])
    app = ViewerApp(avatar, 64, 64, (255, 255, 255), "auto", record_dir=out)
    app.open()
    result = {}

    def files():
        return sorted(path.suffix for path in out.glob("livehead_*"))

    def press(*keys):
        subprocess.run(["xdotool", "search", "--name", "livehead", "windowfocus", "--sync"], check=True)
        subprocess.run(["xdotool", "key", "--delay", "50", *keys], check=True)
        for _ in range(10):
            app.step()

    press("Right", "Right", "Right", "Left")
    result["frame"] = app.playback.frame
    press("space")
    result["playing"] = app.playback.playing
    press("space")
    press("p")  # a screenshot
    press("v")  # record...
    result["recording"] = app.files.recorder is not None
    press("v")  # ...and stop
    result["files"] = files()
    dpg.focus_item("filter")
    for _ in range(5):  # a few frames for the box to take the keyboard
        app.step()
    press("q", "r", "space", "v", "p")  # typed into the filter box: text, not commands
    result["typed"] = [dpg.get_value("filter"), app.playback.playing, app.step(), app.files.recorder is None, files()]
    press("Escape", "Escape")  # the first leaves the filter box, the second quits
    result["quit"] = not app.step()
    app.close()
    print(json.dumps(result))
""")


def test_keys_step_play_record_and_quit_but_not_while_typing(display, tmp_path):
    if shutil.which("xdotool") is None:
        pytest.skip("xdotool is not installed (apt-get install xdotool)")
    result = json.loads(run(["-c", KEYS, str(tmp_path)], display).stdout.strip().splitlines()[-1])
    assert result == {"frame": 2, "playing": True, "recording": True, "files": [".mp4", ".png"],
                      "typed": ["qr vp", False, True, True, [".mp4", ".png"]], "quit": True}


LIVE = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    import dearpygui.dearpygui as dpg
    import numpy as np
    from avatar import load_avatar
    from viewer.app import ViewerApp

    out, video, LIVE_SECONDS = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])
    app = ViewerApp(load_avatar(), 160, 160, (255, 255, 255), "auto", webcam=video, record_dir=out)
    app.open()
    waited = time.perf_counter()
    if not app.wait_until_live(LIVE_SECONDS):  # the fit compiled before the tests (conftest.py): a few seconds
        sys.exit(f"not live after {time.perf_counter() - waited:.0f} s: status {app.driver.status!r}, "
                 f"problem {app.driver.problem!r}, {app.shown.uploaded} images shown, tracked frame "
                 f"{getattr(app.driver.latest(), 'number', None)}")
    mouth = {}  # render request number -> the tracked frame's mouth width and the smile it asked for
    smiles = [app.avatar.head.expression_names.index(name) for name in ("smile_left", "smile_right")]
    indices = []  # the video frame each render request shows
    request = app.shown.renderer.request

    def spy(asked):  # what the app asks the renderer for, beside what the camera showed
        state = app.drive.live
        if asked.captured_at is not None and state.tracked.landmarks is not None:
            points = state.tracked.landmarks[:, :2]
            eyes = np.linalg.norm(points[33] - points[263])  # outer eye corners
            width = np.linalg.norm(points[61] - points[291]) / eyes  # mouth corners
            mouth[asked.number] = (float(width), float(asked.params.expression[smiles].sum()), state.tracked.time)
            indices.append(state.tracked.index)
        request(asked)

    app.shown.renderer.request = spy
    images = {}  # mouth width -> the avatar image that answered
    statuses, feeds = set(), []

    def step():
        shown = app.shown.uploaded
        app.step()
        statuses.add(dpg.get_value("live/status"))
        if app.shown.uploaded != shown and app.shown.uploaded in mouth:
            images[mouth[app.shown.uploaded][0]] = app.image()

    def looped():  # the whole video, its neutral start and its smile, drove the avatar
        return sum(b < a for a, b in zip(indices, indices[1:])) >= 1 and len(mouth) > 30 and len(images) >= 10

    deadline = time.perf_counter() + LIVE_SECONDS
    while not looped():
        if time.perf_counter() > deadline:
            sys.exit(f"the video did not loop in {LIVE_SECONDS} s: {len(mouth)} frames, {len(images)} shown")
        step()
    feeds.append(app.feed.pixels.copy())
    recording = [time.perf_counter()]  # the recording's first frame comes in the first step after this
    app.start_recording(out / "side.mp4", layout="side")
    step()
    recording.append(time.perf_counter())
    while time.perf_counter() - recording[0] < 2.5:
        step()
    recording.append(time.perf_counter())  # its last frame holds until the recording stops, in between
    app.stop_recording()
    recording.append(time.perf_counter())
    result = {"mouth": list(mouth.values()), "latency": app.shown.latency_ms, "status": sorted(statuses),
              "readout": dpg.get_value("live/readout"), "sliders_follow": dpg.get_value("expression/0")
              == app.drive.live.tracked.params.expression[0].item(), "recording": recording}
    app.close()
    widths = sorted(images)
    np.savez(out / "live.npz", narrow=np.stack([images[w] for w in widths[:5]]),
             wide=np.stack([images[w] for w in widths[-5:]]), feed=feeds[0])
    print(json.dumps(result))
""")


def test_a_face_video_drives_the_avatar(display, tmp_path):
    video = FACES / "pyfeat_single_face.mp4"  # neutral, then a broad smile; looped by the live driver
    if not video.exists():
        pytest.skip("../shared/fixtures/faces is absent")
    result = json.loads(run(["-c", LIVE, str(tmp_path), str(video), str(LIVE_SECONDS)],
                            display).stdout.strip().splitlines()[-1])
    width, smile, _ = np.array(result["mouth"]).T
    assert len(width) > 30  # the tracked frames came through to the renderer
    assert width.min() < 0.55 and width.max() > 0.7  # the video's neutral mouth and its smile
    assert np.corrcoef(width, smile)[0, 1] > 0.5  # the avatar's smile follows the mouth's width
    assert smile[width > 0.7].mean() > smile[width < 0.55].mean() + 0.2
    images = np.load(tmp_path / "live.npz")
    mouth = (slice(95, 125), slice(55, 105))
    difference = np.abs(images["wide"].mean(axis=0) - images["narrow"].mean(axis=0))[mouth]
    assert difference.mean() > 0.02  # the avatar's mouth changed with the video's
    assert 0 < result["latency"] < 1000  # capture to screen, smoothed
    assert any("live" in status for status in result["status"])
    assert "tracker:" in result["readout"] and "latency" in result["readout"]
    assert result["sliders_follow"]  # the sliders show the tracked coefficients
    feed = images["feed"]
    assert feed.shape == (240, 320, 3) and (np.abs(feed[:, :, 1] - feed[:, :, 0]) > 0.3).sum() > 50  # landmarks
    stream_size, frames = video_frames(tmp_path / "side.mp4")
    assert stream_size[0] > stream_size[1] and stream_size[1] == 160  # the camera beside the avatar
    assert_recorded_frames(frames, *result["recording"])  # about 2.5 s at 30 fps


def test_a_webcam_screenshot_waits_for_the_camera_to_drive_the_avatar(display, tmp_path):
    video = FACES / "pyfeat_single_face.mp4"
    if not video.exists():
        pytest.skip("../shared/fixtures/faces is absent")
    still, driven = tmp_path / "still.png", tmp_path / "driven.png"
    run([str(ROOT / "launch.py"), "--screenshot", str(still), "--size", "256"], display)
    run([str(ROOT / "launch.py"), "--webcam", str(video), "--screenshot", str(driven), "--size", "256"], display)
    shot = rgb(driven)
    feed = shot[PADDING:PADDING + FEED_SIZE[1], PADDING:PADDING + FEED_SIZE[0]]
    assert ((feed[..., 1] - feed[..., 0] > 80) & (feed[..., 1] - feed[..., 2] > 80)).sum() > 50  # landmark dots
    image, demo = shot[:, IMAGE_LEFT:IMAGE_LEFT + 256], rgb(still)[:, IMAGE_LEFT:IMAGE_LEFT + 256]
    assert skin(image[96:160, 96:160]).mean() > 0.5  # the avatar's face
    assert np.abs(image - demo).mean() > 5  # posed by the tracked face, not the demo's rest pose


NO_SIGNAL_SHOT = textwrap.dedent("""
    import sys, time
    import launch, viewer.app
    from tracking import sources

    class SilentCamera:  # opens, then never delivers a frame (a camera another program holds, a dead driver)
        def read(self):
            time.sleep(0.05)
            return False, None
        def get(self, prop):
            return 0
        def release(self):
            pass

    sources._open_camera = lambda index: SilentCamera()
    viewer.app.LIVE_SECONDS = 3.0
    sys.exit(launch.main(["--webcam", "0", "--screenshot", sys.argv[1], "--size", "64"]))
""")


def test_a_webcam_screenshot_without_a_signal_fails_in_one_line(display, tmp_path):
    shot = tmp_path / "shot.png"
    result = subprocess.run([sys.executable, "-c", NO_SIGNAL_SHOT, str(shot)], capture_output=True, text=True,
                            timeout=SUBPROCESS_SECONDS, env=display, cwd=ROOT)
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().splitlines()[-1] == ("livehead: no screenshot: the live source did not drive the "
                                                      "avatar within 3 s (camera 0: no signal, trying again every "
                                                      "second)"), result.stderr
    assert not shot.exists()


EVERY_WINDOW_FRAME = textwrap.dedent("""
    import json, sys, time
    import numpy as np
    from avatar import load_avatar
    from viewer.app import ViewerApp
    from viewer.render_thread import Frame

    class EveryWindowFrame:
        '''A renderer with a new camera-driven image at every window frame (a GPU keeping up with a camera as fast
        as the window), for the first `frames` window frames; then its last image stays.'''
        error = None

        def __init__(self, shape, frames):
            self.image, self.frames, self.number = np.ones(shape, np.float32), frames, 0

        def request(self, request):
            pass

        def stop(self):
            pass

        @property
        def latest(self):  # read once a window frame
            self.number = min(self.number + 1, self.frames)
            return Frame(self.number, self.image, 0.001, time.perf_counter())

    app = ViewerApp(load_avatar(), 64, 64, (255, 255, 255), "auto", webcam=sys.argv[1])
    app.open()
    app.shown.renderer.stop()
    app.shown.renderer = EveryWindowFrame(app._pixels.shape, int(sys.argv[2]))
    steps, step = [], app.step
    app.step = lambda: steps.append(app.driver.status) or step()
    result = {"drawn": app.wait_until_drawn(), "drawn_steps": len(steps)}
    steps.clear()
    result["live"] = app.wait_until_live(60.0)
    result["live_steps"], result["statuses"] = len(steps), sorted(set(steps))
    app.close()
    print(json.dumps(result))
""")


def test_waits_end_while_a_new_image_comes_every_window_frame(display, tmp_path):
    """An image on screen for DRAWN_AFTER window frames counts as drawn, and a live one as live, even while newer
    ones replace it at every window frame: the waits end then, not only once the images stop coming."""
    Image.fromarray(np.full((48, 64, 3), 128, np.uint8)).save(tmp_path / "frame.png")  # a camera: looped frames
    stream = 300  # window frames with a new image: a wait that ends only when they stop takes as many steps
    result = json.loads(run(["-c", EVERY_WINDOW_FRAME, str(tmp_path), str(stream)], display).stdout.splitlines()[-1])
    assert result["drawn"] and result["drawn_steps"] <= DRAWN_AFTER + 1, result
    assert result["live"] and result["live_steps"] <= DRAWN_AFTER + 1, result
    assert set(result["statuses"]) <= {"starting", "live"}  # it waited on the camera: a live source was there


def assert_recorded_frames(frames: int, asked: float, first_step: float, stopping: float, stopped: float):
    """A recording at RECORD_FPS lasts from its first frame, added in the first window step after it
    was `asked` for (ended at `first_step`), until stop_recording(), called between `stopping` and `stopped`."""
    shortest, longest = stopping - first_step, stopped - asked
    assert RECORD_FPS * shortest - 1 <= frames <= RECORD_FPS * longest + 1, (frames, shortest, longest)


def video_frames(path: Path) -> tuple[tuple[int, int], int]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        return (stream.width, stream.height), sum(1 for _ in container.decode(stream))


UNPLUG = textwrap.dedent("""
    import json, threading, time
    import dearpygui.dearpygui as dpg
    import numpy as np
    from avatar import load_avatar
    from tracking.sources import CameraSource
    from tracking.tracker import TrackerSettings
    from viewer.app import ViewerApp
    from tracking.live import LiveDriver

    plugged = threading.Event()
    plugged.set()
    picture = np.full((120, 160, 3), 90, np.uint8)

    def grab():  # a webcam that fails its reads while unplugged, as cv2's do
        time.sleep(0.03)
        return (True, picture) if plugged.is_set() else (False, None)

    avatar = load_avatar()
    source = CameraSource(grab=grab, retry_interval=0.2)
    app = ViewerApp(avatar, 64, 64, (255, 255, 255), "auto", webcam=LiveDriver(source, avatar.head,
                                                                              TrackerSettings(shape_frames=0)))
    app.open()

    def wait_for(condition, seconds):  # generous: a slower machine only makes the condition come later
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            app.step()
            if condition():
                return True
        return False

    def status():
        return dpg.get_value("live/status")

    result = {"live": wait_for(lambda: status() == "camera 0: live", 60)}
    app.step()
    result["live_feed"] = float(app.feed.pixels.mean())  # the camera's grey picture
    plugged.clear()
    result["unplugged"] = wait_for(lambda: "no signal" in status(), 30)
    result["unplugged_status"] = status()
    result["feed"] = float(app.feed.pixels.mean())  # the card: dark, with its text
    number = app.drive.live.number
    plugged.set()
    result["back"] = wait_for(lambda: status() == "camera 0: live" and app.drive.live.number > number + 3, 30)
    app.set_live(not app.drive.live_on)  # L: the sliders alone, the camera still shown
    result["manual"] = [app.drive.live_on, dpg.get_value("live/on"),
                        wait_for(lambda: app.drive.live.number > number + 6, 30)]
    result["running"] = app.step()
    app.close()
    print(json.dumps(result))
""")


def test_an_unplugged_camera_says_no_signal_and_comes_back(display):
    result = json.loads(run(["-c", UNPLUG], display).stdout.strip().splitlines()[-1])
    assert result["live"] and result["unplugged"] and result["back"] and result["running"]
    assert result["manual"] == [False, False, True]
    assert result["unplugged_status"] == "camera 0: no signal, trying again every second"
    assert result["live_feed"] == pytest.approx(90 / 255, abs=0.01) and result["feed"] < 0.25


FILES = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    import dearpygui.dearpygui as dpg
    import numpy as np
    from avatar import load_avatar
    from models.params import FlameParams
    from viewer.app import ViewerApp
    from avatar.splatting.ply import load_3dgs_ply

    out = Path(sys.argv[1])
    avatar = load_avatar()
    app = ViewerApp(avatar, 160, 160, (255, 255, 255), "auto", record_dir=out)
    app.open()
    result = {"status": dpg.get_value("live/status")}
    assert app.wait_until_drawn()
    app.save_image()  # the image, named by the time, in record_dir
    recording = [time.perf_counter()]
    app.start_recording(out / "two.mp4")
    start = time.perf_counter()
    while time.perf_counter() - start < 2.0:
        app.set_control("jaw", 25.0 * (time.perf_counter() - start) / 2)
        app.step()
        if len(recording) == 1:
            recording.append(time.perf_counter())
    recording.append(time.perf_counter())
    result["recorded"] = app.stop_recording()
    result["recording"] = recording + [time.perf_counter()]

    app.reset_face()
    app.set_control("brow inner up left", 0.75)  # expression 0, its label
    app.set_control("head_turn", -20.0)
    app.save_preset(out / "preset.json")
    app.reset_face()
    result["reset"] = [dpg.get_value("expression/0"), dpg.get_value("pose/head_turn")]
    result["loaded"] = app.load_preset(out / "preset.json")
    result["preset"] = [dpg.get_value("expression/0"), dpg.get_value("pose/head_turn"), dpg.get_value("pose/jaw")]
    assert app.wait_until_drawn()
    result["ply"] = app.export_ply(out / "face.ply")
    result["ply_count"] = [len(load_3dgs_ply(out / "face.ply")), len(avatar.gaussians(app.params))]
    app.reset_face()

    images = {}
    for name, change in [("rgb", lambda: None), ("depth", lambda: app.set_render_mode("depth")),
                         ("alpha", lambda: app.set_render_mode("alpha")), ("blue", lambda: (
                          app.set_render_mode("RGB"), app.set_background((0, 0, 255)))),
                         ("narrow", lambda: app.set_field_of_view(app.orbit.field_of_view() / 2)),
                         ("reset", app.reset_view)]:
        change()
        assert app.wait_until_drawn()
        images[name] = app.image()
    result["fov"] = dpg.get_value("view/fov")
    app.file_action(app.load_preset, out / "missing.json")
    result["message"] = dpg.get_value("files/message")
    app.start_recording(out / "closed.mp4")  # the window closes while recording
    for _ in range(10):
        app.step()
    app.close()
    np.savez(out / "images.npz", **images)
    print(json.dumps(result))
""")


def test_record_screenshot_presets_export_and_render_settings(display, tmp_path):
    result = json.loads(run(["-c", FILES, str(tmp_path)], display).stdout.strip().splitlines()[-1])
    assert "--webcam" in result["status"]  # without a camera: the sliders alone, and it says so

    size, frames = video_frames(tmp_path / "two.mp4")
    assert size == (160, 160)
    assert_recorded_frames(frames, *result["recording"])  # about 2 s at 30 fps
    assert result["recorded"].startswith(f"wrote {tmp_path / 'two.mp4'}")
    size, frames = video_frames(tmp_path / "closed.mp4")  # finished by close()
    assert size == (160, 160) and frames > 0

    shots = list(tmp_path.glob("livehead_*.png"))
    assert len(shots) == 1
    shot = rgb(shots[0])
    assert shot.shape == (160, 160, 3)  # the avatar's image, not the window
    assert skin(shot[60:100, 60:100]).mean() > 0.5 and (shot[:4, :4] == 255).all()

    assert result["reset"] == [0.0, 0.0]
    assert result["loaded"] == f"loaded {tmp_path / 'preset.json'}"
    assert result["preset"] == [pytest.approx(0.75), pytest.approx(-20.0), 0.0]
    preset = json.loads((tmp_path / "preset.json").read_text())
    assert preset["expression"]["brow_inner_up_left"] == pytest.approx(0.75)
    count, expected = result["ply_count"]
    assert count == expected > 1000 and f"({expected} Gaussians)" in result["ply"]

    images = np.load(tmp_path / "images.npz")
    depth, alpha = images["depth"], images["alpha"]
    assert (depth[:4, :4] == 0).all() and (alpha[:4, :4] == 0).all()  # black where nothing is
    assert np.allclose(depth[..., 0], depth[..., 1]) and depth[80, 80, 0] > 0.3  # grey, the face near
    assert depth[60:120, 40:120, 0].std() > 0.05  # depth varies over the face
    assert alpha[80, 80, 0] > 0.95
    assert images["blue"][2, 2].tolist() == pytest.approx([0, 0, 1], abs=0.01)
    width = lambda image: (np.abs(image[80] - [0, 0, 1]).max(axis=-1) > 0.1).sum()  # noqa: E731
    assert width(images["narrow"]) > 1.6 * width(images["blue"])  # half the field of view: the head twice as wide
    assert np.allclose(images["reset"], images["blue"])
    demo_camera = load_avatar().default_camera
    assert result["fov"] == pytest.approx(math.degrees(2 * math.atan(demo_camera.height / 2 / demo_camera.fy)),
                                          abs=0.05)  # the demo's own camera again
    assert "missing.json" in result["message"]  # a failed file action is a message, not a crash
