"""View-dependent colour: spherical harmonics of degree 3 (GaussianAvatars' and 3DGS's PLYs) read, evaluated as
the 3DGS rasterizer evaluates them, drawn by every backend, and written back."""
from pathlib import Path

import pytest
import torch

from avatar.splatting.gaussians import Gaussians
from avatar.splatting.ply import load_3dgs_ply, save_3dgs_ply
from avatar.splatting.rasterizer import rasterize
from tests.test_rasterizer import random_scene

FIXTURE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "gaussianavatars"
needs_fixture = pytest.mark.skipif(not FIXTURE.is_dir(), reason="../shared/fixtures/gaussianavatars is absent")


@needs_fixture
def test_the_colours_are_the_ones_gaussianavatars_hands_its_rasterizer():
    """reference.pt holds, per frame and camera, the posed means, the camera centre and the colours its code
    computed from the avatar's spherical harmonics: they are ours to 1e-5."""
    avatar = load_3dgs_ply(FIXTURE / "avatar" / "point_cloud.ply")
    assert avatar.colors is None and avatar.sh.shape == (2000, 16, 3) and avatar.sh[:, 1:].abs().max() > 0
    reference = torch.load(FIXTURE / "reference.pt", weights_only=True)
    for frame in reference["frames"]:
        seen = Gaussians(frame["means3D"].double(), frame["opacities"][:, 0].double(), None,
                         frame["rotations"].double(), frame["scales"].double(), sh=avatar.sh.double())
        colors = seen.view_colors(frame["campos"].double())
        error = (colors - frame["colors"].double()).abs().max() / frame["colors"].abs().max()
        assert error < 1e-5, (frame["timestep"], frame["camera"], float(error))
    assert len(reference["frames"]) == 15


def with_sh(seed: int) -> tuple[Gaussians, object]:
    gaussians, camera = random_scene(300, 48, 40, seed=seed)
    sh = torch.randn(len(gaussians), 16, 3, generator=torch.Generator().manual_seed(seed)) * 0.3
    return Gaussians(gaussians.means, gaussians.opacities, None, gaussians.quats, gaussians.scales, sh=sh), camera


def test_spherical_harmonics_are_drawn_as_seen_from_the_camera():
    gaussians, camera = with_sh(4)
    fixed = gaussians.seen_from(camera.position)
    assert fixed.sh is None and torch.equal(fixed.colors, gaussians.view_colors(camera.position))
    drawn = rasterize(gaussians, camera, backend="cpu")
    assert torch.equal(drawn.image, rasterize(fixed, camera, backend="cpu").image)
    elsewhere = gaussians.view_colors(camera.position + torch.tensor([1.0, 0.0, 0.0]))
    assert (elsewhere - fixed.colors).abs().max() > 0.05  # the colour does depend on where it is seen from


def test_spherical_harmonics_survive_a_ply(tmp_path):
    gaussians, camera = with_sh(5)
    save_3dgs_ply(tmp_path / "sh.ply", gaussians)
    back = load_3dgs_ply(tmp_path / "sh.ply")
    assert back.colors is None and torch.allclose(back.sh, gaussians.sh, atol=1e-6)
    assert torch.allclose(back.view_colors(camera.position), gaussians.view_colors(camera.position), atol=1e-5)


def test_a_plain_3dgs_ply_opens_as_an_avatar_that_nothing_moves(tmp_path):
    """No binding and no flame_param.npz beside it: a static avatar, its Gaussians as the file holds them (the
    spherical harmonics too) whatever the parameters, framed by its default view; the sweep renders it."""
    from avatar import load_avatar
    from avatar.static import StaticAvatar
    from models.params import FlameParams
    from tests.test_headless import launch, read_video

    gaussians, _ = with_sh(6)
    save_3dgs_ply(tmp_path / "scene.ply", gaussians)
    avatar = load_avatar(tmp_path / "scene.ply")
    assert isinstance(avatar, StaticAvatar) and avatar.head.num_expressions == 0
    opened = avatar.gaussians(FlameParams.neutral(0))
    assert torch.allclose(opened.means, gaussians.means) and torch.allclose(opened.sh, gaussians.sh, atol=1e-6)
    image = rasterize(opened, avatar.default_camera, backend="cpu")
    assert image.alpha.mean() > 0.05  # the default view sees the Gaussians
    result = launch("--checkpoint", str(tmp_path / "scene.ply"), "--headless", "--frames", "3", "--size", "32",
                    "--output", str(tmp_path / "scene.mp4"))
    assert result.returncode == 0, result.stderr
    assert len(read_video(tmp_path / "scene.mp4")[1]) == 3
