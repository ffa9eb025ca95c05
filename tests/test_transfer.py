"""Expression transfer, end to end: a driver reenacted with the demo avatar as a user would (viewer/runs/reenact.py),
then MediaPipe run afresh on the driver's frames and on the avatar's, and the same face measures compared
(tracking/face_measures.py), as bench/bench_transfer.py does over every clip. Nothing here reads the tracker's
own output."""
import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from avatar import load_avatar
from avatar.splatting.rasterizer import rasterize
from models.params import FlameParams
from tracking.face_measures import correlation, detect_faces, measure_sequence
from tracking.sources import VideoFileSource
from viewer.runs.driven_video import ReenactOptions
from viewer.runs.jobs import Job
from viewer.runs.pixels import to_uint8
from viewer.runs.reenact import reenact
from viewer.runs.settings import settings_from
from viewer.runs.video import Mp4Writer

FACES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "faces"
SIZE = 256


@pytest.fixture(scope="module")
def demo():
    return load_avatar()


def frames_of(path: Path) -> list[np.ndarray]:
    with VideoFileSource(path) as source:
        return [frame.image for frame in source]


def reenacted(avatar, video: Path, folder: Path) -> list[np.ndarray]:
    """The avatar's frames, as the mp4 that `launch.py --video VIDEO --headless --size 256` writes holds them."""
    options = dataclasses.replace(ReenactOptions.of(settings_from(["--headless", "--renderer", "cpu"])),
                                  width=SIZE, height=SIZE, progress=False)
    output = folder / f"{video.stem}.avatar.mp4"
    reenact(avatar, Job(video, output, False), options)
    return frames_of(output)


def driver_and_avatar(avatar, clip: str, folder: Path) -> tuple[dict, dict]:
    """Each measure over time of the fixture clip's driver and of the avatar reenacting it."""
    video = FACES / clip
    if not video.is_file():
        pytest.skip("the shared face fixtures are absent")
    return (measure_sequence(detect_faces(frames_of(video))),
            measure_sequence(detect_faces(reenacted(avatar, video, folder))))


def assert_carried_over(measures: tuple[dict, dict], minimum_r: dict[str, float]) -> None:
    """Each named measure's r, driver against avatar, at its minimum or above."""
    driver, avatar = measures
    found = {name: correlation(driver[name], avatar[name])[0] for name in minimum_r}
    print("\n" + ", ".join(f"{name} {r:.2f}" for name, r in found.items()))
    for name, bound in minimum_r.items():
        assert found[name] >= bound, (name, found)


@pytest.fixture(scope="module")
def talking_child(demo, tmp_path_factory):
    """liveportrait_d11.mp4 (a child talking, mouth wide open, eyes looking round, brows moving)."""
    return driver_and_avatar(demo, "liveportrait_d11.mp4", tmp_path_factory.mktemp("transfer"))


# Measured at 256x256 (Pearson r, driver against avatar): mouth_open 0.82, eye_right 0.89, eye_left 0.92,
# brow_right 0.85, brow_left 0.88, yaw 0.89. (mouth_open was 0.86 while the demo's lips were parted at rest: this
# child talks with the mouth open; the clips whose mouths rest shut gained, liveportrait_d14 0.67 -> 0.97 in
# bench/bench_transfer.py.) With the tracker's rest face taken out (tracking/tracker.py `identity` returning the
# model with its shape only; measured before the demo's brows were drawn in): eyes 0.74 and 0.71, yaw 0.77 (brows
# 0.88 and 0.81, mouth 0.88). Thresholds about 0.07 below the measured figures.
MIN_R = {"mouth_open": 0.75, "eye_right": 0.8, "eye_left": 0.82, "brow_right": 0.75, "brow_left": 0.75, "yaw": 0.82}


def test_the_avatar_does_what_the_drivers_face_does(talking_child):
    assert_carried_over(talking_child, MIN_R)


def test_raising_the_brows_raises_the_avatars_brows(talking_child):
    """Where the driver's brows are highest (their top tenth), the avatar's are higher than where the driver's are
    at their median or below, by several times the avatar's frame-to-frame noise."""
    driver, avatar = talking_child
    for side in ("left", "right"):
        mine, its = driver[f"brow_{side}"], avatar[f"brow_{side}"]
        both = np.isfinite(mine) & np.isfinite(its)
        raised, resting = both & (mine >= np.nanpercentile(mine, 90)), both & (mine <= np.nanmedian(mine))
        rise = its[raised].mean() - its[resting].mean()
        noise = np.nanmedian(np.abs(np.diff(its)))
        print(f"\nbrow_{side}: the avatar's rises {rise:.4f} ({rise / noise:.1f} times its frame-to-frame noise)")
        assert rise > 4 * noise, side


@pytest.fixture(scope="module")
def winks_and_brows(demo, tmp_path_factory):
    """liveportrait_d14.mp4 (a young woman: eyes to the side, eyes shut, one-eye winks, brows, smiles)."""
    return driver_and_avatar(demo, "liveportrait_d14.mp4", tmp_path_factory.mktemp("winks"))


# Measured at 256x256: eye_right 0.94, eye_left 0.88, brow_right 0.76, brow_left 0.75. With the skin around the
# eyes fitted again (tracking/landmark_model.py EYE_SURROUNDS empty): brow_left 0.68, as the fit bent the brow to
# the skin above the lid. (The brows' double weight is not pinned here: with it at 1, brow_right 0.73.)
MIN_R_WINKS = {"eye_right": 0.88, "eye_left": 0.82, "brow_right": 0.7, "brow_left": 0.72}


def test_the_brows_follow_the_brows_not_the_skin_above_the_lids(winks_and_brows):
    assert_carried_over(winks_and_brows, MIN_R_WINKS)


@pytest.fixture(scope="module")
def wink(demo, tmp_path_factory) -> tuple[dict, dict]:
    """A driver of 40 frames at 25 fps: the demo itself at rest, then its left eye shut for 8 frames (frames
    25-32), then open again."""
    folder = tmp_path_factory.mktemp("wink")
    video = folder / "wink.mp4"
    left = demo.head.expression_names.index("blink_left")
    camera = demo.default_camera.resized(384, 384)
    with torch.inference_mode(), Mp4Writer(video, 384, 384, 25) as writer:
        for frame in range(40):
            params = FlameParams.neutral(demo.head.num_expressions)
            params.expression[left] = 1.0 if 25 <= frame < 33 else 0.0
            writer.write(to_uint8(rasterize(demo.gaussians(params), camera, backend="cpu").image).numpy())
    return measure_sequence(detect_faces(frames_of(video))), measure_sequence(
        detect_faces(reenacted(demo, video, folder)))


def test_a_wink_closes_that_eye_alone(wink):
    """Measured: the driver's left eye 0.263 open, 0.055 shut, its right 0.277 and 0.273 meanwhile; the avatar's
    left 0.237 and 0.121, its right 0.265 and 0.268. (With the photo's faint brows, before they were drawn in, the
    avatar's left eye shut to 0.107 of 0.260: MediaPipe reads the shut eye under a darker brow a little more open,
    and the fit follows it.)"""
    driver, avatar = wink
    shut, open_ = slice(27, 32), slice(5, 24)
    for measures, who in ((driver, "driver"), (avatar, "avatar")):
        left, right = measures["eye_left"], measures["eye_right"]
        print(f"\n{who}: left eye {np.mean(left[open_]):.3f} open, {np.mean(left[shut]):.3f} shut; right eye "
              f"{np.mean(right[open_]):.3f}, {np.mean(right[shut]):.3f} meanwhile")
        assert np.mean(left[shut]) < 0.6 * np.mean(left[open_]), who
        assert np.mean(right[shut]) == pytest.approx(np.mean(right[open_]), rel=0.15), who
