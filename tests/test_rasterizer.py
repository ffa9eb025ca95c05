"""The rasterizer: our CPU path against the brute-force 3DGS reference, and outcomes that have one right answer."""
import collections
import importlib.util
import math
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from avatar.splatting.gaussians import Gaussians
from avatar.splatting.rasterizer import Render, available_backends, rasterize
from avatar.splatting.rasterizer.gsplat_backend import gsplat_arguments
from avatar.splatting.rasterizer.reference import (bin_reference, composite_reference, project_reference,
                                                   rasterize_reference)
from avatar.splatting.rasterizer.render import NEAR
from models.camera import Camera, to_3dgs

WHITE = torch.ones(3)


def random_scene(n: int, width: int, height: int, seed: int, covars: bool = False) -> tuple[Gaussians, Camera]:
    """n Gaussians around a point 2.5 units in front of an oblique camera with an off-centre principal point:
    anisotropic shapes, some partly off-screen, some behind the near plane, opacities up to 1."""
    g = torch.Generator().manual_seed(seed)
    view = Camera.look_at((1.0, -0.5, -2.2), (0.0, 0.0, 0.3), (0.0, -1.0, 0.0), width, height, 1.0).world_to_camera
    camera = Camera(width, height, 0.8 * width, 0.9 * width, 0.43 * width + 0.3, 0.58 * height - 0.2, view)
    means = torch.randn(n, 3, generator=g) * torch.tensor([0.9, 0.7, 0.8]) + torch.tensor([0.0, 0.0, 0.3])
    # a few between the camera and its near plane, and behind it
    means[:8] = camera.position + torch.randn(8, 3, generator=g) * 0.1
    opacities = torch.rand(n, generator=g)
    opacities[: n // 4] = 0.95 + 0.05 * torch.rand(n // 4, generator=g)
    colors = torch.rand(n, 3, generator=g)
    scales = torch.exp(torch.randn(n, 3, generator=g) * 0.8 - 3.5)
    quats = torch.nn.functional.normalize(torch.randn(n, 4, generator=g), dim=1)
    if not covars:
        return Gaussians(means, opacities, colors, quats, scales), camera
    shapes = torch.randn(n, 3, 3, generator=g) * scales[:, :, None]
    sigma = shapes @ shapes.transpose(1, 2)
    sigma[-5:] = torch.diag_embed(torch.tensor([1.0, -1.0, 0.5]) * 0.05)  # indefinite: drawn without an ellipse,
    opacities[-5:] = 1.0  # and opaque enough for alpha's cap of 0.99
    return Gaussians(means, opacities, colors, covars=sigma), camera


def assert_matches_reference(gaussians: Gaussians, camera: Camera, background: torch.Tensor = WHITE) -> Render:
    """Equal to 1e-4 on every pixel."""
    render = rasterize(gaussians, camera, background, backend="cpu")
    expected = rasterize_reference(gaussians, camera, background)
    assert (render.image.double() - expected.image).abs().max() < 1e-4
    assert (render.alpha.double() - expected.alpha).abs().max() < 1e-4
    depth_error = (render.depth.double() - expected.depth).abs() / expected.depth.abs().clamp(min=1.0)
    assert depth_error.max() < 1e-4
    return expected


def stages(gaussians: Gaussians, camera: Camera) -> tuple:
    """cpu.py's stages and reference.py's, one by one: (cpu table, cpu rects, cpu tile lists, reference
    projection, reference tile lists)."""
    from avatar.splatting.rasterizer.cpu import bin_cpu, project_cpu

    table, rects, room = project_cpu(gaussians, camera)
    table, rects = table.copy(), rects.copy()
    tile_starts, tile_entries = bin_cpu(table, rects, room, camera.width, camera.height)
    listed = [tile_entries[start:end].astype(np.int64) for start, end in zip(tile_starts[:-1], tile_starts[1:])]
    projection = project_reference(gaussians, camera)
    return table, rects, listed, projection, bin_reference(projection, camera.width, camera.height)


@pytest.mark.parametrize("covars", [False, True])
def test_each_stage_of_the_cpu_rasterizer_is_its_reference_stage(covars):
    """Projection, binning and compositing compared one by one (as gsplat tests its stages against their torch
    references), so that a failure names its stage."""
    from avatar.splatting.rasterizer.cpu import QA, QB, QC, U, V, Z, composite_cpu

    gaussians, camera = random_scene(600, 80, 64, seed=11, covars=covars)
    table, rects, listed, projection, reference_listed = stages(gaussians, camera)
    g = gaussians.to(torch.float64)

    # Projection: the same Gaussians drawn (the CPU path also drops those too faint for alpha >= 1/255), at the
    # same pixel, depth and conic, in the same tile rectangle.
    drawn, reference_drawn = rects[:, 1] > rects[:, 0], projection.tiles[:, 1] > projection.tiles[:, 0]
    assert not np.any(drawn & ~reference_drawn)
    assert np.all(g.opacities.numpy()[reference_drawn & ~drawn] < 1 / 255)
    assert drawn.sum() > 400
    assert np.array_equal(rects[drawn], projection.tiles[drawn])
    for column, expected in ((U, projection.pixel_x), (V, projection.pixel_y), (Z, projection.depth)):
        assert np.allclose(table[drawn, column], expected[drawn], rtol=1e-12, atol=1e-9)
    # (to float32's precision: Gaussians.covariances() normalises a quaternion that 3DGS, and cpu.py, take as is)
    conic, expected = table[drawn][:, [QA, QB, QC]], projection.conic[drawn]
    assert np.all(np.abs(conic - expected) <= 1e-6 * np.abs(expected).max(axis=1, keepdims=True))

    # Binning: each tile lists a subset of the reference's list, in its order; what it leaves out cannot pass
    # alpha >= 1/255 on any pixel of that tile.
    grid_x = (camera.width + 15) // 16
    dropped = 0
    for tile, (ours, theirs) in enumerate(zip(listed, reference_listed)):
        theirs = theirs[drawn[theirs]]  # the faint ones are in no list of ours
        position = {int(i): k for k, i in enumerate(theirs)}
        assert all(int(i) in position for i in ours)
        assert [position[int(i)] for i in ours] == sorted(position[int(i)] for i in ours)
        top, left = (tile // grid_x) * 16, (tile % grid_x) * 16
        for i in set(theirs.tolist()) - set(ours.tolist()):
            dx = projection.pixel_x[i] - np.arange(left, min(left + 16, camera.width))[None, :]
            dy = projection.pixel_y[i] - np.arange(top, min(top + 16, camera.height))[:, None]
            qa, qb, qc = projection.conic[i]
            power = -0.5 * (qa * dx * dx + qc * dy * dy) - qb * dx * dy
            assert (g.opacities[i].item() * np.exp(power)).max() < 1 / 255
            dropped += 1
    assert dropped > 0  # the ellipse test did drop tiles: the check above was exercised

    # Compositing: the CPU kernel on its lists is the reference compositing on the same lists.
    from avatar.splatting.rasterizer.cpu import bin_cpu, project_cpu

    table, rects, room = project_cpu(gaussians, camera)
    tile_starts, tile_entries = bin_cpu(table, rects, room, camera.width, camera.height)
    ours = composite_cpu(table, tile_starts, tile_entries, camera.width, camera.height, WHITE)
    theirs = composite_reference(projection, listed, g.opacities.numpy(), g.colors.numpy(), np.ones(3),
                                 camera.width, camera.height)
    assert (ours.image.double() - theirs.image).abs().max() < 1e-5
    assert (ours.alpha.double() - theirs.alpha).abs().max() < 1e-5


def test_3dgs_matrices_project_onto_the_pinhole_pixel():
    """3DGS maps p_hom = full_proj p to pixels by ((ndc + 1) W - 1) / 2: with to_3dgs's matrices that is
    u = fx x / z + cx (what the CPU path and the reference use), and tan_fov gives back fx as 3DGS's focal."""
    gaussians, camera = random_scene(200, 97, 61, seed=11)
    viewmatrix, full_proj, tan_fovx, tan_fovy = to_3dgs(camera)
    homogeneous = torch.cat([gaussians.means, torch.ones(len(gaussians), 1)], dim=1).double()
    p_view, p_hom = homogeneous @ viewmatrix.double(), homogeneous @ full_proj.double()
    in_front = p_view[:, 2] > 0.2
    ndc = p_hom[:, :2] / p_hom[:, 3:]
    pixels = ((ndc + 1) * torch.tensor([camera.width, camera.height]) - 1) / 2
    x, y, z = p_view[:, :3].T
    pinhole = torch.stack([camera.fx * x / z + camera.cx, camera.fy * y / z + camera.cy], dim=1)
    assert (pixels - pinhole)[in_front].abs().max() < 1e-4
    assert camera.width / (2 * tan_fovx) == pytest.approx(camera.fx)
    assert camera.height / (2 * tan_fovy) == pytest.approx(camera.fy)


@pytest.mark.parametrize("seed, width, height", [(0, 97, 61), (1, 64, 80), (2, 130, 45)])
def test_cpu_matches_reference_quaternions(seed, width, height):
    gaussians, camera = random_scene(1500, width, height, seed)
    expected = assert_matches_reference(gaussians, camera)
    assert 0.2 < (expected.alpha > 0.5).double().mean() < 0.99  # a scene with both cover and background
    x, y, z = (gaussians.means @ camera.world_to_camera[:3, :3].T + camera.world_to_camera[:3, 3]).T
    u = camera.fx * x / z + camera.cx
    assert (z <= 0.2).any() and ((z > 0.2) & ((u < 0) | (u >= width))).any()  # culled ones, off-screen ones


def test_cpu_matches_reference_covariances_and_background():
    gaussians, camera = random_scene(1500, 83, 70, seed=3, covars=True)
    assert_matches_reference(gaussians, camera, torch.tensor([0.1, 0.5, 0.9]))


def test_cpu_matches_reference_where_pixels_saturate():
    gaussians, camera = random_scene(4000, 72, 56, seed=4)
    gaussians.opacities[:] = 0.9 + 0.1 * torch.rand(len(gaussians), generator=torch.Generator().manual_seed(5))
    expected = assert_matches_reference(gaussians, camera)
    assert (expected.alpha > 1 - 1e-3).double().mean() > 0.3  # the T < 1e-4 stop decides many pixels


def test_cpu_matches_reference_on_long_thin_tilted_gaussians():
    # Needles at many angles, 3 mm wide and up to 1 m long, a few pixels to a few hundred across: rows whose
    # span jumps far from the row above; and faint ones (opacity just above 1/255), whose rows are under a pixel
    # wide, so that some rows hold no pixel between rows that do: exp(power), carried from row to row, must
    # start afresh after them.
    g = torch.Generator().manual_seed(12)
    n = 60
    camera = Camera(160, 120, 150.0, 150.0, 80.0, 60.0, torch.eye(4))
    angles = torch.rand(n, generator=g) * math.pi
    lengths = torch.exp(torch.rand(n, generator=g) * 4.0 - 3.5)
    quats = torch.stack([torch.cos(angles / 2), 0 * angles, 0 * angles, torch.sin(angles / 2)], dim=1)  # about z
    scales = torch.stack([lengths, torch.full((n,), 0.003), torch.full((n,), 0.003)], dim=1)
    means = torch.rand(n, 3, generator=g) * torch.tensor([1.6, 1.2, 1.0]) - torch.tensor([0.8, 0.6, -1.5])
    opacities = torch.where(torch.arange(n) % 2 == 0, 0.3 + 0.7 * torch.rand(n, generator=g), 0.0045)
    gaussians = Gaussians(means, opacities, torch.rand(n, 3, generator=g), quats, scales)
    expected = assert_matches_reference(gaussians, camera, torch.zeros(3))
    assert (expected.alpha > 0.1).double().mean() > 0.1


def one_gaussian(position, scale: float, opacity: float, color) -> tuple[Gaussians, Camera]:
    """An isotropic Gaussian seen by an 80x64 camera at the origin looking down +z, principal point (40, 30)."""
    camera = Camera(80, 64, 100.0, 100.0, 40.0, 30.0, torch.eye(4))
    gaussians = Gaussians(
        torch.tensor([position]), torch.tensor([opacity]), torch.tensor([color]),
        torch.tensor([[1.0, 0.0, 0.0, 0.0]]), torch.full((1, 3), scale),
    )
    return gaussians, camera


def joined(*parts: Gaussians) -> Gaussians:
    names = ("means", "opacities", "colors", "quats", "scales")
    return Gaussians(*(torch.cat([getattr(g, name) for g in parts]) for name in names))


def test_single_gaussian_peaks_on_its_pixel():
    # 3D point (0.2, -0.1, 2) projects to u = 100 * 0.2 / 2 + 40 = 50, v = 100 * -0.1 / 2 + 30 = 25
    gaussians, camera = one_gaussian([0.2, -0.1, 2.0], scale=0.03, opacity=0.7, color=[0.2, 0.4, 0.9])
    render = rasterize(gaussians, camera, torch.tensor([1.0, 0.5, 0.0]), backend="cpu")
    peak = divmod(int(render.alpha.argmax()), camera.width)
    assert peak == (25, 50)
    expected = 0.7 * torch.tensor([0.2, 0.4, 0.9]) + 0.3 * torch.tensor([1.0, 0.5, 0.0])
    torch.testing.assert_close(render.image[25, 50], expected, rtol=0, atol=1e-6)
    assert render.alpha[25, 50].item() == pytest.approx(0.7, abs=1e-6)
    assert render.depth[25, 50].item() == pytest.approx(0.7 * 2.0, abs=1e-6)
    # far from it, the background, untouched
    torch.testing.assert_close(render.image[0, 0], torch.tensor([1.0, 0.5, 0.0]))
    assert render.alpha[0, 0] == 0 and render.depth[0, 0] == 0


def test_gaussian_is_drawn_over_its_whole_tile_rectangle_not_only_its_radius():
    # on the optical axis: cov2D = (fx s / z)^2 I + 0.3 I = 25 I, radius = ceil(3 sqrt(25 + sqrt(0.1))) = 16.
    # Pixel (56, 32) is 16.12 px from the centre (40, 30): outside the radius, inside the tiles listed,
    # and its alpha 0.99 exp(-0.5 * 260 / 25) passes 1/255, so 3DGS draws it.
    gaussians, camera = one_gaussian([0.0, 0.0, 2.0], scale=math.sqrt(24.7) / 50, opacity=0.99, color=[1.0, 1.0, 1.0])
    render = rasterize(gaussians, camera, backend="cpu")
    assert render.alpha[32, 56].item() == pytest.approx(0.99 * math.exp(-5.2), rel=1e-5)
    assert render.alpha[30, 57] == 0  # 17 px away: alpha 0.99 exp(-5.78) < 1/255


def test_gaussian_before_the_near_plane_is_culled():
    in_front, camera = one_gaussian([0.0, 0.0, 0.21], scale=0.01, opacity=0.9, color=[1.0, 0.0, 0.0])
    too_near, _ = one_gaussian([0.0, 0.0, 0.19], scale=0.01, opacity=0.9, color=[1.0, 0.0, 0.0])
    assert rasterize(in_front, camera, backend="cpu").alpha.max() > 0.8
    render = rasterize(too_near, camera, backend="cpu")
    assert render.alpha.max() == 0
    assert (render.image == 1).all()


def test_near_red_hides_far_green_whatever_their_order():
    red, camera = one_gaussian([0.0, 0.0, 1.0], scale=0.2, opacity=0.99, color=[1.0, 0.0, 0.0])
    green, _ = one_gaussian([0.0, 0.0, 3.0], scale=0.5, opacity=0.99, color=[0.0, 1.0, 0.0])
    for first, second in ((red, green), (green, red)):
        pixel = rasterize(joined(first, second), camera, backend="cpu").image[30, 40]
        torch.testing.assert_close(pixel, torch.tensor([0.99, 0.0099, 0.0]), rtol=0, atol=2e-4)


def test_a_saturated_pixel_ignores_what_lies_behind():
    # T after two 0.99 layers is 1e-4; the third layer would take it below 1e-4, so 3DGS stops before adding it
    red, camera = one_gaussian([0.0, 0.0, 1.0], scale=0.3, opacity=0.99, color=[1.0, 0.0, 0.0])
    green, _ = one_gaussian([0.0, 0.0, 2.0], scale=0.3, opacity=0.99, color=[0.0, 1.0, 0.0])
    images = []
    for third_color in ([0.0, 0.0, 1.0], [1.0, 1.0, 1.0]):
        third, _ = one_gaussian([0.0, 0.0, 3.0], scale=0.3, opacity=0.99, color=third_color)
        images.append(rasterize(joined(red, green, third), camera, torch.zeros(3), backend="cpu").image[30, 40])
    assert images[0][1].item() == pytest.approx(0.99 * 0.01, rel=1e-3)  # the second layer is in
    assert images[0][2] == 0 and torch.equal(images[0], images[1])  # the third is not


def test_covariances_draw_what_quaternions_and_scales_draw():
    gaussians, camera = random_scene(500, 64, 48, seed=6)
    as_covars = Gaussians(gaussians.means, gaussians.opacities, gaussians.colors, covars=gaussians.covariances())
    a, b = rasterize(gaussians, camera, backend="cpu"), rasterize(as_covars, camera, backend="cpu")
    assert (a.image - b.image).abs().max() < 1e-5


def test_render_shapes_and_types():
    gaussians, camera = random_scene(50, 33, 17, seed=7)
    render = rasterize(gaussians, camera)
    assert render.image.shape == (17, 33, 3) and render.alpha.shape == (17, 33) and render.depth.shape == (17, 33)
    assert render.image.dtype == render.alpha.dtype == render.depth.dtype == torch.float32


def test_empty_scene_is_background():
    _, camera = one_gaussian([0.0, 0.0, 1.0], scale=0.1, opacity=0.5, color=[1.0, 1.0, 1.0])
    empty = Gaussians(torch.zeros(0, 3), torch.zeros(0), torch.zeros(0, 3), torch.zeros(0, 4), torch.zeros(0, 3))
    render = rasterize(empty, camera, torch.tensor([0.2, 0.3, 0.4]), backend="cpu")
    assert (render.image == torch.tensor([0.2, 0.3, 0.4])).all() and (render.alpha == 0).all()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only choice of backend")
def test_without_cuda_only_cpu_is_offered_and_cuda_backends_say_what_to_install():
    assert available_backends() == ["cpu"]
    with pytest.raises(ValueError, match="diff-gaussian-rasterization"):
        rasterize(*random_scene(10, 16, 16, seed=9), backend="inria")
    with pytest.raises(ValueError, match="pip install gsplat"):
        rasterize(*random_scene(10, 16, 16, seed=9), backend="gsplat")
    with pytest.raises(ValueError, match="unknown rasterizer backend"):
        rasterize(*random_scene(10, 16, 16, seed=9), backend="opengl")
    # Importing gsplat without CUDA logs CUDA_HOME noise: finding the backends does not (in a fresh process: other
    # tests import gsplat's pure-torch parts).
    imported = subprocess.run([sys.executable, "-c", "import sys; from avatar.splatting.rasterizer import "
                               "available_backends; available_backends(); print('gsplat' in sys.modules)"],
                              capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent, check=True)
    assert imported.stdout.strip() == "False"


THREADS_AT_ONCE = """
import sys, threading
import torch
from avatar.splatting.rasterizer import rasterize
from tests.test_rasterizer import random_scene
scene = random_scene(2000, 96, 96, seed=1)
def frames():
    for _ in range(20):
        rasterize(*scene, backend="cpu")
threads = [threading.Thread(target=frames) for _ in range(3)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
import numba
print(numba.threading_layer())
"""


def test_the_cpu_rasterizer_can_be_called_from_several_threads_at_once():
    """The window renders while its export renders. Under numba's workqueue threading layer (where neither TBB
    nor OpenMP is installed) two parallel kernels launched at once abort the whole process: the rasterizer runs
    one frame at a time."""
    import os

    result = subprocess.run([sys.executable, "-c", THREADS_AT_ONCE], capture_output=True, text=True, timeout=300,
                            cwd=Path(__file__).resolve().parent.parent,
                            env={**os.environ, "NUMBA_THREADING_LAYER": "workqueue"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "workqueue"


def test_image_only_is_the_same_image_without_alpha_and_depth():
    gaussians, camera = random_scene(300, 48, 40, seed=6)
    full, image_only = rasterize(gaussians, camera, backend="cpu"), rasterize(gaussians, camera, backend="cpu",
                                                                             image_only=True)
    assert torch.equal(image_only.image, full.image) and image_only.alpha is None and image_only.depth is None


def test_the_inria_adapter_draws_its_depth_and_alpha_pass_only_when_asked(monkeypatch):
    """Counted through a stand-in for diff_gaussian_rasterization's two names (the real one needs CUDA)."""
    passes = []

    class Rasterizer:
        def __init__(self, settings):
            self.settings = settings

        def __call__(self, colors_precomp, **inputs):
            passes.append(colors_precomp)
            return torch.zeros(3, self.settings.image_height, self.settings.image_width), None

    module = types.ModuleType("diff_gaussian_rasterization")
    module.GaussianRasterizer = Rasterizer
    module.GaussianRasterizationSettings = collections.namedtuple("GaussianRasterizationSettings", [
        "image_height", "image_width", "tanfovx", "tanfovy", "bg", "scale_modifier", "viewmatrix", "projmatrix",
        "sh_degree", "campos", "prefiltered", "debug"])
    monkeypatch.setitem(sys.modules, "diff_gaussian_rasterization", module)
    # a copy of the adapter of its own, over the stand-in: the real one stays as it is for the CUDA tests
    original = importlib.util.find_spec("avatar.splatting.rasterizer.inria_backend").origin
    spec = importlib.util.spec_from_file_location("inria_over_a_stand_in", original)
    adapter = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(adapter)
    rasterize_inria = adapter.rasterize_inria

    gaussians, camera = random_scene(50, 32, 24, seed=7)
    image = rasterize_inria(gaussians, camera, WHITE, image_only=True)
    assert len(passes) == 1 and torch.equal(passes[0], gaussians.colors) and image.alpha is None
    render = rasterize_inria(gaussians, camera, WHITE)
    assert len(passes) == 3 and render.alpha.shape == render.depth.shape == (24, 32)
    assert torch.equal(passes[2][:, 1], torch.ones(50))  # the second pass: (z, 1, 0), its sums depth and alpha


def test_gsplat_projects_what_our_adapter_hands_it_as_3dgs_does():
    """gsplat's own pure-torch projection, run on the CPU on exactly the arguments our adapter hands
    gsplat.rasterization, lands where the 3DGS reference projection does: the half-pixel shift of the principal
    point, covariances (not quaternions), the low-pass filter and the near plane, checked without a GPU."""
    torch_impl = pytest.importorskip("gsplat.cuda._torch_impl")
    scene, camera = random_scene(600, 97, 61, seed=4)  # off-centre principal point, some behind the camera
    # and two on the optical axis, just before and just beyond the near plane
    ahead = camera.position + torch.tensor([[NEAR - 0.05], [NEAR + 0.05]]) * camera.world_to_camera[2, :3]
    two = (ahead, torch.ones(2), torch.ones(2, 3), torch.tensor([[1.0, 0, 0, 0]] * 2), torch.full((2, 3), 0.01))
    gaussians = Gaussians(*(torch.cat([getattr(scene, name), added]) for name, added in
                            zip(("means", "opacities", "colors", "quats", "scales"), two)))
    args = gsplat_arguments(gaussians, camera, WHITE)
    radii, means2d, depths, conics, _ = torch_impl._fully_fused_projection(
        args["means"].double(), args["covars"].double(), args["viewmats"].double(), args["Ks"].double(),
        args["width"], args["height"], eps2d=args["eps2d"], near_plane=args["near_plane"], far_plane=args["far_plane"])
    radii, means2d, depths, conics = radii[0].numpy(), means2d[0].numpy(), depths[0].numpy(), conics[0].numpy()
    ours = project_reference(gaussians, camera)
    det = ours.a * ours.c - ours.b**2
    # Means in the image, where neither clamps its Jacobian (gsplat about the principal point, 3DGS about the axis)
    compared = ((ours.depth > NEAR) & (ours.pixel_x >= 0) & (ours.pixel_x < camera.width) & (ours.pixel_y >= 0)
                & (ours.pixel_y < camera.height))
    assert compared.sum() > 200
    np.testing.assert_allclose(means2d[compared] - 0.5, np.stack([ours.pixel_x, ours.pixel_y], 1)[compared], atol=1e-4)
    np.testing.assert_allclose(depths[compared], ours.depth[compared], rtol=1e-6)
    np.testing.assert_allclose(conics[compared], np.stack([ours.c, -ours.b, ours.a], 1)[compared] / det[compared, None],
                               rtol=1e-4)
    # culled where 3DGS culls: at or before the near plane; drawn beyond it
    assert (radii[ours.depth <= NEAR] == 0).all() and (radii[compared] > 0).all()
    assert (radii[-2] == 0).all() and (radii[-1] > 0).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("backend", ["inria", "gsplat"])
def test_cuda_backend_agrees_with_cpu(backend):
    if backend not in available_backends():
        pytest.skip(f"{backend} is not installed")
    gaussians, camera = random_scene(3000, 128, 96, seed=10)
    cpu = rasterize(gaussians, camera, backend="cpu")
    cuda = rasterize(gaussians.to("cuda"), camera, backend=backend)
    # float32 on the GPU, and gsplat's own rules (3.33 sigma tiles, alpha <= 0.999): close, not equal
    assert (cuda.image.cpu() - cpu.image).abs().mean() < 1e-2
    assert (cuda.alpha.cpu() - cpu.alpha).abs().mean() < 1e-2
