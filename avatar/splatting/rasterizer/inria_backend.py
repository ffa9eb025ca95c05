"""The inria backend (CUDA): graphdeco-inria's diff-gaussian-rasterization, the original 3DGS rasterizer.

Import only where CUDA is available. The original returns only the image (and radii); forks add depth or
alpha in ways of their own. So this adapter reads the image of one pass, and, unless only the image is asked for,
draws a second pass with the "colours" (z, 1, 0) over black: its channels are exactly sum(weight * z) and
sum(weight) = 1 - T.
"""
from __future__ import annotations

import torch
from diff_gaussian_rasterization import GaussianRasterizationSettings, GaussianRasterizer
from torch import Tensor

from avatar.splatting.gaussians import Gaussians
from avatar.splatting.rasterizer.render import Render
from models.camera import Camera, to_3dgs


def rasterize_inria(gaussians: Gaussians, camera: Camera, background: Tensor,  # background (3,)
                    image_only: bool = False) -> Render:
    device = gaussians.means.device
    viewmatrix, projmatrix, tan_fovx, tan_fovy = to_3dgs(camera)
    settings = {
        "image_height": camera.height,
        "image_width": camera.width,
        "tanfovx": tan_fovx,
        "tanfovy": tan_fovy,
        "bg": background,
        "scale_modifier": 1.0,
        "viewmatrix": viewmatrix.to(device),
        "projmatrix": projmatrix.to(device),
        "sh_degree": 0,
        "campos": camera.position.to(device),
        "prefiltered": False,
        "debug": False,
    }
    if "antialiasing" in GaussianRasterizationSettings._fields:  # newer versions: off is the original 3DGS
        settings["antialiasing"] = False
    settings = GaussianRasterizationSettings(**settings)
    means = gaussians.means.float().contiguous()
    if gaussians.covars is not None:  # the upper triangle: xx, xy, xz, yy, yz, zz
        rows, cols = torch.triu_indices(3, 3)
        shape = {"cov3D_precomp": gaussians.covars.float()[:, rows, cols].contiguous()}
    else:
        shape = {"scales": gaussians.scales.float().contiguous(), "rotations": gaussians.quats.float().contiguous()}

    def draw(colors: Tensor, settings: GaussianRasterizationSettings) -> Tensor:  # colors (N, 3) -> (3, H, W)
        outputs = GaussianRasterizer(settings)(
            means3D=means,
            means2D=torch.zeros_like(means),
            opacities=gaussians.opacities.float()[:, None].contiguous(),
            colors_precomp=colors.contiguous(),
            **shape,
        )
        return outputs[0]  # (color, radii, ...): forks return more, all begin with these two

    image = draw(gaussians.colors.float(), settings)
    if image_only:
        return Render(image=image.permute(1, 2, 0), alpha=None, depth=None)
    world_to_camera = camera.world_to_camera.to(device, torch.float32)
    z = means @ world_to_camera[2, :3] + world_to_camera[2, 3]  # (N,) camera-space depth
    depth_and_weight = torch.stack([z, torch.ones_like(z), torch.zeros_like(z)], dim=1)
    depth_alpha = draw(depth_and_weight, settings._replace(bg=torch.zeros_like(background)))
    return Render(image=image.permute(1, 2, 0), alpha=depth_alpha[1], depth=depth_alpha[0])
