"""A FLAME-format head model: buffers, and one pure function that poses them (linear blend skinning)."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
from torch import Tensor

from models.rotation import axis_angle_to_matrix


@dataclass
class LandmarkEmbedding:
    """Landmarks as barycentric points on mesh triangles; a table of alternatives (e.g. FLAME's dynamic contour,
    (79 yaw bins, 17 points)) has more leading dimensions."""

    face_ids: Tensor  # (..., L) int64
    bary: Tensor  # (..., L, 3)


@dataclass
class HeadModel:
    """Template mesh, shape / expression / pose-corrective blendshapes, joints and skinning weights.

    Joints follow FLAME: 0 global (root), 1 neck, 2 jaw, 3 left eye, 4 right eye; a model may have other joints
    as long as `parents` orders every parent before its children.
    """

    v_template: Tensor  # (V, 3)
    shapedirs: Tensor  # (V, 3, S)
    exprdirs: Tensor  # (V, 3, E)
    posedirs: Tensor  # (9 * (J - 1), V * 3): correctives driven by (R_j - I) of every non-root joint
    joint_regressor: Tensor  # (J, V)
    parents: Tensor  # (J,) int64, parents[0] = -1
    lbs_weights: Tensor  # (V, J)
    faces: Tensor  # (F, 3) int64
    expression_names: tuple[str, ...] = ()  # one per expression component where they have meanings
    # The smallest coefficient its expressions are made for: 0 for a FACS-like rig, whose blendshapes each move
    # one way (a blink, an eye widening), so that a tracker cannot explain a face by opposites cancelling out;
    # None for PCA components (FLAME's), which go both ways.
    expression_min: float | None = None
    landmarks: dict[str, LandmarkEmbedding] = field(default_factory=dict)

    @property
    def num_shape(self) -> int:
        return self.shapedirs.shape[2]

    @property
    def num_expressions(self) -> int:
        return self.exprdirs.shape[2]

    @property
    def num_joints(self) -> int:
        return self.parents.shape[0]

    def to(self, device) -> HeadModel:
        """A copy whose buffers live on `device`, to pose there. `parents` stays on the CPU: posing walks the joint
        tree in Python."""
        buffers = ("v_template", "shapedirs", "exprdirs", "posedirs", "joint_regressor", "lbs_weights", "faces")
        landmarks = {name: LandmarkEmbedding(embedding.face_ids.to(device), embedding.bary.to(device))
                     for name, embedding in self.landmarks.items()}
        return replace(self, **{name: getattr(self, name).to(device) for name in buffers}, landmarks=landmarks)

    def with_shape(self, shape: Tensor) -> HeadModel:
        """The same model with identity coefficients (S,) baked into the template (exact: joints follow)."""
        return replace(self, v_template=self.v_template + self.shapedirs @ shape.to(self.shapedirs))


@dataclass
class HeadPose:
    vertices: Tensor  # (B, V, 3)
    joints: Tensor  # (B, J, 3) posed joint positions
    transforms: Tensor  # (B, J, 4, 4) rest -> posed transform of each joint (what skinning blends)


def pose_head(model: HeadModel, expression: Tensor, pose: Tensor, translation: Tensor | None = None,
              shape: Tensor | None = None) -> HeadPose:
    """Pose the head.

    expression: (B, E); pose: (B, J, 3) axis-angle per joint; translation: (B, 3); shape: (B, S) or None
    (a model whose shape is baked in with `with_shape` needs none).
    """
    v_shaped = model.v_template + torch.einsum("vce,be->bvc", model.exprdirs, expression)  # (B, V, 3)
    if shape is not None:
        v_shaped = v_shaped + torch.einsum("vcs,bs->bvc", model.shapedirs, shape)
    joints = model.joint_regressor @ v_shaped  # (B, J, 3)
    rotations = axis_angle_to_matrix(pose)  # (B, J, 3, 3)
    v_posed = v_shaped + (pose_feature(rotations) @ model.posedirs).reshape(v_shaped.shape)

    transforms, posed_joints = _chain_transforms(rotations, joints, model.parents)  # (B, J, 4, 4), (B, J, 3)
    # Skinning: blend the joint transforms per vertex, then apply to the rest-posed vertex.
    blended = torch.einsum("vj,bjmn->bvmn", model.lbs_weights, transforms)  # (B, V, 4, 4)
    vertices = (blended[..., :3, :3] @ v_posed[..., None])[..., 0] + blended[..., :3, 3]
    if translation is not None:
        vertices = vertices + translation[:, None]
        posed_joints = posed_joints + translation[:, None]
        transforms = transforms.clone()
        transforms[..., :3, 3] += translation[:, None]
    return HeadPose(vertices, posed_joints, transforms)


def pose_feature(rotations: Tensor) -> Tensor:
    """(B, J, 3, 3) joint rotations -> (B, 9 (J - 1)) what pose correctives are driven by: R_j - I of every
    non-root joint, row-major, joint after joint."""
    eye = torch.eye(3, dtype=rotations.dtype, device=rotations.device)
    return (rotations[:, 1:] - eye).flatten(1)


def joint_transforms(model: HeadModel, expression: Tensor, pose: Tensor) -> tuple[Tensor, Tensor]:
    """The skeleton alone, for avatars that skin their own points: (B, E) expression, (B, J, 3) axis-angle pose
    -> (B, J, 4, 4) rest-to-posed joint transforms (the rest joints move with the expression, as in FLAME) and
    (B, 9 (J - 1)) pose feature."""
    joints = model.joint_regressor @ (model.v_template + torch.einsum("vce,be->bvc", model.exprdirs, expression))
    rotations = axis_angle_to_matrix(pose)
    return _chain_transforms(rotations, joints, model.parents)[0], pose_feature(rotations)


def _chain_transforms(rotations: Tensor, joints: Tensor, parents: Tensor) -> tuple[Tensor, Tensor]:
    """(B, J, 3, 3) local rotations about (B, J, 3) rest joints -> (B, J, 4, 4) rest-to-posed transforms
    and (B, J, 3) posed joint positions."""
    batch, num_joints = joints.shape[:2]
    relative = joints.clone()
    relative[:, 1:] -= joints[:, parents[1:]]
    local = torch.zeros(batch, num_joints, 4, 4, dtype=joints.dtype, device=joints.device)
    local[..., :3, :3] = rotations
    local[..., :3, 3] = relative
    local[..., 3, 3] = 1
    world = [local[:, 0]]
    for parent, j in zip(parents[1:].tolist(), range(1, num_joints)):
        world.append(world[parent] @ local[:, j])
    world = torch.stack(world, dim=1)  # joint frames in the posed space
    # Rest -> posed: undo the rest joint position first.
    transforms = world.clone()
    transforms[..., :3, 3] -= (world[..., :3, :3] @ joints[..., None])[..., 0]
    return transforms, world[..., :3, 3]
