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
