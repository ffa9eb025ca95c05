"""The reference for avatar.py's GaussianAvatars frame: the spec's maths (../shared/specs/gaussianavatars.md)
written out directly in float64 numpy, a Gaussian at a time, with rotation matrices instead of quaternions. Slow;
for the tests."""
from __future__ import annotations

import numpy as np

from avatar.flame_bound.avatar import FlameBoundAvatar
from avatar.splatting.gaussians import quaternion_to_matrix
from models.params import FlameParams


def rodrigues(axis_angle: np.ndarray) -> np.ndarray:
    """As smplx computes it: the angle is |r + 1e-8|."""
    angle = np.linalg.norm(axis_angle + 1e-8)
    k = axis_angle / angle
    skew = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(angle) * skew + (1 - np.cos(angle)) * skew @ skew


def posed_vertices(avatar: FlameBoundAvatar, params: FlameParams) -> np.ndarray:
    """(V, 3) FLAME with teeth posed: blend shapes, pose correctives, the joint chain, linear blend skinning."""
    head = avatar.head
    expression, pose = params.expression.double().numpy(), params.pose.double().numpy()
    v = head.v_template.double().numpy() + head.exprdirs.double().numpy() @ expression
    joints = head.joint_regressor.double().numpy() @ v
    rotations = np.stack([rodrigues(r) for r in pose])
    v = v + ((rotations[1:] - np.eye(3)).reshape(-1) @ head.posedirs.double().numpy()).reshape(-1, 3)
    parents = head.parents.tolist()
    world = []
    for j, parent in enumerate(parents):
        local = np.eye(4)
        local[:3, :3] = rotations[j]
        local[:3, 3] = joints[j] - (joints[parent] if parent >= 0 else 0)
        world.append(local if parent < 0 else world[parent] @ local)
    skinning = []
    for j, frame in enumerate(world):
        moved = frame.copy()
        moved[:3, 3] -= frame[:3, :3] @ joints[j]
        skinning.append(moved)
    blended = np.einsum("vj,jab->vab", head.lbs_weights.double().numpy(), np.stack(skinning))
    vertices = np.einsum("vab,vb->va", blended[:, :3, :3], v) + blended[:, :3, 3]
    return vertices + params.translation.double().numpy()


def gaussians_reference(avatar: FlameBoundAvatar, params: FlameParams) -> dict[str, np.ndarray]:
    """means (N, 3), scales (N, 3) and covariances (N, 3, 3) of one frame, float64."""
    vertices = posed_vertices(avatar, params)
    faces = avatar.head.faces.numpy()
    local_rotations = quaternion_to_matrix(avatar.rotations.double()).numpy()
    means, scales, covariances = [], [], []
    for n, face in enumerate(avatar.binding.tolist()):
        v0, v1, v2 = vertices[faces[face]]
        a0 = (v1 - v0) / np.linalg.norm(v1 - v0)
        a1 = np.cross(a0, v2 - v0)
        a1 /= np.linalg.norm(a1)
        a2 = -np.cross(a1, a0) / np.linalg.norm(np.cross(a1, a0))
        frame = np.stack([a0, a1, a2], axis=1)
        size = (np.linalg.norm(v1 - v0) + abs(a2 @ (v2 - v0))) / 2
        means.append(frame @ (avatar.xyz[n].double().numpy() * size) + (v0 + v1 + v2) / 3)
        scale = avatar.scales[n].double().numpy() * size
        turn = frame @ local_rotations[n]
        scales.append(scale)
        covariances.append(turn @ np.diag(scale ** 2) @ turn.T)
    return {"means": np.array(means), "scales": np.array(scales), "covariances": np.array(covariances)}
