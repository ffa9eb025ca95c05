"""GaussianAvatars' avatars (avatar/flame_bound): the fixture written by the original code reproduced frame by
frame, as its render() hands the rasterizer the Gaussians (../shared/specs/gaussianavatars.md)."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from avatar.flame_bound.avatar import load_flame_bound_avatar
from avatar.splatting.gaussians import Gaussians

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT.parent / "shared" / "fixtures" / "gaussianavatars"
needs_fixture = pytest.mark.skipif(not FIXTURE.is_dir(), reason="../shared/fixtures/gaussianavatars is absent")


def relative(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    return float((ours.double() - theirs.double()).abs().max() / theirs.double().abs().max())


@needs_fixture
def test_every_frame_and_camera_is_what_the_original_hands_its_rasterizer():
    avatar = load_flame_bound_avatar(FIXTURE / "avatar" / "point_cloud.ply", FIXTURE / "flame" / "flame2023.pkl")
    reference = torch.load(FIXTURE / "reference.pt", weights_only=True)
    assert len(avatar) == 2000 and len(avatar.timeline) == 5 and len(reference["frames"]) == 15
    for frame in reference["frames"]:
        gaussians = avatar.gaussians(avatar.timeline.frame(frame["timestep"]))
        where = (frame["timestep"], frame["camera"])
        assert relative(gaussians.means, frame["means3D"]) < 1e-5, where
        assert relative(gaussians.scales, frame["scales"]) < 1e-5, where
        assert relative(gaussians.opacities, frame["opacities"][:, 0]) < 1e-5, where
        # Rotations as covariances (q and -q are one). Compared one by one, a few rotations of the smallest
        # triangles differ by up to 5e-5: the original's float32 vertices, differenced over a short edge, carry
        # that much round-off (ours in float64 differ from it as much), which the Gaussian's size then scales down.
        theirs = Gaussians(frame["means3D"], frame["opacities"][:, 0], frame["colors"],
                           torch.nn.functional.normalize(frame["rotations"], dim=1), frame["scales"])
        assert relative(gaussians.covariances(), theirs.covariances()) < 1e-5, where
        assert relative(gaussians.view_colors(frame["campos"]), frame["colors"]) < 1e-5, where


@needs_fixture
def test_the_fast_path_is_its_float64_reference():
    """avatar.py (float32 torch, batched) against reference.py (the spec's maths in float64, a Gaussian at a
    time), on a frame of the avatar's own timeline and on one with every joint turned."""
    from avatar.flame_bound.reference import gaussians_reference

    avatar = load_flame_bound_avatar(FIXTURE / "avatar" / "point_cloud.ply", FIXTURE / "flame" / "flame2023.pkl")
    turned = avatar.timeline.frame(2)
    turned.pose += torch.tensor([[0.1, -0.2, 0.05], [0.2, 0.1, -0.1], [0.3, 0.02, 0.0], [0.05, 0.1, 0.0],
                                 [-0.05, 0.1, 0.0]])
    for params in (avatar.timeline.frame(4), turned):
        fast, reference = avatar.gaussians(params), gaussians_reference(avatar, params)
        assert relative(fast.means, torch.from_numpy(reference["means"])) < 1e-5
        assert relative(fast.scales, torch.from_numpy(reference["scales"])) < 1e-5
        assert relative(fast.covariances(), torch.from_numpy(reference["covariances"])) < 1e-5


def write_ply(path: Path, vertices: np.ndarray) -> Path:
    header = "".join(["ply\n", "format binary_little_endian 1.0\n", f"element vertex {len(vertices)}\n",
                      *(f"property float {name}\n" for name in vertices.dtype.names), "end_header\n"])
    path.write_bytes(header.encode("ascii") + vertices.astype([(n, "<f4") for n in vertices.dtype.names]).tobytes())
    return path


@needs_fixture
def test_what_cannot_drive_a_gaussianavatars_avatar_is_one_line(tmp_path):
    """A wrong FLAME file, a PLY without binding, a binding beyond the face count, no flame_param.npz, no FLAME
    where a checkout keeps it: one line each, exit status 2."""
    from avatar.splatting.ply import read_vertices
    from tests.test_headless import assert_one_line_error, launch

    flame, vertices = FIXTURE / "flame" / "flame2023.pkl", read_vertices(FIXTURE / "avatar" / "point_cloud.ply")

    def refused(ply: Path, flame: Path | None, *words: str) -> None:
        output = tmp_path / "x.mp4"
        extra = ["--flame", str(flame)] if flame is not None else []
        assert_one_line_error(launch("--checkpoint", str(ply), *extra, "--headless", "--frames", "2", "--size", "32",
                                     "--output", str(output)), *words)
        assert not output.exists()

    avatar = tmp_path / "avatar"
    avatar.mkdir()
    shutil.copy(FIXTURE / "avatar" / "flame_param.npz", avatar)
    unbound = write_ply(avatar / "plain.ply", vertices[[n for n in vertices.dtype.names if n != "binding_0"]])
    refused(unbound, flame, "plain.ply", "without GaussianAvatars' binding_0")
    beyond = vertices.copy()
    beyond["binding_0"][7] = 10042 + 168  # FLAME's triangles and the teeth's: one past the last
    refused(write_ply(avatar / "beyond.ply", beyond), flame, "beyond.ply", "triangle 10210", "has 10210")
    refused(write_ply(avatar / "bound.ply", vertices), FIXTURE / "avatar" / "flame_param.npz", "flame_param.npz")
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    refused(write_ply(lonely / "point_cloud.ply", vertices), flame, "flame_param.npz", "beside point_cloud.ply")
    refused(avatar / "bound.ply", None, "bound.ply", "--flame PATH/flame2023.pkl")


FACES = FIXTURE.parent / "faces"


@needs_fixture
def test_a_face_video_drives_it_headless_keeping_every_frame_at_its_rate(tmp_path):
    """--video with the fixture avatar: tracked through its FLAME's landmark embedding (beside the FLAME file, as
    in a GaussianAvatars checkout), every frame at the video's exact rate."""
    from tests.test_headless import launch
    from tests.test_reenact import read_video

    output = tmp_path / "driven.mp4"
    result = launch("--checkpoint", str(FIXTURE / "avatar" / "point_cloud.ply"), "--flame",
                    str(FIXTURE / "flame" / "flame2023.pkl"), "--video", str(FACES / "pyfeat_single_face.mp4"),
                    "--output", str(output), "--headless", "--size", "32")
    assert result.returncode == 0, result.stderr
    info, frames = read_video(output)
    assert len(frames) == 72 and info["rate"] == 30 and info["audio"] == ["mp3"]
    report = json.loads((tmp_path / "driven.report.json").read_text())
    assert report["frames"] == 72 and report["frames_without_face"] == []


@needs_fixture
def test_a_face_drives_it_live_in_the_window(display, tmp_path):
    """The window's screenshot is taken only once the live source (a face video as the camera) drives the avatar:
    exit status 0 says it did."""
    from PIL import Image

    from tests.test_app import run
    from viewer.panel import LIVE_WIDTH

    shot = tmp_path / "live.png"
    run(["launch.py", "--checkpoint", str(FIXTURE / "avatar" / "point_cloud.ply"), "--flame",
         str(FIXTURE / "flame" / "flame2023.pkl"), "--webcam", str(FACES / "pyfeat_single_face.mp4"), "--screenshot",
         str(shot), "--size", "128"], display)
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    image = pixels[:128, LIVE_WIDTH:LIVE_WIDTH + 128]
    assert (255 - image).mean() > 10  # the avatar covers the white background


@needs_fixture
def test_saved_as_a_livehead_file_it_draws_the_same(tmp_path):
    """--save-avatar writes it as one .npz (no FLAME file or flame_param.npz needed again): the same Gaussians for
    every frame of its timeline, the same landmarks for the tracker."""
    from avatar import load_avatar
    from tests.test_headless import launch

    saved = tmp_path / "ga.npz"
    result = launch("--checkpoint", str(FIXTURE / "avatar" / "point_cloud.ply"), "--flame",
                    str(FIXTURE / "flame" / "flame2023.pkl"), "--save-avatar", str(saved))
    assert result.returncode == 0, result.stderr
    original = load_flame_bound_avatar(FIXTURE / "avatar" / "point_cloud.ply", FIXTURE / "flame" / "flame2023.pkl")
    reopened = load_avatar(saved)
    assert type(reopened) is type(original) and len(reopened.timeline) == len(original.timeline)
    assert set(reopened.head.landmarks) == {"flame68", "flame51", "flame_contour"}
    for frame in range(len(original.timeline)):
        ours, theirs = reopened.gaussians(reopened.timeline.frame(frame)), original.gaussians(
            original.timeline.frame(frame))
        assert torch.equal(ours.means, theirs.means) and torch.equal(ours.sh, theirs.sh)
        assert torch.equal(ours.covariances(), theirs.covariances())


@needs_fixture
def test_another_flame_param_file_is_a_motion_for_its_timeline(tmp_path):
    """--params without --video: another tracking's flame_param.npz drives the avatar's timeline with its dynamic
    parameters only; the avatar keeps its own shape and static offset, as GaussianAvatars' viewer does."""
    import launch

    own = dict(np.load(FIXTURE / "avatar" / "flame_param.npz"))
    generator = np.random.default_rng(7)
    motion = {key: value.copy() for key, value in own.items()}
    motion["expr"] = np.concatenate([own["expr"], own["expr"][::-1]]) * 1.5  # 10 frames, other expressions
    for key in ("rotation", "neck_pose", "jaw_pose", "eyes_pose", "translation"):
        motion[key] = np.concatenate([own[key], own[key]]) + generator.normal(0, 0.05, (10, own[key].shape[1]))
    motion["shape"] = generator.normal(0, 1, own["shape"].shape).astype(np.float32)  # someone else's
    motion["static_offset"] = own["static_offset"] + 0.01
    np.savez(tmp_path / "motion.npz", **motion)

    arguments = ["--checkpoint", str(FIXTURE / "avatar" / "point_cloud.ply"), "--flame",
                 str(FIXTURE / "flame" / "flame2023.pkl")]
    avatar = launch.load(launch.settings_from([*arguments, "--params", str(tmp_path / "motion.npz")]))
    original = launch.load(launch.settings_from(arguments))
    assert len(avatar.timeline) == 10 and torch.allclose(avatar.timeline.expression, torch.from_numpy(motion["expr"]))
    # Frame 7 of the motion, given to the avatar as it is: the same Gaussians (the motion's shape is not used).
    frame = avatar.timeline.frame(7)
    assert torch.equal(avatar.gaussians(frame).means, original.gaussians(frame).means)
    assert torch.allclose(frame.pose[3:].flatten(), torch.from_numpy(motion["eyes_pose"][7]).float())

    np.savez(tmp_path / "other.npz", expr=np.zeros((3, 50), np.float32), rotation=np.zeros((3, 3), np.float32),
             neck_pose=np.zeros((3, 3), np.float32), jaw_pose=np.zeros((3, 3), np.float32),
             eyes_pose=np.zeros((3, 6), np.float32), translation=np.zeros((3, 3), np.float32))
    with pytest.raises(launch.UsageError, match="50 expression coefficients, and this avatar has 100"):
        launch.load(launch.settings_from([*arguments, "--params", str(tmp_path / "other.npz")]))


@needs_fixture
def test_it_poses_on_another_device():
    """`to(device)` as every kind has it, with torch's meta device standing in for a GPU: every field of the
    Gaussians comes out there, at the CPU's shapes and types."""
    avatar = load_flame_bound_avatar(FIXTURE / "avatar" / "point_cloud.ply", FIXTURE / "flame" / "flame2023.pkl")
    params = avatar.timeline.frame(1)
    on_cpu, on_meta = avatar.gaussians(params), avatar.to("meta").gaussians(params)
    assert avatar.to("meta").device.type == "meta"
    for name in ("means", "opacities", "quats", "scales", "sh"):
        ours, theirs = getattr(on_meta, name), getattr(on_cpu, name)
        assert ours.device.type == "meta" and ours.shape == theirs.shape and ours.dtype == theirs.dtype, name


@needs_fixture
def test_the_landmark_embedding_can_be_named_where_it_is_not_beside_the_flame_file(tmp_path):
    """Without the embedding beside the FLAME file, the avatar opens but cannot be tracked (one line);
    --landmark-embedding names it."""
    import launch
    from tests.test_headless import assert_one_line_error
    from tests.test_headless import launch as run_launch

    alone = tmp_path / "flame"
    alone.mkdir()
    shutil.copy(FIXTURE / "flame" / "flame2023.pkl", alone)
    arguments = ["--checkpoint", str(FIXTURE / "avatar" / "point_cloud.ply"), "--flame", str(alone / "flame2023.pkl")]
    assert launch.load(launch.settings_from(arguments)).head.landmarks == {}
    assert_one_line_error(run_launch(*arguments, "--video", str(FACES / "pyfeat_single_face.mp4"), "--headless",
                                     "--size", "32", "--output", str(tmp_path / "x.mp4")), "landmark embedding")
    named = launch.load(launch.settings_from(
        [*arguments, "--landmark-embedding", str(FIXTURE / "flame" / "landmark_embedding_with_eyes.npy")]))
    assert set(named.head.landmarks) == {"flame68", "flame51", "flame_contour"}


@needs_fixture
def test_a_gem_built_from_it_keeps_its_spherical_harmonics(tmp_path):
    """python -m avatar.gem build on its livehead file (--save-avatar first: no FLAME file needed then): the GEM's
    Gaussians follow the avatar's, and carry its spherical harmonics, through the GEM's own file too."""
    from avatar import load_avatar
    from avatar.gem.avatar import GemAvatar
    from tests.test_headless import launch

    saved, gem_file = tmp_path / "ga.npz", tmp_path / "ga_gem.npz"
    assert launch("--checkpoint", str(FIXTURE / "avatar" / "point_cloud.ply"), "--flame",
                  str(FIXTURE / "flame" / "flame2023.pkl"), "--save-avatar", str(saved)).returncode == 0
    built = subprocess.run([sys.executable, "-m", "avatar.gem", "build", "--checkpoint", str(saved), "--output",
                            str(gem_file), "--components", "geometry=24,opacity=4,scales=8,rotation=16", "--samples",
                            "48"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert built.returncode == 0, built.stderr
    avatar, gem = load_avatar(saved), load_avatar(gem_file)
    assert isinstance(gem, GemAvatar) and gem.model.colors.shape == (2000, 16, 3)
    params = avatar.timeline.frame(3)
    ours, theirs = gem.gaussians(params), avatar.gaussians(params)
    size = (theirs.means.max(dim=0).values - theirs.means.min(dim=0).values).norm()
    # One part ("full", without --regions): the GEM keeps the avatar's order of Gaussians.
    assert (ours.means - theirs.means).norm(dim=1).mean() < 0.05 * size
    assert torch.equal(ours.sh, theirs.sh)
    with pytest.raises(ValueError, match="spherical harmonics"):
        from avatar.gem.file import save_original_gem

        save_original_gem(gem.model, tmp_path / "gem.ptk")
