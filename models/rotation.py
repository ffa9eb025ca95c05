"""Rotation conversions shared by the head model and the avatars."""
import torch
from torch import Tensor


def axis_angle_to_matrix(axis_angle: Tensor) -> Tensor:
    """(..., 3) axis-angle -> (..., 3, 3) rotation matrices (Rodrigues).

    The angle is taken as |v + 1e-8|, as the FLAME/SMPL reference code does, so zero rotations stay finite
    and results match models trained with it.
    """
    angle = torch.linalg.norm(axis_angle + 1e-8, dim=-1, keepdim=True)  # (..., 1)
    x, y, z = (axis_angle / angle).unbind(-1)
    zero = torch.zeros_like(x)
    skew = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).reshape(axis_angle.shape + (3,))
    sin, cos = torch.sin(angle)[..., None], torch.cos(angle)[..., None]
    eye = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device)
    return eye + sin * skew + (1 - cos) * (skew @ skew)
