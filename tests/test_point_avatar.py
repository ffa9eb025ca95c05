"""MonoGaussianAvatar point avatars: the cached fast path gives exactly the original's Gaussians.

Against the fixture's reference.pt (what the original code handed its rasterizer), and against the direct
re-implementation of the original's per-frame computation (avatar/point/original.py) on experiments the tests
write themselves.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from avatar import load_avatar, save_avatar
from avatar.point.avatar import FRAME_CHUNK, PointAvatar
from avatar.point.experiment import open_experiment
from avatar.point.original import RasterizerInputs, original_frame
from avatar.splatting.gaussians import Gaussians
from avatar.splatting.rasterizer import rasterize
from models.params import FlameParams
from tests.fake_experiment import write_experiment

FIXTURE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "monogaussianavatar"
needs_fixture = pytest.mark.skipif(not FIXTURE.is_dir(), reason="../shared fixtures are absent")
TRAIN_DIR = FIXTURE / "experiments" / "subj" / "yufeng" / "train1" / "train"


def assert_same_gaussians(ours: Gaussians, original: RasterizerInputs, head_size: float) -> None:
    """Means to 1e-5 of the head's size; scales, quaternions, colours and opacities to 1e-5 relative."""
    assert (ours.means - original.means).abs().max() <= 1e-5 * head_size
    torch.testing.assert_close(ours.scales, original.scales, rtol=1e-5, atol=0)
    torch.testing.assert_close(ours.colors, original.colors, rtol=1e-5, atol=0)
    torch.testing.assert_close(ours.opacities, original.opacities[:, 0], rtol=1e-5, atol=0)
    # Each quaternion channel has unit norm over the points, so a single point's can be ~0: relative to the norm.
    assert ((ours.quats - original.quats).abs() <= 1e-5 * original.quats.abs().amax(dim=1, keepdim=True)).all()


def head_size(avatar: PointAvatar) -> float:
    vertices = avatar.head.v_template
    return float((vertices.max(0).values - vertices.min(0).values).max())


@pytest.fixture(scope="module")
def reference():
    return torch.load(FIXTURE / "reference.pt", weights_only=True)


@pytest.fixture(scope="module")
def fixture_avatar():
    return PointAvatar.from_experiment(open_experiment(TRAIN_DIR, FIXTURE / "dataset"))


@needs_fixture
def test_original_reimplementation_reproduces_reference(reference):
    checkpoint = torch.load(TRAIN_DIR / "checkpoints/ModelParameters/latest.pth", weights_only=True)
    for i, frame in enumerate(reference["frames"]):
        ours = original_frame(checkpoint["model_state_dict"], checkpoint["radius"], reference["mean_expression"][0],
                              0.4, reference["expression"][i], reference["flame_pose"][i].view(5, 3))
        for name, key in [("means", "means3D"), ("scales", "scales"), ("quats", "rotations"),
                          ("opacities", "opacities"), ("colors", "colors")]:
            torch.testing.assert_close(getattr(ours, name), frame[key], rtol=1e-5, atol=1e-5 * frame[key].abs().max())


@needs_fixture
def test_point_avatar_reproduces_reference(fixture_avatar, reference):
    torch.testing.assert_close(fixture_avatar.canonical_expression, reference["mean_expression"][0])
    for i, frame in enumerate(reference["frames"]):
        ours = fixture_avatar.gaussians(FlameParams(reference["expression"][i], reference["flame_pose"][i].view(5, 3),
                                                    torch.zeros(3)))
        original = RasterizerInputs(frame["means3D"], frame["scales"], frame["rotations"], frame["opacities"],
                                    frame["colors"])
        assert_same_gaussians(ours, original, head_size(fixture_avatar))


@needs_fixture
def test_rendered_like_the_original_rasterizer(fixture_avatar, reference):
    """The image of our Gaussians equals the image of the original's raw inputs, both drawn with the 3DGS maths
    (quaternions used as given, not normalised), and the image of their covariances."""
    frame = reference["frames"][0]
    ours = fixture_avatar.gaussians(FlameParams(reference["expression"][0], reference["flame_pose"][0].view(5, 3),
                                                torch.zeros(3)))
    original = Gaussians(means=frame["means3D"], opacities=frame["opacities"][:, 0], colors=frame["colors"],
                         quats=frame["rotations"], scales=frame["scales"])
    as_covariances = Gaussians(means=ours.means, opacities=ours.opacities, colors=ours.colors,
                               covars=ours.covariances())
    camera = fixture_avatar.default_camera
    image, expected, from_covariances = (rasterize(g, camera, backend="cpu").image
                                         for g in (ours, original, as_covariances))
    assert (expected < 0.99).float().mean() > 0.05  # the avatar covers part of the image
    difference = (image - expected).abs()
    # Float round-off in the covariances; a Gaussian crossing the 1/255 alpha cut-off at some pixel could
    # change it by up to ~1/255, which stays below half a level of an 8-bit image.
    assert difference.max() < 2e-3 and difference.mean() < 1e-6
    assert (from_covariances - image).abs().max() < 1e-5


POINTS = 2 * FRAME_CHUNK + 700  # the per-frame work runs in chunks: two whole ones and a part


@pytest.fixture(scope="module")
def own_experiment(tmp_path_factory):
    return write_experiment(tmp_path_factory.mktemp("experiment"), num_points=POINTS, radius=0.004, seed=3)


def random_params(seed: int) -> FlameParams:
    generator = torch.Generator().manual_seed(seed)
    return FlameParams(torch.randn(50, generator=generator), 0.2 * torch.randn(5, 3, generator=generator),
                       0.1 * torch.randn(3, generator=generator))


def test_fast_path_matches_original_computation(own_experiment):
    experiment = open_experiment(own_experiment.train_dir, own_experiment.data_folder)
    avatar = PointAvatar.from_experiment(experiment)
    assert len(avatar) == POINTS and avatar.radius == pytest.approx(0.004)
    for seed in range(3):
        params = random_params(seed)
        original = original_frame(experiment.state_dict, experiment.radius, experiment.canonical_expression,
                                  experiment.canonical_jaw, params.expression, params.pose)
        # The original has no translation: IMavatar data moves its camera instead (world_mat), which moves the
        # Gaussians rigidly against it and leaves the network's input (posed minus canonical points) unchanged.
        original = dataclasses.replace(original, means=original.means + params.translation)
        assert_same_gaussians(avatar.gaussians(params), original, head_size(avatar))


def test_quaternions_are_normalised_over_points_not_per_point(own_experiment):
    """The original's quirk (spec Q1): each channel has unit norm over the points; the quaternions are tiny."""
    experiment = open_experiment(own_experiment.train_dir, own_experiment.data_folder)
    original = original_frame(experiment.state_dict, experiment.radius, experiment.canonical_expression,
                              experiment.canonical_jaw, torch.zeros(50), torch.zeros(5, 3))
    torch.testing.assert_close(original.quats.norm(dim=0), torch.ones(4))
    assert original.quats.norm(dim=1).max() < 0.5


def test_saved_avatar_loads_identical(own_experiment, tmp_path):
    avatar = load_avatar(own_experiment.train_dir, data_folder=own_experiment.data_folder)
    path = tmp_path / "avatar.npz"
    save_avatar(avatar, path)
    loaded = load_avatar(path)
    assert isinstance(loaded, PointAvatar)
    params = random_params(7)
    expected, got = avatar.gaussians(params), loaded.gaussians(params)
    for key in ("means", "opacities", "colors", "quats", "scales"):
        assert torch.equal(getattr(expected, key), getattr(got, key)), key
    assert loaded.timeline.names == avatar.timeline.names
    assert torch.equal(loaded.timeline.expression, avatar.timeline.expression)
    assert loaded.default_camera.fx == avatar.default_camera.fx
    assert torch.equal(loaded.head.landmarks["flame_contour"].face_ids, avatar.head.landmarks["flame_contour"].face_ids)


def test_head_model_is_the_checkpoints_flame(own_experiment):
    """The tracker fits this head model: its expression and jaw move the mesh, and its landmarks lie on it."""
    avatar = load_avatar(own_experiment.train_dir, data_folder=own_experiment.data_folder)
    head = avatar.head
    assert head.num_expressions == 50 and head.num_joints == 5
    assert head.landmarks["flame68"].face_ids.shape == (68,)
    assert head.landmarks["flame_contour"].bary.shape == (79, 17, 3)
