"""The gsplat backend (CUDA): `gsplat.rasterization` called with this project's conventions.

`gsplat_arguments` builds what it is handed, in plain torch (tests run gsplat's own pure-torch projection on them,
without CUDA); `rasterize_gsplat` runs only where CUDA is available. Where gsplat's rules differ from 3DGS's, it
keeps its own: tiles from 3.33 sigma, alpha capped at 0.999, the Jacobian's clamp around the principal point.
Images agree closely, not exactly.
"""
from __future__ import annotations

import torch
from torch import Tensor

from avatar.splatting.gaussians import Gaussians
from avatar.splatting.rasterizer.render import NEAR, Render
from models.camera import Camera


def gsplat_arguments(gaussians: Gaussians, camera: Camera, background: Tensor,  # background (3,)
                     image_only: bool = False) -> dict:
    """The keyword arguments of `gsplat.rasterization` that draw `gaussians` as 3DGS would."""
    device = gaussians.means.device
    # gsplat puts pixel centres at (i + 0.5), we at i: the same rays need the principal point half a pixel on
    intrinsics = torch.tensor(
        [[camera.fx, 0.0, camera.cx + 0.5], [0.0, camera.fy, camera.cy + 0.5], [0.0, 0.0, 1.0]], device=device
    )
    return dict(
        means=gaussians.means.float(),
        opacities=gaussians.opacities.float(),
        colors=gaussians.colors.float(),
        viewmats=camera.world_to_camera.to(device, torch.float32)[None],
        Ks=intrinsics[None],
        width=camera.width,
        height=camera.height,
        near_plane=NEAR,  # where 3DGS culls, like our other backends
        far_plane=1e10,  # 3DGS has no far culling
        eps2d=0.3,  # the 3DGS low-pass filter
        radius_clip=0.0,
        render_mode="RGB" if image_only else "RGB+D",  # D: sum of weight * z, as Render.depth
        backgrounds=background[None],
        rasterize_mode="classic",
        # Covariances, never quaternions: gsplat normalises quaternions, 3DGS does not (MonoGaussianAvatar's are
        # not unit length).
        quats=None,
        scales=None,
        covars=gaussians.covariances().float(),
    )


def rasterize_gsplat(gaussians: Gaussians, camera: Camera, background: Tensor,  # background (3,)
                     image_only: bool = False) -> Render:
    import gsplat

    colors, alphas, _ = gsplat.rasterization(**gsplat_arguments(gaussians, camera, background, image_only))
    # colors (1, H, W, 3 or 4), alphas (1, H, W, 1)
    if image_only:
        return Render(image=colors[0, ..., :3], alpha=None, depth=None)
    return Render(image=colors[0, ..., :3], alpha=alphas[0, ..., 0], depth=colors[0, ..., 3])
