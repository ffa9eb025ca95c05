"""The committed demo avatar is what scripts/build_demo_avatar.py makes from the astronaut portrait."""
import skimage.data
import torch

from avatar import load_avatar
from avatar.splatting.rasterizer import rasterize
from models.params import FlameParams
from scripts.demo_avatar.build import build_demo_avatar


def test_build_script_reproduces_the_committed_asset():
    committed, rebuilt = load_avatar(), build_demo_avatar(skimage.data.astronaut())
    assert torch.allclose(rebuilt.head.v_template, committed.head.v_template, atol=1e-4)
    assert torch.allclose(rebuilt.head.exprdirs, committed.head.exprdirs, atol=1e-4)
    assert abs(len(rebuilt.opacities) - len(committed.opacities)) <= 0.01 * len(committed.opacities)
    params = FlameParams.neutral(committed.head.num_expressions)
    params.expression[0] = 1.0
    params.pose[2, 0] = 0.2
    images = [rasterize(a.gaussians(params), a.default_camera, backend="cpu").image for a in (committed, rebuilt)]
    assert (images[0] - images[1]).abs().mean() < 2 / 255
