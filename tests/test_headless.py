"""launch.py as a user runs it: a fresh process each time."""
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from viewer.runs.video import Mp4Writer

ROOT = Path(__file__).resolve().parent.parent


def launch(*args: str, env: dict | None = None, timeout: float = 300, cwd: Path | None = None
           ) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "launch.py"), *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=cwd)


@contextmanager
def locked(path: Path) -> Iterator[Path]:
    """`path`, an earlier output, made immutable (chattr +i): not even root can replace it. Skips where the user
    or the file system cannot do that."""
    path.write_bytes(b"an earlier output")
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode:
        pytest.skip("chattr +i is not available here (it needs root and a file system that has it)")
    try:
        yield path
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def read_video(path: Path) -> tuple[av.video.stream.VideoStream, list[np.ndarray]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
        return stream, frames


def assert_one_line_error(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_headless_renders_the_sweep_to_h264(tmp_path):
    output = tmp_path / "x.mp4"
    result = launch("--headless", "--output", str(output), "--frames", "12", "--size", "96", "--fps", "24")
    assert result.returncode == 0, result.stderr
    stream, frames = read_video(output)
    assert stream.codec_context.name == "h264"
    assert stream.codec_context.pix_fmt == "yuv420p"
    assert (stream.width, stream.height) == (96, 96)
    assert stream.average_rate == Fraction(24)
    assert len(frames) == 12
    assert [path.name for path in tmp_path.iterdir()] == ["x.mp4"]  # no temporary file left beside it

    background = np.array([255, 255, 255])
    for frame in frames:
        assert frame.shape == (96, 96, 3)
        centre = frame[40:56, 40:56].reshape(-1, 3).astype(int)  # the face, on every frame of the sweep
        assert (np.abs(centre - background).sum(axis=1) > 60).mean() > 0.9
        assert (frame[0, 0].astype(int) - background).__abs__().max() < 8  # a corner shows the background
    face = (slice(16, 64), slice(24, 72))  # where the head is (the bust below it stays still)
    differences = [np.abs(a[face].astype(int) - b[face].astype(int)).mean() for a, b in zip(frames, frames[1:])]
    # The sweep keeps moving (the first step, into the first expression, eases in and may be too small to see).
    assert sum(difference > 0.1 for difference in differences) >= len(differences) - 1
    assert np.abs(frames[0].astype(int) - frames[11].astype(int)).mean() > 5  # the orbit shows another side


def test_background_and_wide_size(tmp_path):
    output = tmp_path / "wide.mp4"
    result = launch("--headless", "--output", str(output), "--frames", "2", "--size", "128x64",
                    "--background", "0,0,255")
    assert result.returncode == 0, result.stderr
    stream, frames = read_video(output)
    assert (stream.width, stream.height) == (128, 64)
    assert frames[0][2, 2].tolist() == pytest.approx([0, 0, 255], abs=12)


def test_missing_checkpoint_is_one_line(tmp_path):
    result = launch("--headless", "--checkpoint", str(tmp_path / "nope.npz"), "--output", str(tmp_path / "x.mp4"))
    assert_one_line_error(result, "nope.npz")
    assert not any(tmp_path.iterdir())  # nothing written, not even a temporary file


@pytest.mark.parametrize("folder", ["missing", "a_file"])
def test_unwritable_output_is_one_line(tmp_path, folder):
    (tmp_path / "a_file").write_text("not a folder")
    output = tmp_path / folder / "x.mp4"
    result = launch("--headless", "--output", str(output), "--frames", "2", "--size", "32", timeout=60)
    assert_one_line_error(result, str(output), "--output")


@pytest.mark.parametrize("case", ["empty", "a folder", "locked"])
def test_an_output_that_cannot_be_put_in_place_is_refused_before_any_work(tmp_path, case):
    """Found before the avatar is even loaded: --checkpoint names a missing file, whose error would come first
    if the output were checked later (or, as before, at the final rename, after the whole sweep)."""
    output = tmp_path / "x.mp4"
    with ExitStack() as stack:
        if case == "a folder":
            output.mkdir()
        elif case == "locked":
            stack.enter_context(locked(output))
        result = launch("--headless", "--checkpoint", str(tmp_path / "missing.npz"),
                        "--output", "" if case == "empty" else str(output), cwd=tmp_path)
        reason = {"empty": "--output is empty", "a folder": "it is a folder", "locked": "read-only or locked"}[case]
        assert_one_line_error(result, "--output", reason)
        assert [p.name for p in tmp_path.iterdir()] == ([] if case == "empty" else ["x.mp4"])


def test_an_output_made_a_folder_during_the_sweep_is_one_line_and_leaves_nothing(tmp_path, monkeypatch, capsys):
    """Checked before the work, the output can still change during it: the final rename fails in one line, and
    the temporary file goes."""
    import launch as program
    import viewer.runs.sweep

    output = tmp_path / "x.mp4"
    sweep = viewer.runs.sweep.render_sweep

    def sweep_then_make_the_output_a_folder(*args):
        sweep(*args)
        output.mkdir()

    monkeypatch.setattr(viewer.runs.sweep, "render_sweep", sweep_then_make_the_output_a_folder)
    assert program.main(["--headless", "--frames", "2", "--size", "32", "--output", str(output)]) == 2
    error = capsys.readouterr().err.splitlines()[-1]  # after the progress bar
    assert error.startswith(f"livehead: cannot write --output {output}: Is a directory; "), error
    assert [p.name for p in tmp_path.iterdir()] == ["x.mp4"] and not any(output.iterdir())


def test_unavailable_renderer_is_one_line(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("gsplat may be available where there is CUDA")
    result = launch("--headless", "--renderer", "gsplat", "--output", str(tmp_path / "x.mp4"))
    assert_one_line_error(result, "gsplat", "CUDA")


@pytest.mark.parametrize("args, word", [
    (["--size", "97"], "even"),
    (["--size", "12x"], "--size"),
    (["--output", "x.avi"], ".mp4"),
    (["--frames", "0"], "--frames"),
    (["--background", "1,2"], "--background"),
    (["--bogus"], "--bogus"),
])
def test_bad_options_are_one_line(args, word):
    assert_one_line_error(launch("--headless", *args), word)


@pytest.mark.parametrize("fps", ["inf", "nan", "0.5", "2000"])  # 2000: libx264 in .mp4 loses frames there
def test_frame_rates_the_encoder_cannot_keep_are_one_line_and_leave_nothing(tmp_path, fps):
    assert_one_line_error(launch("--headless", "--fps", fps, "--output", str(tmp_path / "x.mp4")),
                          f"--fps {float(fps)}", "from 1 to 240")
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("line", ['png: "false"', 'gem: "false"', "absolute: 0", "landmarks: yes please"])
def test_an_on_off_setting_that_is_not_true_or_false_is_one_line(tmp_path, line):
    config = tmp_path / "config.yaml"
    config.write_text(line + "\n")  # quoted, "false" is a string: bool() would take it for true
    key = line.split(":")[0]
    assert_one_line_error(launch("--headless", "--config", str(config), "--output", str(tmp_path / "x.mp4")),
                          f"{key}: ", "is not true or false")


@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_signal_while_rendering_leaves_nothing_behind(tmp_path, number):
    """Ctrl-C, or a kill (SIGTERM, as a system shutting down sends), between or during frames."""
    output = tmp_path / "x.mp4"
    # As from a terminal: a job started in the background (as CI may start this one) inherits SIGINT ignored.
    process = subprocess.Popen([sys.executable, str(ROOT / "launch.py"), "--headless", "--frames", "100000",
                                "--size", "32", "--output", str(output)], stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not any(tmp_path.iterdir()):  # the video's temporary file: it is rendering
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.05)
    process.send_signal(number)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == f"livehead: interrupted; {output} was not written"
    assert not any(tmp_path.iterdir()), list(tmp_path.iterdir())


def test_config_file_sets_defaults_and_the_command_line_wins(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("size: 64x32\nframes: 3\nfps: 12\n")
    output = tmp_path / "x.mp4"
    result = launch("--headless", "--config", str(config), "--output", str(output), "--frames", "2")
    assert result.returncode == 0, result.stderr
    stream, frames = read_video(output)
    assert (stream.width, stream.height, len(frames), stream.average_rate) == (64, 32, 2, 12)

    config.write_text("sise: 64\n")
    assert_one_line_error(launch("--headless", "--config", str(config)), "sise")


def test_an_on_switch_of_a_config_turns_off_on_the_command_line_and_help_shows_the_yaml_defaults(tmp_path):
    """configs/default.yaml is the one place of the defaults: --help says each of them, and every on/off setting
    a config turns on, the command line turns off again (--no-gem)."""
    import yaml

    from viewer.runs.settings import DEFAULTS_FILE, settings_from

    config = tmp_path / "config.yaml"
    config.write_text("gem: true\nlandmarks: true\nsize: 64\n")
    assert settings_from(["--config", str(config)]).gem
    turned_off = settings_from(["--config", str(config), "--no-gem", "--size", "32"])
    assert not turned_off.gem and turned_off.landmarks and turned_off.width == 32

    text = " ".join(launch("--help").stdout.split())
    options = text[text.index("options:"):]
    defaults = yaml.safe_load(DEFAULTS_FILE.read_text())
    for key in ("size", "frames", "fps", "renderer", "layout", "record_dir"):
        described = options[options.index(f"--{key.replace('_', '-')} "):]
        assert described.split("default: ")[1].split()[0].rstrip(";") == str(defaults[key]), (key, described[:300])
    assert "default: off" in options[options.index("--gem, --no-gem"):options.index("--renderer")]


def test_window_without_a_display_points_to_headless():
    env = {key: value for key, value in os.environ.items() if key not in ("DISPLAY", "WAYLAND_DISPLAY")}
    result = launch(env=env, timeout=60)
    assert_one_line_error(result, "--headless")  # and not SIGABRT (-6) from dearpygui


def test_help_explains_options_with_examples():
    result = launch("--help")
    assert result.returncode == 0
    for option in ("--checkpoint", "--headless", "--output", "--frames", "--size", "--fps", "--renderer",
                   "--background", "--config", "--screenshot", "examples:"):
        assert option in result.stdout


def test_writer_leaves_nothing_under_the_final_name_when_interrupted(tmp_path):
    output = tmp_path / "x.mp4"
    frame = np.zeros((32, 32, 3), np.uint8)
    with pytest.raises(KeyboardInterrupt):
        with Mp4Writer(output, 32, 32, 30) as video:
            for _ in range(5):
                video.write(frame)
            raise KeyboardInterrupt
    assert not any(tmp_path.iterdir())

    with Mp4Writer(output, 32, 32, 12.5) as video:
        video.write(frame)
        assert not output.exists()  # only once it is complete
    stream, frames = read_video(output)
    assert len(frames) == 1 and stream.average_rate == Fraction(25, 2)
