"""The window, drawn for real under Xvfb (each run in its own process: dearpygui aborts a process it fails in)."""
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from viewer.app import PANEL_WIDTH

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def display() -> dict:
    """The environment of a fresh Xvfb server on a free display number."""
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (apt-get install xvfb)")
    number = next(n for n in range(90, 200) if not Path(f"/tmp/.X{n}-lock").exists()
                  and not Path(f"/tmp/.X11-unix/X{n}").exists())
    server = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not Path(f"/tmp/.X11-unix/X{number}").exists():
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            pytest.fail(f"Xvfb :{number} did not start")
        time.sleep(0.05)
    yield {**os.environ, "DISPLAY": f":{number}"}
    server.terminate()
    server.wait(timeout=10)


def run(args: list[str], env: dict) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
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
    assert pixels.shape == (256, 256 + PANEL_WIDTH, 3)  # the window: image area and control panel
    image, panel = pixels[:, :256], pixels[:, 256:]
    assert skin(image[96:160, 96:160]).mean() > 0.5  # the face fills the middle of the image area
    assert (image[:8, :8] == 255).all()  # on the default white background
    assert panel.mean() < 100 and panel.std() > 10  # the dark control panel, with text on it
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 500  # not a blank or flat window


DRIVE = textwrap.dedent("""
    import json, math, sys
    from pathlib import Path
    import dearpygui.dearpygui as dpg
    from avatar import load_avatar
    from viewer.app import PANEL_WIDTH, ViewerApp

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
    dpg.set_viewport_width(PANEL_WIDTH + 160)
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
    neutral, jaw, back = (rgb(tmp_path / f"{name}.png")[:192, :192] for name in ("neutral", "jaw", "back"))
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

    app.toggle_play()
    started = time.perf_counter()
    while time.perf_counter() - started < 0.6:
        app.step()
    result["played"] = [app.playback.playing, app.playback.frame, time.perf_counter() - started,
                        dpg.get_value("timeline/frame"), dpg.get_value("expression/3"),
                        float(expression[app.playback.frame, 3]), dpg.get_item_label("timeline/play")]
    app.set_control("frown", 0.5)  # editing a slider pauses
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

    playing, frame, seconds, slider, blink, timeline_blink, label = result["played"]
    assert playing and label == "pause"
    assert abs(frame - (2 + 25 * seconds)) <= 3  # 25 frames a second from frame 2, whatever the render speed
    assert slider == frame and blink == pytest.approx(timeline_blink)  # the sliders show the playing frame
    assert result["after_edit"] == [False, "play"]

    assert result["shown"] == ["blink left", "blink right"]
    assert result["shown_unfiltered"] == 9 + 7  # expressions and pose controls

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
    import json, subprocess
    import dearpygui.dearpygui as dpg
    import torch
    from avatar.demo import DEMO_AVATAR_PATH
    from avatar.rigged import load_rigged_avatar
    from models.params import FlameSequence
    from viewer.app import ViewerApp

    avatar = load_rigged_avatar(DEMO_AVATAR_PATH)
    avatar.timeline = FlameSequence(torch.zeros(10, 9), torch.zeros(10, 5, 3), torch.zeros(10, 3), ("a",) * 10)
    app = ViewerApp(avatar, 64, 64, (255, 255, 255), "auto")
    app.open()
    result = {}

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
    dpg.focus_item("filter")
    for _ in range(5):  # a few frames for the box to take the keyboard
        app.step()
    press("q", "r", "space")  # typed into the filter box: text, not commands
    result["typed"] = [dpg.get_value("filter"), app.playback.playing, app.step()]
    press("Escape", "Escape")  # the first leaves the filter box, the second quits
    result["quit"] = not app.step()
    app.close()
    print(json.dumps(result))
""")


def test_keys_step_play_and_quit_but_not_while_typing(display):
    if shutil.which("xdotool") is None:
        pytest.skip("xdotool is not installed (apt-get install xdotool)")
    result = json.loads(run(["-c", KEYS], display).stdout.strip().splitlines()[-1])
    assert result == {"frame": 2, "playing": True, "typed": ["qr ", False, True], "quit": True}
