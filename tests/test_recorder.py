"""viewer.runs.recorder: window frames to a constant-rate H.264 mp4 from a background thread."""
import subprocess
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

import viewer.runs.recorder as recorder_module
from viewer.runs.recorder import Recorder
from viewer.runs.video import Mp4Writer

ROOT = Path(__file__).resolve().parent.parent
AVATAR_SIZE = (101, 75)  # width, height: odd both ways, so the video needs padding to even sizes
CAMERA_SIZE = (160, 120)
CAMERA_COLOUR = (200, 40, 40)


def read_video(path: Path) -> tuple[dict, list[np.ndarray]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
        info = {"codec": stream.codec_context.name, "rate": stream.average_rate,
                "size": (stream.width, stream.height)}
        return info, frames


BITS = 7


def grey(index: int, size=AVATAR_SIZE, dtype=np.uint8) -> np.ndarray:
    """Window frame `index`, readable back from the video: its bits as black and white bars, left to right."""
    width, height = size
    bars = np.array([(index >> bit) & 1 for bit in range(BITS)], np.uint8) * 255
    image = np.repeat(bars[np.arange(width) * BITS // width], 3).reshape(1, width, 3).repeat(height, axis=0)
    return image.astype(np.float32) / 255 if dtype == np.float32 else image


def index_of(pixels: np.ndarray) -> int:
    """The index grey() drew into `pixels` (scaled to any size)."""
    height, width = pixels.shape[:2]
    centres = ((np.arange(BITS) + 0.5) * width / BITS).astype(int)
    return sum(1 << bit for bit, x in enumerate(centres) if pixels[:, x].mean() > 128)


def camera_image(size=CAMERA_SIZE) -> np.ndarray:
    return np.full((size[1], size[0], 3), CAMERA_COLOUR, np.uint8)


@pytest.mark.parametrize("layout", ["avatar", "side"])
def test_two_seconds_at_an_irregular_window_rate_make_sixty_frames(tmp_path, layout):
    path = tmp_path / "take.mp4"
    recorder = Recorder(path, 30, layout)
    assert recorder.recording and recorder.path == path
    rng = np.random.default_rng(0)
    dtype = np.float32 if layout == "avatar" else np.uint8  # both kinds of avatar image
    times = []
    start = time.perf_counter()
    while (now := time.perf_counter()) - start < 2.0:
        assert recorder.add(grey(len(times), dtype=dtype), camera_image(), now)
        times.append(now)
        time.sleep(rng.uniform(1 / 45, 1 / 20))
    assert not path.exists()  # only once finished
    assert recorder.stop(times[0] + 2.0) == path  # two seconds from the first frame
    assert not recorder.recording

    info, frames = read_video(path)
    assert info["codec"] == "h264"
    assert info["rate"] == Fraction(30)
    assert len(frames) in (60, 61)  # 2 s at 30 fps, and the last frame if it came after its slot began
    assert len(frames) == recorder.frames_written
    width, height = AVATAR_SIZE
    camera_width = 2 * round(CAMERA_SIZE[0] * height / CAMERA_SIZE[1] / 2) if layout == "side" else 0  # 100
    expected = (camera_width + width + (camera_width + width) % 2, height + height % 2)
    assert info["size"] == expected == recorder.frame_size
    assert info["size"] == ((202, 76) if layout == "side" else (102, 76))
    assert [p.name for p in tmp_path.iterdir()] == ["take.mp4"]  # no temporary file left

    # The video's frame k shows the window frame that was on screen k / 30 s after the first.
    shown = [int(np.searchsorted(times, times[0] + k / 30 + 1e-9, side="right")) - 1 for k in range(len(frames))]
    avatar_part = [index_of(frame[:height, camera_width:camera_width + width]) for frame in frames]
    mismatches = sum(a != b for a, b in zip(avatar_part, shown))
    assert mismatches <= 2 + 2 * recorder.dropped, (avatar_part, shown)
    if layout == "side":
        for frame in frames[::10]:
            camera_part = frame[:height, :camera_width].reshape(-1, 3).mean(axis=0)
            assert np.abs(camera_part - CAMERA_COLOUR).max() < 6


class BlockingWriter(Mp4Writer):
    """An encoder that waits for `release` before each frame (saying so in `blocked`): it falls behind."""

    blocked = threading.Event()
    release = threading.Event()

    def write(self, rgb):
        self.blocked.set()
        assert self.release.wait(30)
        super().write(rgb)


def test_a_slow_encoder_drops_frames_without_blocking_and_stop_flushes_the_queue(tmp_path, monkeypatch):
    BlockingWriter.blocked, BlockingWriter.release = threading.Event(), threading.Event()
    monkeypatch.setattr(recorder_module, "Mp4Writer", BlockingWriter)
    path = tmp_path / "queued.mp4"
    recorder = Recorder(path, 30, "avatar", queue_frames=4)
    start = time.perf_counter()
    # A window frame each 1/30 s of the recording's clock, all handed over at once. The encoder takes the first
    # two and blocks writing the first.
    recorder.add(grey(0), None, start)
    recorder.add(grey(1), None, start + 1 / 30)
    assert BlockingWriter.blocked.wait(30)
    for index in range(2, 30):
        assert recorder.add(grey(index), None, start + index / 30)
    assert not BlockingWriter.release.is_set()  # add() only hands frames over: all returned while it was blocked
    assert recorder.dropped == 28 - 4  # the queue holds the newest 4
    assert recorder.frames_written == 0

    threading.Timer(0.3, BlockingWriter.release.set).start()  # frames still queued when stop() comes
    assert recorder.stop(start + 30 / 30) == path
    info, frames = read_video(path)
    assert info["codec"] == "h264"
    assert len(frames) == 30  # dropped frames leave the timeline as it was: their slots show the frame before
    assert recorder.frames_written == 30
    assert index_of(frames[0]) == 0
    assert index_of(frames[-1]) == 29  # the queue's last frame, encoded after stop() was called
    # The dropped frames' slots show the frame before them.
    assert [index_of(frame) for frame in frames] == [0] + [1] * 25 + [26, 27, 28, 29]


def test_frames_of_another_size_are_scaled_to_the_first(tmp_path):
    path = tmp_path / "resized.mp4"
    recorder = Recorder(path, 10, "side")
    start = time.perf_counter()
    sizes = [(100, 74), (100, 74), (160, 120), (64, 40), (100, 74)]
    cameras = [camera_image(), None, camera_image((90, 160)), camera_image((320, 240)), None]
    for k, (size, camera) in enumerate(zip(sizes, cameras)):
        recorder.add(grey(10 * k, size), camera, start + k / 10)
    assert recorder.stop(start + len(sizes) / 10) == path
    info, frames = read_video(path)
    camera_width = 2 * round(CAMERA_SIZE[0] * 74 / CAMERA_SIZE[1] / 2)  # 98.7 to an even 98, as a reenactment's
    assert info["size"] == (camera_width + 100, 74)
    assert len(frames) == 5
    for k, frame in enumerate(frames):
        assert index_of(frame[:, camera_width:camera_width + 100]) == 10 * k
        assert np.abs(frame[37, camera_width // 2].astype(int) - CAMERA_COLOUR).max() < 6  # a camera, each frame
    # The portrait camera image is letterboxed into the camera panel: black at its sides.
    assert frames[2][37, 2].max() < 8


def test_the_camera_panel_is_black_until_a_camera_image_comes_and_then_keeps_the_last(tmp_path):
    path = tmp_path / "placeholder.mp4"
    recorder = Recorder(path, 10, "side")
    start = time.perf_counter()
    cameras = [None, None, camera_image(), None]
    for k, camera in enumerate(cameras):
        recorder.add(grey(50, (80, 60)), camera, start + k / 10)
    recorder.stop(start + 0.4)
    info, frames = read_video(path)
    assert info["size"] == (160, 60)  # a placeholder as large as the avatar
    assert len(frames) == 4
    for k, frame in enumerate(frames):
        left = frame[:, :80].reshape(-1, 3).mean(axis=0)
        if k < 2:
            assert left.max() < 4
        else:
            assert np.abs(left - CAMERA_COLOUR).max() < 6
        assert index_of(frame[:, 80:]) == 50


def test_the_avatar_layout_ignores_camera_images(tmp_path):
    path = tmp_path / "avatar.mp4"
    with Recorder(path, 25, "avatar") as recorder:
        recorder.add(grey(20, (64, 48)), camera_image(), 0.0, copy=False)
        recorder.add(grey(20, (64, 48)), camera_image(), 0.2)
        recorder.stop(0.4)
    info, frames = read_video(path)
    assert info["size"] == (64, 48) and info["rate"] == Fraction(25)
    assert len(frames) == 10


def test_stop_is_idempotent_and_no_frame_means_no_file(tmp_path):
    path = tmp_path / "empty.mp4"
    recorder = Recorder(path, 30, "avatar")
    assert recorder.stop() is None
    assert recorder.stop() is None
    assert not recorder.recording
    assert not recorder.add(grey(1), None, 0.0)  # after stop(): ignored
    assert list(tmp_path.iterdir()) == []

    path = tmp_path / "one.mp4"
    recorder = Recorder(path, 30, "avatar")
    recorder.add(grey(1), None)  # one frame, stopped at once: still a video of it
    assert recorder.stop() == path
    assert recorder.stop() == path
    assert len(read_video(path)[1]) == 1


def test_stop_waits_for_another_thread_stopping(tmp_path):
    path = tmp_path / "twice.mp4"
    recorder = Recorder(path, 30, "avatar")
    recorder.add(grey(1), None, 0.0)
    results = []
    threads = [threading.Thread(target=lambda: results.append(recorder.stop(1.0))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [path] * 3
    assert len(read_video(path)[1]) == 30


def test_a_folder_that_cannot_be_written_fails_at_construction(tmp_path):
    for path in (tmp_path / "missing" / "x.mp4", tmp_path):
        with pytest.raises(OSError) as error:
            Recorder(path, 30, "avatar")
        message = str(error.value)
        assert "\n" not in message and str(path) in message, message
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OSError) as error:
        Recorder(blocker / "x.mp4", 30, "avatar")
    assert "\n" not in str(error.value) and "cannot record" in str(error.value)
    with pytest.raises(ValueError, match="layout"):
        Recorder(tmp_path / "x.mp4", 30, "overlay")
    with pytest.raises(ValueError, match="frame rate"):
        Recorder(tmp_path / "x.mp4", 0, "avatar")
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


def test_an_encoder_failure_is_raised_by_stop_once(tmp_path, monkeypatch):
    class FailingWriter(Mp4Writer):
        def write(self, rgb):
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(recorder_module, "Mp4Writer", FailingWriter)
    path = tmp_path / "full.mp4"
    recorder = Recorder(path, 30, "avatar")
    recorder.add(grey(1), None, 0.0)
    recorder.add(grey(2), None, 0.5)
    deadline = time.perf_counter() + 30
    while recorder.error is None and time.perf_counter() < deadline:
        time.sleep(0.01)
    assert not recorder.recording
    assert not recorder.add(grey(3), None, 0.6)
    with pytest.raises(RuntimeError, match="No space left on device"):
        recorder.stop()
    assert recorder.stop() is None
    assert list(tmp_path.iterdir()) == []  # the partial video is deleted


def test_interpreter_exit_without_stop_still_finishes_the_video(tmp_path):
    path = tmp_path / "exit.mp4"
    script = f"""
import time, numpy as np
from viewer.runs.recorder import Recorder
recorder = Recorder({str(path)!r}, 30, "side")
start = time.perf_counter()
for k in range(20):
    recorder.add(np.full((48, 64, 3), k * 10 / 255, np.float32), np.zeros((48, 64, 3), np.uint8), start + k / 30)
raise SystemExit(3)  # the window closed (or the script failed) without stop()
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 3, result.stderr
    info, frames = read_video(path)
    assert info["codec"] == "h264" and info["size"] == (128, 48)
    # The encoder may have dropped frames it could not keep up with, but neither the first nor the last.
    assert len(frames) == 20
    assert abs(frames[0][:, 64:].mean() - 0) < 3 and abs(frames[-1][:, 64:].mean() - 190) < 3
    assert [p.name for p in tmp_path.iterdir()] == ["exit.mp4"]


def test_the_first_frame_is_never_dropped(tmp_path, monkeypatch):
    """The encoder may not have taken the first frame yet when the queue overflows: it starts the timeline."""
    BlockingWriter.blocked, BlockingWriter.release = threading.Event(), threading.Event()
    monkeypatch.setattr(recorder_module, "Mp4Writer", BlockingWriter)
    path = tmp_path / "first.mp4"
    recorder = Recorder(path, 30, "avatar", queue_frames=3)
    with recorder._wake:  # the encoder cannot take a frame while the adds run
        for index in range(10):
            assert recorder.add(grey(index), None, index / 30)
        assert [index_of(item[0]) for item in recorder._queue] == [0, 8, 9]
    assert recorder.dropped == 7
    BlockingWriter.release.set()
    recorder.stop(10 / 30)
    assert [index_of(frame) for frame in read_video(path)[1]] == [0] * 8 + [8, 9]
