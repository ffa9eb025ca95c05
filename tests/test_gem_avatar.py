"""GemAvatar: FLAME parameters (+ eigen coefficients) -> Gaussians, original files through load_avatar, rendering."""
from __future__ import annotations

import pytest
import torch

from avatar import load_avatar
from avatar.demo import load_demo_avatar
from avatar.gem.avatar import GemAvatar
from avatar.gem.mapper import EigenMapper
from avatar.gem.model import CHANNELS, eigen_gaussians
from avatar.splatting.gaussians import Gaussians
from avatar.splatting.rasterizer import rasterize
from models.errors import AvatarError
from models.params import FlameParams, FlameSequence
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


# --- on another device, bases in half precision (GemAvatar.to) ---

@pytest.fixture(scope="module")
def driven(written):
    """The written GEM with every buffer an avatar can hold: a fitted EigenMapper, root and neck joints, frozen
    Gaussians; and its timeline."""
    path, track = written
    base = GemAvatar.from_original(path)
    generator = torch.Generator().manual_seed(3)
    frames, num_expressions = track.shape[0], base.head.num_expressions
    flame = FlameSequence(torch.randn(frames, num_expressions, generator=generator),
                          0.2 * torch.randn(frames, 5, 3, generator=generator), torch.zeros(frames, 3),
                          names=tuple(map(str, range(frames))))
    return GemAvatar(base.model, base.head, base.default_camera, mapper=EigenMapper.fit(flame, track),
                     root_joint=torch.tensor([0.0, -0.03, -0.05]), neck_joint=torch.tensor([0.0, -0.06, -0.02]),
                     frozen_gaussians=base.model.gaussians_of_parts(["scalp"]), timeline=base.timeline)


def driving_params(avatar: GemAvatar) -> FlameParams:
    """A turned, moved head with an expression, jaw, eyes and eigen coefficients: every part of a frame runs."""
    generator = torch.Generator().manual_seed(4)
    params = posed_params(avatar, torch.randn(avatar.zero_coefficients.shape, generator=generator))
    params.expression = torch.randn(avatar.head.num_expressions, generator=generator)
    params.pose[1:] = 0.2 * torch.randn(4, 3, generator=generator)
    return params


def rounding_bounds(avatar: GemAvatar, params: FlameParams, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """(N,) per Gaussian, how far rounding the sigma-scaled rows to `dtype` may move each output (2-norm over its
    channels). Rounding to a unit roundoff u moves each product term c_k (sigma_k B_k) by at most u of it (of the
    smallest normal number where an entry is subnormal), and the rounded coefficients, the rounded product and
    its accumulation at that precision add as much each: 4u sum_k |c_k| (|sigma_k B_k| + tiny) in all. The
    root's rotation keeps these norms; normalising a quaternion q scales its error by at most 2 / |q|. The float32
    result itself is rounded to 2 float32 ulps of its values (the rows' deformations can be far below them)."""
    u, tiny = torch.finfo(dtype).eps / 2, torch.finfo(dtype).tiny
    model = avatar.model
    coefficients = avatar.mapper(params) + params.eigen
    bounds = {}
    for attribute, slice_ in model.coefficient_slices().items():
        bound = torch.cat([(coefficients[p, slice_].abs() @ (basis.scaled.abs() + tiny)).view(-1, CHANNELS[attribute])
                           for p, basis in enumerate(model.bases[attribute])]).norm(dim=1)
        bounds[attribute] = torch.where(avatar.frozen_gaussians, 0.0, 4 * u * bound)
    rotations = torch.cat([(basis.mean + coefficients[p, model.coefficient_slices()["rotation"]] @ basis.scaled)
                           .view(-1, 4) for p, basis in enumerate(model.bases["rotation"])])  # before normalising
    bounds["rotation"] = bounds["rotation"] * 2 / rotations.norm(dim=1)
    return bounds


def assert_within(gaussians: Gaussians, expected: Gaussians, bounds: dict[str, torch.Tensor], ulps: int = 2) -> None:
    """Per Gaussian and attribute: |actual - expected| <= its bound + `ulps` float32 ulps of |expected|; float32."""
    for name, attribute in (("means", "geometry"), ("scales", "scales"), ("opacities", "opacity"),
                            ("quats", "rotation")):
        assert getattr(gaussians, name).dtype == torch.float32, name
        bound = bounds[attribute]
        actual = getattr(gaussians, name).cpu().reshape(len(bound), -1).double()
        wanted = getattr(expected, name).reshape(len(bound), -1).double()
        if name == "quats":  # q and -q are one rotation: where w is near 0, rounding may pick either
            actual = torch.where((actual * wanted).sum(1, keepdim=True) < 0, -actual, actual)
        error = (actual - wanted).norm(dim=1)
        allowed = bound + ulps * torch.finfo(torch.float32).eps * wanted.norm(dim=1)
        worst = int((error / allowed).argmax())
        assert (error <= allowed).all(), (f"{name}: Gaussian {worst} off by {error[worst]:.3g}, allowed "
                                          f"{allowed[worst]:.3g}")


def test_to_the_same_device_in_float32_is_exact_and_leaves_the_original_alone(driven):
    params = driving_params(driven)
    before = driven.gaussians(params)
    moved = driven.to("cpu")
    after = moved.gaussians(params)
    for name in ("means", "quats", "scales", "opacities", "colors"):
        assert torch.equal(getattr(after, name), getattr(before, name)), name

    half = driven.to("cpu", torch.float16)
    assert half.mapper is not driven.mapper and half.model is not driven.model and half.timeline is driven.timeline
    assert half.head is driven.head and half.default_camera is driven.default_camera
    for bases, original in zip(half.model.bases.values(), driven.model.bases.values()):
        for basis, kept in zip(bases, original):
            assert basis.scaled.dtype == torch.float16 and kept.scaled.dtype == torch.float32
            assert basis.components.dtype == basis.mean.dtype == torch.float32  # the stored basis and means as built
    again = driven.gaussians(params)  # the original is untouched
    for name in ("means", "quats", "scales", "opacities"):
        assert torch.equal(getattr(again, name), getattr(before, name)), name


@pytest.mark.parametrize("dtype", [None, torch.float16])
def test_what_a_frame_reads_moves_and_it_needs_nothing_else_from_the_cpu(driven, dtype):
    """On PyTorch's meta device (shapes, no data) a CPU tensor mixed into a computation raises, as on CUDA."""
    moved = driven.to("meta", dtype)
    model, mapper = moved.model, moved.mapper
    buffers = {"colors": model.colors, "tex_map": model.tex_map, "zero_coefficients": moved.zero_coefficients,
               "root_joint": moved.root_joint, "neck_joint": moved.neck_joint,
               "frozen_gaussians": moved.frozen_gaussians, "mapper.weight": mapper.weight, "mapper.bias": mapper.bias,
               **{f"rest[{attribute}]": rest for attribute, rest in model.rest.items()}}
    for attribute, bases in model.bases.items():
        for p, basis in enumerate(bases):
            buffers |= {f"{attribute}[{p}].{name}": getattr(basis, name) for name in ("mean", "scaled")}
            # what only projecting and saving read stays on the CPU: no second copy of the basis on the device
            assert basis.components.device.type == basis.sigma.device.type == "cpu"
    assert {name for name, tensor in buffers.items() if not tensor.is_meta} == set()
    assert moved.head.v_template.device.type == "cpu" and moved.timeline.expression.device.type == "cpu"
    gaussians = moved.gaussians(driving_params(driven))  # parameters on the CPU, as the tracker makes them
    assert all(getattr(gaussians, name).is_meta and getattr(gaussians, name).dtype == torch.float32
               for name in ("means", "quats", "scales", "opacities", "colors"))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_bases_stay_within_their_rounding_and_give_float32(driven, dtype):
    params = driving_params(driven)
    expected = driven.gaussians(params)
    gaussians = driven.to("cpu", dtype).gaussians(params)
    bounds = rounding_bounds(driven, params, dtype)
    assert_within(gaussians, expected, bounds)
    moved = (gaussians.means - expected.means).norm(dim=1)
    assert moved[~driven.frozen_gaussians].max() > 0  # the rows were rounded: not the float32 path again
    # what is allowed is a small part of how far these coefficients move the Gaussians: a wrong slice or row is not
    coefficients = driven.mapper(params) + params.eigen
    deformation = (eigen_gaussians(driven.model, coefficients).means - driven.model.rest["geometry"]).norm(dim=1)
    assert bounds["geometry"].max() < 0.05 * deformation.max()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("dtype", [None, torch.float16])
def test_on_cuda_the_gaussians_are_the_cpu_ones(driven, dtype):
    params = driving_params(driven)  # on the CPU, as the tracker and the sliders make them
    expected = driven.gaussians(params)
    on_gpu = driven.to("cuda", dtype)
    gaussians = on_gpu.gaussians(params)
    assert all(getattr(gaussians, name).is_cuda for name in ("means", "quats", "scales", "opacities", "colors"))
    # CUDA's sin, cos and square roots, and its order of summation, may differ from the CPU's by a few ulps
    assert_within(gaussians, expected, rounding_bounds(driven, params, torch.float32 if dtype is None else dtype),
                  ulps=16)
    render = rasterize(gaussians, on_gpu.default_camera, backend="cpu")  # switching the window to the CPU backend
    assert render.image.is_cuda and torch.isfinite(render.image).all()


def test_launch_moves_a_gem_to_the_gpu_only_for_a_cuda_renderer(driven, monkeypatch):
    import launch

    def settings(*options):
        return launch.settings_from(["--gem", *options])

    assert settings("--fp16").fp16 and not settings().fp16
    assert launch.on_renderer_device(driven, settings("--fp16", "--renderer", "cpu")) is driven
    monkeypatch.setattr("avatar.splatting.rasterizer.resolve_backend", lambda backend: "inria")  # as where CUDA is
    monkeypatch.setattr("avatar.splatting.rasterizer.GPU", "meta")  # meta stands in for the GPU
    moved = launch.on_renderer_device(driven, settings("--fp16"))
    assert moved.device.type == "meta" and moved.model.bases["geometry"][0].scaled.dtype == torch.float16
