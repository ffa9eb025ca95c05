"""GemAvatar: FLAME parameters (+ eigen coefficients) -> Gaussians, original files through load_avatar, rendering."""
from __future__ import annotations

import pytest
import torch

from avatar import load_avatar
from avatar.demo import load_demo_avatar
from avatar.errors import AvatarError
from avatar.gem.avatar import GemAvatar
from avatar.gem.model import eigen_gaussians
from avatar.rasterizer import rasterize
from models.params import FlameParams
from models.rotation import axis_angle_to_matrix
from tests.test_gem_original import (FIXTURE_FILES, assert_matches, fixture_gem, needs_fixture, original_outputs,
                                     write_gem)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    return write_gem(tmp_path_factory.mktemp("gem"))  # (eigen file, track (F, P, K) in sigma units)


def posed_params(avatar: GemAvatar, eigen: torch.Tensor | None) -> FlameParams:
    params = FlameParams.neutral(avatar.head.num_expressions)
    params.pose[0] = torch.tensor([0.2, -0.5, 0.1])
    params.translation = torch.tensor([0.01, -0.02, 0.3])
    params.eigen = eigen
    return params


def test_gaussians_are_the_eigen_reconstruction_turned_about_the_root_joint(written):
    path, _ = written
    base = GemAvatar.from_original(path)
    generator = torch.Generator().manual_seed(0)
    mapped = torch.randn(base.zero_coefficients.shape, generator=generator)
    seen = []
    avatar = GemAvatar(base.model, base.head, base.default_camera, mapper=lambda p: seen.append(p) or mapped,
                       root_joint=torch.tensor([0.0, -0.03, -0.05]))
    eigen = torch.randn(mapped.shape, generator=generator)
    params = posed_params(avatar, eigen)
    gaussians = avatar.gaussians(params)
    assert seen == [params]

    unposed = eigen_gaussians(avatar.model, mapped + eigen)  # the mapper's coefficients plus the given ones
    rotation, joint = axis_angle_to_matrix(params.pose[0]), avatar.root_joint
    assert_matches(gaussians.means, (unposed.means - joint) @ rotation.T + joint + params.translation, "means")
    assert_matches(gaussians.quats, eigen_gaussians(avatar.model, mapped + eigen, avatar.root_transform(params)).quats,
                   "quats")
    assert (gaussians.quats[:, 0] >= 0).all()
    assert_matches(gaussians.scales, unposed.scales, "scales")
    assert_matches(gaussians.opacities, unposed.opacities, "opacities")
    assert torch.equal(gaussians.colors, avatar.model.colors)


def test_the_neck_turns_about_the_neck_joint_under_the_root(written):
    base = GemAvatar.from_original(written[0])
    root_joint, neck_joint = torch.tensor([0.0, -0.03, -0.05]), torch.tensor([0.0, -0.06, -0.02])
    avatar = GemAvatar(base.model, base.head, base.default_camera, root_joint=root_joint, neck_joint=neck_joint)
    params = FlameParams.neutral(avatar.head.num_expressions)
    params.pose[0], params.pose[1], params.translation = (torch.tensor([0.1, 0.3, -0.05]),
                                                          torch.tensor([-0.2, 0.1, 0.15]), torch.tensor([0.01, 0, 0]))
    rest = avatar.model.rest["geometry"]
    global_turn, neck_turn = axis_angle_to_matrix(params.pose[:2])
    turned = (rest - neck_joint) @ neck_turn.T + neck_joint
    expected = (turned - root_joint) @ global_turn.T + root_joint + params.translation
    assert_matches(avatar.gaussians(params).means, expected, "means")
    without_neck = GemAvatar(base.model, base.head, base.default_camera, root_joint=root_joint)
    assert_matches(without_neck.gaussians(params).means,  # no neck joint known: the neck turns about the root's
                   (rest - root_joint) @ (global_turn @ neck_turn).T + root_joint + params.translation, "means")


def test_without_mapper_or_eigen_it_is_the_mean_face_and_frozen_gaussians_hold(written):
    avatar = GemAvatar.from_original(written[0])
    params = FlameParams.neutral(avatar.head.num_expressions)
    assert_matches(avatar.gaussians(params).means, avatar.model.rest["geometry"], "means")
    params.eigen = 3 * torch.ones(avatar.zero_coefficients.shape)
    avatar.frozen_gaussians = avatar.model.gaussians_of_parts(["scalp"])
    means = avatar.gaussians(params).means
    frozen = avatar.frozen_gaussians
    assert_matches(means[frozen], avatar.model.rest["geometry"][frozen], "frozen means")
    assert not torch.isclose(means[~frozen], avatar.model.rest["geometry"][~frozen]).all()


def test_the_timeline_plays_the_coefficient_track(written):
    path, track = written
    avatar = GemAvatar.from_original(path)
    assert len(avatar.timeline) == track.shape[0] and avatar.timeline.expression.shape[1] == avatar.head.num_expressions
    for index in (0, len(avatar.timeline) - 1):
        frame = avatar.timeline.frame(index)
        assert not frame.pose.any() and not frame.translation.any() and not frame.expression.any()
        assert_matches(avatar.gaussians(frame).means, eigen_gaussians(avatar.model, track[index]).means, "means")


def test_the_default_camera_looks_along_minus_z_and_frames_the_head(written):
    avatar = GemAvatar.from_original(written[0])
    camera = avatar.default_camera
    assert (camera.width, camera.height) == (512, 512)
    assert torch.allclose(camera.world_to_camera[:3, :3], torch.diag(torch.tensor([1.0, -1.0, -1.0])))
    points = avatar.model.rest["geometry"] @ camera.world_to_camera[:3, :3].T + camera.world_to_camera[:3, 3]
    u, v = camera.fx * points[:, 0] / points[:, 2] + camera.cx, camera.fy * points[:, 1] / points[:, 2] + camera.cy
    assert (points[:, 2] > 0.9).all() and (u > 0).all() and (u < 511).all() and (v > 0).all() and (v < 511).all()
    assert max(float(u.max() - u.min()), float(v.max() - v.min())) > 0.6 * 512  # fills most of the image


def test_a_render_is_finite_and_shows_the_head(written):
    avatar = GemAvatar.from_original(written[0])
    render = rasterize(avatar.gaussians(avatar.timeline.frame(2)), avatar.default_camera, backend="cpu")
    assert torch.isfinite(render.image).all() and render.image.shape == (512, 512, 3)
    assert render.alpha[206:306, 206:306].mean() > 0.3 and render.alpha[:20, :20].max() < 0.01  # head, then white
    assert (render.image.sum(-1) < 2.5).float().mean() > 0.05


@needs_fixture
def test_the_original_fixture_loads_through_load_avatar_with_its_refined_basis():
    avatar = load_avatar(FIXTURE_FILES["parts"])
    assert isinstance(avatar, GemAvatar) and avatar.mapper is None and not avatar.root_joint.any()
    demo = load_demo_avatar()
    assert torch.equal(avatar.head.v_template, demo.head.v_template)
    assert avatar.expression_range == demo.expression_range
    refined = fixture_gem("parts", True).model
    assert torch.equal(avatar.model.bases["rotation"][3].components, refined.bases["rotation"][3].components)
    assert len(avatar.timeline) == 60

    # Frame 0 of the timeline is the original's reconstruction of its coefficient track's frame 0 (made with the
    # .ptk basis; its root is None there, so its quaternions keep their sign; ours have a root, so w >= 0).
    case = next(case for case in original_outputs()["cases"] if case["name"] == "parts/gt_frame0")
    assert not case["refined"]
    unrefined = GemAvatar.from_original(FIXTURE_FILES["parts"], regressor=False)
    gaussians = unrefined.gaussians(unrefined.timeline.frame(0))
    assert_matches(gaussians.means, case["out"]["means3D"], "means")
    expected = case["out"]["rotation"] * torch.where(case["out"]["rotation"][:, :1] < 0, -1.0, 1.0)
    assert_matches(gaussians.quats, expected, "quats")


@needs_fixture
def test_load_avatar_refuses_the_coefficient_track_in_one_line():
    track = FIXTURE_FILES["full"].with_name("SYNTH_coeffs.ptk")
    with pytest.raises(AvatarError) as info:
        load_avatar(track)
    message = str(info.value)
    assert "\n" not in message and "coefficient track" in message and message.endswith("SYNTH.ptk instead")
