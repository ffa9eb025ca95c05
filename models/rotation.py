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


def matrix_to_quaternion(matrices: Tensor) -> Tensor:
    """(N, 3, 3) rotations -> (N, 4) unit quaternions w, x, y, z with w >= 0, the inverse of
    `quaternion_to_matrix`: each is computed from its largest component (Shepperd's method) for precision."""
    m = matrices.reshape(-1, 9).unbind(1)
    m00, m01, m02, m10, m11, m12, m20, m21, m22 = m
    squares4 = torch.stack([1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22],
                           dim=1)  # 4 w^2, 4 x^2, 4 y^2, 4 z^2
    candidates = torch.stack([  # row k: the quaternion times 4 q_k
        torch.stack([squares4[:, 0], m21 - m12, m02 - m20, m10 - m01], dim=1),
        torch.stack([m21 - m12, squares4[:, 1], m10 + m01, m02 + m20], dim=1),
        torch.stack([m02 - m20, m10 + m01, squares4[:, 2], m21 + m12], dim=1),
        torch.stack([m10 - m01, m02 + m20, m21 + m12, squares4[:, 3]], dim=1),
    ], dim=1)
    best = squares4.argmax(dim=1)
    quats = candidates[torch.arange(len(best)), best]
    quats = quats / quats.norm(dim=1, keepdim=True)
    return torch.where(quats[:, :1] < 0, -quats, quats)


def quaternion_multiply(a: Tensor, b: Tensor) -> Tensor:
    """(..., 4) x (..., 4) -> (..., 4) Hamilton product a b of quaternions w, x, y, z (rotate by b, then by a)."""
    aw, ax, ay, az = a.unbind(-1)
    bw, bx, by, bz = b.unbind(-1)
    return torch.stack([aw * bw - ax * bx - ay * by - az * bz,
                        aw * bx + ax * bw + ay * bz - az * by,
                        aw * by - ax * bz + ay * bw + az * bx,
                        aw * bz + ax * by - ay * bx + az * bw], dim=-1)
