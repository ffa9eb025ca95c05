"""Fit a head model to one frame's 2D landmarks in a few milliseconds: Levenberg-Marquardt with analytic
Jacobians, warm-started from the previous frame, with priors.

Unknowns (x, one vector): the head rotation (axis-angle of FLAME's global joint, model space; the neck stays 0),
a camera-space translation, every expression coefficient, and the jaw and eye rotations when the landmarks
move with them (the eyes: the iris points of MediaPipe's 478). A model point p (posed by expression, jaw and
eyes, global rotation left out) lands in the camera at

    X = F R_global p + t,    u = fx X / Z + cx,  v = fy Y / Z + cy,

with F = diag(1, -1, -1) turning the model's frame (y up, z out of the face) into OpenCV's camera frame
(y down, z forward): a model with a zero pose faces the camera. Its world is the camera's, y up, looking
down -z: `FitResult.params.translation` is where the head sits in front of the camera, in the model's units.

Residuals: reprojection (Huber, in pixels over `pixel_sigma`), Tikhonov priors on expression, jaw (strong on the
axes that do not open it), eyes and shape, and a temporal prior towards the previous frame. Rotations are
axis-angle throughout, their Jacobians exact through SO(3)'s left Jacobian; expression enters linearly before
skinning, so its Jacobian is a skinned blendshape.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from numba import njit

from models.head_model import HeadModel
from models.params import GLOBAL, JAW, JOINT_NAMES, LEFT_EYE, RIGHT_EYE, FlameParams
from tracking.landmark_model import LandmarkModel, LandmarkSet, contour_bin, landmarks

FLAME_PARENTS = (-1, 0, 1, 1, 1)  # the fitter's Jacobians assume FLAME's skeleton (and a neck held at zero)
MODEL_TO_CAMERA = np.diag([1.0, -1.0, -1.0])  # F: model (y up, z to the viewer) -> OpenCV camera


@dataclass(frozen=True)
class FitSettings:
    pixel_sigma: float = 1.0  # px: the landmark noise every prior is weighed against
    huber_px: float = 3.0  # residuals beyond this count linearly (detector outliers)
    expression_sigma: float = 1.0  # per coefficient
    jaw_sigma: tuple[float, float, float] = (0.5, 0.03, 0.03)  # rad: opening (about x) free, sideways held
    eye_sigma: float = 0.35  # rad, about 20 degrees
    shape_sigma: float = 1.0
    # The temporal prior: how far each part may move in one frame (one sigma).
    temporal_rotation: float = 0.1  # rad
    temporal_translation: float = 0.05  # of the depth
    temporal_expression: float = 0.5
    temporal_jaw: float = 0.2  # rad
    temporal_eyes: float = 0.3  # rad
    warm_iterations: int = 5
    rigid_iterations: int = 20  # cold start: rotation and translation alone first
    cold_iterations: int = 30
    tolerance: float = 1e-3  # stop when a step lowers the cost by less than this fraction of (cost + points)


@dataclass(frozen=True)
class FitState:
    """What warm-starts the next frame: the unknown vector of the module's docstring, in `FitModel`'s layout."""

    x: np.ndarray  # (6 + E + 3 * len(free_joints),)


@dataclass(frozen=True)
class FitResult:
    params: FlameParams  # pose (5, 3): global, neck (0), jaw, left eye, right eye
    landmarks_2d: np.ndarray  # (M, 2) fitted projections of the points used, pixels
    observed_ids: np.ndarray  # (M,) the detector landmark each row matches
    error_px: float  # mean reprojection error over the points with weight > 0
    iterations: int  # Levenberg-Marquardt steps evaluated (a cold start counts its rigid ones too)
    state: FitState


@dataclass
class FitModel:
    """A landmark model over every point of a landmark set (fixed points, then the contour's rows flattened), and
    the models of each contour row's active points, made on first use."""

    points: LandmarkModel
    landmark_set: LandmarkSet
    free_joints: tuple[int, ...]  # of jaw and eyes, those that move some landmark (unknowns in that order)
    expression_min: float | None = None  # the head model's: expression coefficients are kept at or above it
    _active: dict = field(default_factory=dict, repr=False)

    @staticmethod
    def build(head: HeadModel, landmark_set: LandmarkSet) -> FitModel:
        if tuple(head.parents.tolist()) != FLAME_PARENTS:
            raise ValueError(f"fitting needs FLAME's skeleton (parents {FLAME_PARENTS}), not {head.parents.tolist()}")
        s = landmark_set
        face_ids = np.concatenate([s.face_ids, s.contour_face_ids.reshape(-1)])
        bary = np.concatenate([s.bary, s.contour_bary.reshape(-1, 3)])
        points = LandmarkModel.build(head, face_ids, bary)
        moved = points.joints_moved_by()
        return FitModel(points, landmark_set, tuple(j for j in (JAW, LEFT_EYE, RIGHT_EYE) if moved[j]),
                        head.expression_min)

    def with_shape(self, shape: np.ndarray) -> FitModel:
        return replace(self, points=self.points.with_shape(np.asarray(shape, np.float64)), _active={})

    def with_rest_face(self, offsets: np.ndarray) -> FitModel:
        """The fixed points moved by offsets (P, 3) in rest space (`estimate_rest_face`)."""
        return replace(self, points=self.points.with_point_offsets(offsets), _active={})

    @property
    def observed_ids(self) -> np.ndarray:
        """(M,) the detector landmarks used, fixed points then contour points."""
        return np.concatenate([self.landmark_set.observed, self.landmark_set.contour_observed])

    @property
    def point_weights(self) -> np.ndarray:
        """(M,) each point's weight, in observed_ids' order (the landmark set's, else 1)."""
        weights = self.landmark_set.weights
        return np.ones(len(self.observed_ids)) if weights is None else np.asarray(weights, np.float64)

    @property
    def num_unknowns(self) -> int:
        return 6 + self.points.num_expressions + 3 * len(self.free_joints)

    @property
    def lower(self) -> np.ndarray:
        """(n,) the unknowns' lower bounds: `expression_min` on the expression coefficients, else none."""
        lower = np.full(self.num_unknowns, -np.inf)
        if self.expression_min is not None:
            lower[6:6 + self.points.num_expressions] = self.expression_min
        return lower

    def active(self, x: np.ndarray) -> LandmarkModel:
        """The points for the head rotation in x: the fixed ones and the contour row of its yaw."""
        s = self.landmark_set
        row = contour_bin(_rodrigues(x[:3])) if s.has_contour else -1
        if row not in self._active:
            fixed, count = len(s.observed), len(s.contour_observed)
            ids = np.concatenate([np.arange(fixed), fixed + row * count + np.arange(count)]) if row >= 0 else None
            self._active[row] = self.points if ids is None else self.points.select(ids)
        return self._active[row]


def fit_frame(model: FitModel, observed: np.ndarray, weights: np.ndarray | None, intrinsics, previous: FitState | None,
              settings: FitSettings = FitSettings()) -> FitResult:
    """Fit one frame. observed: (N, 2+) the detector's landmarks in pixels (extra columns ignored); weights:
    (N,) or None (all 1; 0 drops a point), times the landmark set's own; intrinsics: (fx, fy, cx, cy);
    previous: the last frame's state, or None for a cold start."""
    ids = model.observed_ids
    target = np.asarray(observed, np.float64)[ids, :2]
    weight = model.point_weights * (1.0 if weights is None else np.asarray(weights, np.float64)[ids])
    intrinsics = tuple(float(v) for v in intrinsics)

    def linearize(x):
        return _linearize_frame(model.active(x), x, model.free_joints, target, weight, intrinsics, settings)

    if previous is None:
        x = _initial_guess(model, target, weight, intrinsics)
        rigid = np.zeros(len(x), bool)
        rigid[:6] = True
        precision, mean = _frame_prior(model, settings, None)
        x, rigid_iterations = _levenberg_marquardt(linearize, x, precision, mean, rigid, settings.rigid_iterations,
                                                   settings.tolerance, len(ids), model.lower)
        x, iterations = _levenberg_marquardt(linearize, x, precision, mean, None, settings.cold_iterations,
                                             settings.tolerance, len(ids), model.lower)
        iterations += rigid_iterations
    else:
        precision, mean = _frame_prior(model, settings, previous.x)
        x, iterations = _levenberg_marquardt(linearize, previous.x.copy(), precision, mean, None,
                                             settings.warm_iterations, settings.tolerance, len(ids), model.lower)
    uv, _ = _project(model.active(x), x, model.free_joints, intrinsics, jacobian=False)
    error = np.linalg.norm(uv - target, axis=1)
    return FitResult(params=flame_params(model, x), landmarks_2d=uv, observed_ids=ids,
                     error_px=float(error[weight > 0].mean()), iterations=iterations, state=FitState(x))


def is_compiled() -> bool:
    """Whether numba's on-disk cache holds the fit's kernel; if not, the first fit compiles it (~20 s)."""
    line = _project_kernel.py_func.__code__.co_firstlineno
    return any((Path(__file__).parent / "__pycache__").glob(f"fit._project_kernel-{line}.*.nbi"))


def flame_params(model: FitModel, x: np.ndarray) -> FlameParams:
    """The unknown vector as FLAME parameters: global rotation about the root joint, model-space translation."""
    points, num_expressions = model.points, model.points.num_expressions
    expression = x[6:6 + num_expressions]
    pose = np.zeros((len(JOINT_NAMES), 3))
    pose[GLOBAL] = x[:3]
    for k, j in enumerate(model.free_joints):
        pose[j] = x[6 + num_expressions + 3 * k: 9 + num_expressions + 3 * k]
    # F R p + t = F (R (p - root) + root + translation)  =>  translation = F t + R root - root
    root = points.joints_template[0] + points.joints_exprdirs[0] @ expression
    translation = MODEL_TO_CAMERA @ x[3:6] + _rodrigues(x[:3]) @ root - root
    return FlameParams(torch.tensor(expression, dtype=torch.float32), torch.tensor(pose, dtype=torch.float32),
                       torch.tensor(translation, dtype=torch.float32))


def estimate_shape(model: FitModel, frames: list[np.ndarray], intrinsics, weights: list[np.ndarray] | None = None,
                   settings: FitSettings = FitSettings(), iterations: int = 15) -> np.ndarray:
    """The face shape (S,) (coefficients of model.points.shapedirs, relative to the model's current template)
    that explains several frames (N, 2+) at once, each with its own pose and expression; then fix it with
    `model.with_shape(shape)` (and `head.with_shape` for rendering)."""
    intrinsics = tuple(float(v) for v in intrinsics)
    ids = model.observed_ids
    targets = [np.asarray(frame, np.float64)[ids, :2] for frame in frames]
    full_weights = weights or [None] * len(frames)  # (N,) per frame, as fit_frame takes them
    # Each frame starts from its own fit with the current shape.
    starts = [fit_frame(model, frame, w, intrinsics, None, settings).state.x for frame, w in zip(frames, full_weights)]
    weights = [model.point_weights * (1.0 if w is None else np.asarray(w, np.float64)[ids]) for w in full_weights]

    # Shape enters like more expression: append it to the expression blendshapes. A frame's local vector is
    # [rotation, translation, expression, shape, joints]; the joint vector is [frame 0, frame 1, ..., shape].
    def extended(points: LandmarkModel) -> LandmarkModel:
        return replace(points, exprdirs=np.concatenate([points.exprdirs, points.shapedirs], axis=2),
                       joints_exprdirs=np.concatenate([points.joints_exprdirs, points.joints_shapedirs], axis=2))

    num_expressions, num_shape, n = model.points.num_expressions, model.points.num_shape, model.num_unknowns
    count = len(frames)
    shape_ids = count * n + np.arange(num_shape)
    local_ids = [np.concatenate([f * n + np.arange(6 + num_expressions), shape_ids,
                                 f * n + np.arange(6 + num_expressions, n)]) for f in range(count)]
    extended_models: dict[int, LandmarkModel] = {}

    def linearize(x):
        cost, hessian, gradient = 0.0, np.zeros((len(x), len(x))), np.zeros(len(x))
        for f in range(count):
            local = x[local_ids[f]]
            active = model.active(local)
            if id(active) not in extended_models:
                extended_models[id(active)] = extended(active)
            c, h, g = _linearize_frame(extended_models[id(active)], local, model.free_joints, targets[f], weights[f],
                                       intrinsics, settings)
            cost += c
            hessian[np.ix_(local_ids[f], local_ids[f])] += h
            gradient[local_ids[f]] += g
        return cost, hessian, gradient

    frame_precision, _ = _frame_prior(model, settings, None)
    precision = np.concatenate([np.tile(frame_precision, count), np.full(num_shape, settings.shape_sigma ** -2)])
    x = np.concatenate([*starts, np.zeros(num_shape)])
    lower = np.concatenate([np.tile(model.lower, count), np.full(num_shape, -np.inf)])
    x, _ = _levenberg_marquardt(linearize, x, precision, np.zeros(len(x)), None, iterations, settings.tolerance * 0.1,
                                len(ids) * count, lower)
    return x[shape_ids]


def estimate_rest_face(model: FitModel, frames: list[np.ndarray], intrinsics, settings: FitSettings = FitSettings()
                       ) -> np.ndarray:
    """Where the driver's face at rest differs from the model's, point by point: (P, 3) offsets of the fixed points
    in the model's rest space, for `model.with_rest_face`. Per frame, the head's pose and the eyes' gaze are fitted
    with no expression and the jaw shut; what that leaves unexplained is lifted from the image to each point's
    depth and turned into the rest frame; the median over the frames (at rest, mostly) is the answer.

    A head model's shape space cannot take every face's proportions (the demo has none). What is left over, fitted
    as expression, reads as opposite expressions held against each other (a driver's rounder eyes as a blink and
    an eye widening at 2 each), far outside what the rig was made for. Taken into the rest face, the driver's own
    features read as rest, and expressions as what the face does from there."""
    intrinsics = tuple(float(v) for v in intrinsics)
    fx, fy = intrinsics[:2]
    ids, fixed = model.observed_ids, len(model.landmark_set.observed)
    posed = np.zeros(model.num_unknowns, bool)  # the head's pose and the eyes' gaze; no expression, the jaw shut
    posed[:6] = True
    for k, joint in enumerate(model.free_joints):
        posed[6 + model.points.num_expressions + 3 * k: 9 + model.points.num_expressions + 3 * k] = joint != JAW
    precision, mean = _frame_prior(model, settings, None)
    offsets = []
    for frame in frames:
        target, weight = np.asarray(frame, np.float64)[ids, :2], model.point_weights

        def linearize(x):
            return _linearize_frame(model.active(x), x, model.free_joints, target, weight, intrinsics, settings)

        x = _initial_guess(model, target, weight, intrinsics)
        x, _ = _levenberg_marquardt(linearize, x, precision, mean, posed,
                                    settings.rigid_iterations + settings.cold_iterations, settings.tolerance, len(ids))
        points = model.active(x)
        uv, _ = _project(points, x, model.free_joints, intrinsics, jacobian=False)
        params = flame_params(model, x)
        world = landmarks(points, params.expression.double().numpy(), params.pose.double().numpy(),
                          params.translation.double().numpy())[:fixed]
        depth = (world @ MODEL_TO_CAMERA.T)[:, 2]
        residual = (target - uv)[:fixed]
        in_camera = np.stack([residual[:, 0] * depth / fx, residual[:, 1] * depth / fy, np.zeros(fixed)], axis=1)
        offsets.append(in_camera @ MODEL_TO_CAMERA @ _rodrigues(x[:3]))  # rows: camera -> world -> rest
    return np.median(offsets, axis=0)


# ---------------------------------------------------------------------------------------------------------------
# The model of one frame and its Jacobian


def _project(points: LandmarkModel, x: np.ndarray, free_joints: tuple[int, ...], intrinsics, jacobian: bool):
    """x -> pixels (L, 2) of the points and, if asked, their Jacobian (L, 2, len(x)) (else None)."""
    posedirs = points.posedirs if points.posedirs is not None else np.zeros((0, 0))
    uv, d_uv = _project_kernel(points.v_template, points.exprdirs, posedirs, points.lbs_weights,
                               points.joints_template, points.joints_exprdirs, points.corners, points.bary, x,
                               np.array(free_joints, np.int64), np.array(intrinsics, np.float64), jacobian)
    return uv, (d_uv if jacobian else None)


# A numba kernel: at a few hundred vertices numpy's per-call overhead (tens of microseconds for each of some
# fifty small array operations) would cost several times the arithmetic.
@njit(cache=True)
def _project_kernel(v_template, exprdirs, posedirs, lbs_weights, joints_template, joints_exprdirs, corners, bary, x,
                    free_joints, intrinsics, jacobian):
    """See `_project`. Skinning with the global rotation left out: root and neck are identity, so each joint's
    rest -> posed transform is its own rotation about its rest joint (FLAME's skeleton); then X = F R p + t."""
    num_vertices, num_joints, num_coeffs = v_template.shape[0], lbs_weights.shape[1], exprdirs.shape[2]
    num_free, num_points = free_joints.shape[0], corners.shape[0]
    num_local = num_coeffs + 3 * num_free  # the columns that act before the global rotation
    coeffs = x[6:6 + num_coeffs]

    rotations = np.zeros((num_joints, 3, 3))
    for j in range(num_joints):
        rotations[j] = np.eye(3)
    lefts = np.zeros((num_free, 3, 3))  # SO(3) left Jacobians: R(a + d) = exp(G d) R(a)
    for k in range(num_free):
        a = x[6 + num_coeffs + 3 * k: 9 + num_coeffs + 3 * k]
        rotations[free_joints[k]] = _rodrigues(a)
        lefts[k] = _left_jacobian(a)
    joints = joints_template + (joints_exprdirs.reshape(-1, num_coeffs) @ coeffs).reshape(num_joints, 3)
    offsets = np.zeros((num_joints, 3))  # (I - R_j) J_j
    moved_dirs = np.zeros((num_joints, 3, num_coeffs))  # (I - R_j) dJ_j / dcoeff
    for j in range(num_joints):
        offsets[j] = joints[j] - rotations[j] @ joints[j]
        moved_dirs[j] = joints_exprdirs[j] - rotations[j] @ joints_exprdirs[j]
    has_correctives = posedirs.shape[0] > 0
    feature = np.zeros(9 * (num_joints - 1))  # what drives the correctives: R_j - I, non-root joints
    d_feature = np.zeros((num_free, 3, 9))  # its derivative for each free joint's 3 unknowns
    if has_correctives:
        for j in range(1, num_joints):
            feature[9 * (j - 1): 9 * j] = (rotations[j] - np.eye(3)).ravel()
        for k in range(num_free):
            for m in range(3):
                d_feature[k, m] = (_skew(lefts[k][:, m]) @ rotations[free_joints[k]]).ravel()

    # Per vertex: posed position, and its derivative by each coefficient and each free joint's rotation.
    # Scalar loops: numba's small-array operations allocate, and its `@` calls BLAS.
    posed = np.zeros((num_vertices, 3))
    d_posed = np.zeros((num_vertices, 3, num_local))
    vertex, offset, arm, d_vertex = np.zeros(3), np.zeros(3), np.zeros(3), np.zeros(3)
    blended = np.zeros((3, 3))
    for i in range(num_vertices):
        for c in range(3):
            value = v_template[i, c]
            for k in range(num_coeffs):
                value += exprdirs[i, c, k] * coeffs[k]
            if has_correctives:
                for p in range(feature.shape[0]):
                    value += feature[p] * posedirs[p, 3 * i + c]
            vertex[c] = value
        blended[:] = 0.0
        offset[:] = 0.0
        for j in range(num_joints):
            w = lbs_weights[i, j]
            if w != 0.0:
                for a in range(3):
                    offset[a] += w * offsets[j, a]
                    for b in range(3):
                        blended[a, b] += w * rotations[j, a, b]
        for a in range(3):
            posed[i, a] = offset[a] + blended[a, 0] * vertex[0] + blended[a, 1] * vertex[1] + blended[a, 2] * vertex[2]
        if not jacobian:
            continue
        for a in range(3):
            for k in range(num_coeffs):
                value = 0.0
                for b in range(3):
                    value += blended[a, b] * exprdirs[i, b, k]
                for j in range(num_joints):
                    value += lbs_weights[i, j] * moved_dirs[j, a, k]
                d_posed[i, a, k] = value
        for k in range(num_free):
            j = free_joints[k]
            w = lbs_weights[i, j]
            if w == 0.0 and not has_correctives:
                continue
            for a in range(3):
                arm[a] = 0.0
                for b in range(3):
                    arm[a] += rotations[j, a, b] * (vertex[b] - joints[j, b])
            for m in range(3):
                g = lefts[k, :, m]
                column = num_coeffs + 3 * k + m
                d_posed[i, 0, column] = w * (g[1] * arm[2] - g[2] * arm[1])
                d_posed[i, 1, column] = w * (g[2] * arm[0] - g[0] * arm[2])
                d_posed[i, 2, column] = w * (g[0] * arm[1] - g[1] * arm[0])
                if has_correctives:  # the correctives follow R_j - I
                    for c in range(3):
                        value = 0.0
                        for p in range(9):
                            value += d_feature[k, m, p] * posedirs[9 * (j - 1) + p, 3 * i + c]
                        d_vertex[c] = value
                    for a in range(3):
                        for b in range(3):
                            d_posed[i, a, column] += blended[a, b] * d_vertex[b]

    # Per point: barycentric combination, global rotation, translation, projection.
    fx, fy, cx, cy = intrinsics[0], intrinsics[1], intrinsics[2], intrinsics[3]
    head = _rodrigues(x[:3])
    head_left = _left_jacobian(x[:3])
    flip = np.array([1.0, -1.0, -1.0])  # F = diag(flip)
    uv = np.zeros((num_points, 2))
    d_uv = np.zeros((num_points, 2, 6 + num_local))
    d_camera = np.zeros((3, 6 + num_local))
    point, rotated, camera = np.zeros(3), np.zeros(3), np.zeros(3)
    d_point = np.zeros((3, num_local))
    for l in range(num_points):
        point[:] = 0.0
        for c in range(3):
            for a in range(3):
                point[a] += bary[l, c] * posed[corners[l, c], a]
        for a in range(3):
            rotated[a] = head[a, 0] * point[0] + head[a, 1] * point[1] + head[a, 2] * point[2]
            camera[a] = flip[a] * rotated[a] + x[3 + a]
        inv_z = 1.0 / camera[2]
        uv[l, 0] = fx * camera[0] * inv_z + cx
        uv[l, 1] = fy * camera[1] * inv_z + cy
        if not jacobian:
            continue
        d_camera[:] = 0.0
        for m in range(3):  # d(R p)/da_m = G_m x (R p)
            g = head_left[:, m]
            d_camera[0, m] = flip[0] * (g[1] * rotated[2] - g[2] * rotated[1])
            d_camera[1, m] = flip[1] * (g[2] * rotated[0] - g[0] * rotated[2])
            d_camera[2, m] = flip[2] * (g[0] * rotated[1] - g[1] * rotated[0])
            d_camera[m, 3 + m] = 1.0
        d_point[:] = 0.0
        for c in range(3):
            weight, corner = bary[l, c], corners[l, c]
            for a in range(3):
                for k in range(num_local):
                    d_point[a, k] += weight * d_posed[corner, a, k]
        for a in range(3):
            for k in range(num_local):
                d_camera[a, 6 + k] = flip[a] * (head[a, 0] * d_point[0, k] + head[a, 1] * d_point[1, k]
                                                 + head[a, 2] * d_point[2, k])
        for k in range(6 + num_local):
            d_uv[l, 0, k] = fx * inv_z * (d_camera[0, k] - camera[0] * inv_z * d_camera[2, k])
            d_uv[l, 1, k] = fy * inv_z * (d_camera[1, k] - camera[1] * inv_z * d_camera[2, k])
    return uv, d_uv


@njit(cache=True)
def _rodrigues(a):
    """(3,) axis-angle -> (3, 3) rotation."""
    angle = np.sqrt(a @ a)
    if angle < 1e-12:
        return np.eye(3) + _skew(a)
    k = _skew(a / angle)
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * (k @ k)


@njit(cache=True)
def _left_jacobian(a):
    """(3,) axis-angle -> (3, 3) SO(3)'s left Jacobian: I + (1 - cos t)/t^2 [a]x + (t - sin t)/t^3 [a]x^2."""
    angle = np.sqrt(a @ a)
    k = _skew(a)
    if angle < 1e-4:  # series
        return np.eye(3) + 0.5 * k + (k @ k) / 6
    return np.eye(3) + (1 - np.cos(angle)) / angle ** 2 * k + (angle - np.sin(angle)) / angle ** 3 * (k @ k)


@njit(cache=True)
def _skew(v):
    return np.array([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])


@njit(cache=True)
def _cross(a, b):
    return np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])


def _linearize_frame(points, x, free_joints, target, weight, intrinsics, settings):
    """Data term at x: (Huber cost, Gauss-Newton matrix J^T C J, gradient J^T C r) with C the Huber (IRLS)
    weights over pixel_sigma^2."""
    uv, jacobian = _project(points, x, free_joints, intrinsics, jacobian=True)
    return _normal_equations(uv, jacobian, target, weight / settings.pixel_sigma ** 2, settings.huber_px)


@njit(cache=True)
def _normal_equations(uv, jacobian, target, scale, huber):
    """uv (L, 2), jacobian (L, 2, n), target (L, 2), scale (L,) weight / sigma^2 -> (cost, (n, n), (n,))."""
    num_points, n = uv.shape[0], jacobian.shape[2]
    hessian, gradient = np.zeros((n, n)), np.zeros(n)
    cost = 0.0
    # A point moves with a few of the expressions only (each blendshape is local): accumulate over the unknowns
    # that move it, a quarter of them or fewer with a FACS-like rig.
    moving = np.empty(n, np.int64)
    for l in range(num_points):
        du, dv = uv[l, 0] - target[l, 0], uv[l, 1] - target[l, 1]
        norm = np.sqrt(du * du + dv * dv)
        if norm <= huber:
            cost += scale[l] * norm * norm
            irls = scale[l]
        else:  # rho(r) = 2 k |r| - k^2, its IRLS weight k / |r|
            cost += scale[l] * (2 * huber * norm - huber * huber)
            irls = scale[l] * huber / norm
        count = 0
        for a in range(n):
            if jacobian[l, 0, a] != 0.0 or jacobian[l, 1, a] != 0.0:
                moving[count] = a
                count += 1
        for row in range(2):
            residual = du if row == 0 else dv
            for i in range(count):
                a = moving[i]
                weighted = irls * jacobian[l, row, a]
                gradient[a] += weighted * residual
                for j in range(i, count):
                    hessian[a, moving[j]] += weighted * jacobian[l, row, moving[j]]
    for a in range(n):  # loops, not BLAS: OpenBLAS's threads, left spinning by other numpy work, would stall it
        for b in range(a):
            hessian[a, b] = hessian[b, a]
    return cost, hessian, gradient


# ---------------------------------------------------------------------------------------------------------------
# Priors, start, solver


def _frame_prior(model: FitModel, settings: FitSettings, previous: np.ndarray | None):
    """Per-unknown precision (n,) and mean (n,) of the priors: zero-mean on expression, jaw and eyes, plus the
    temporal one towards `previous` (two Gaussians on one unknown make one, precision-weighted)."""
    num_expressions = model.points.num_expressions
    absolute = [np.zeros(6), np.full(num_expressions, settings.expression_sigma ** -2)]
    temporal = [np.full(3, settings.temporal_rotation ** -2), np.zeros(3),
                np.full(num_expressions, settings.temporal_expression ** -2)]
    for j in model.free_joints:
        absolute.append(np.asarray(settings.jaw_sigma if j == JAW else [settings.eye_sigma] * 3) ** -2.0)
        temporal.append(np.full(3, (settings.temporal_jaw if j == JAW else settings.temporal_eyes) ** -2))
    absolute, temporal = np.concatenate(absolute), np.concatenate(temporal)
    if previous is None:
        return absolute, np.zeros(len(absolute))
    temporal[3:6] = (settings.temporal_translation * abs(previous[5])) ** -2
    precision = absolute + temporal
    return precision, temporal * previous / precision


def _initial_guess(model: FitModel, target: np.ndarray, weight: np.ndarray, intrinsics) -> np.ndarray:
    """Facing the camera, neutral, at the depth where the neutral model's spread matches the observed one."""
    fx, fy, cx, cy = intrinsics
    x = np.zeros(model.num_unknowns)
    x[5] = 1.0
    points = model.active(x)
    used = weight > 0
    local = (MODEL_TO_CAMERA @ _project_local(points).T).T[used]  # (L, 3) camera frame, before translation
    centre, observed_centre = local.mean(0), target[used].mean(0)
    model_spread = np.sqrt(((local[:, :2] - centre[:2]) ** 2).sum(1).mean())
    observed_spread = np.sqrt((((target[used] - observed_centre) / [fx, fy]) ** 2).sum(1).mean())
    depth = model_spread / observed_spread
    x[3:6] = np.array([(observed_centre[0] - cx) / fx * depth, (observed_centre[1] - cy) / fy * depth, depth]) - centre
    return x


def _project_local(points: LandmarkModel) -> np.ndarray:
    """(L, 3) the neutral, unposed points in model space."""
    return np.einsum("lc,lca->la", points.bary, points.v_template[points.corners])


def _levenberg_marquardt(linearize, x, precision, mean, free, max_iterations, tolerance, num_points, lower=None):
    """Minimise data(x) + sum precision (x - mean)^2 over the unknowns marked `free` (None: all), with x >= lower
    (None: unbounded). linearize(x) -> (data cost, J^T C J, J^T C r). Returns x and the number of linearizations
    after the first.

    Stops when the next step's predicted decrease is below tolerance * (cost + num_points), before paying for
    its evaluation: a warm start typically takes one step and sees the second is not worth it.
    """
    free = np.flatnonzero(np.ones(len(x), bool) if free is None else free)
    lower = np.full(len(x), -np.inf) if lower is None else lower
    x = np.maximum(x, lower)
    cost, hessian, gradient = linearize(x)
    total = cost + precision @ (x - mean) ** 2
    damping = 1e-4
    iterations = 0
    while iterations < max_iterations:
        h = hessian[np.ix_(free, free)] + np.diag(precision[free])
        g = gradient[free] + precision[free] * (x - mean)[free]
        step = _bounded_step(h + damping * np.diag(np.diag(h)), g, x[free], lower[free])
        if -(g @ step + 0.5 * step @ h @ step) < tolerance * (total + num_points):
            break
        trial = x.copy()
        trial[free] = np.maximum(trial[free] + step, lower[free])
        trial_cost, trial_hessian, trial_gradient = linearize(trial)
        trial_total = trial_cost + precision @ (trial - mean) ** 2
        iterations += 1
        if trial_total <= total:
            x, total, hessian, gradient = trial, trial_total, trial_hessian, trial_gradient
            damping = max(damping / 10, 1e-7)
        else:
            damping *= 10
            if damping > 1e6:  # no step lowers the cost: at a minimum
                break
    return x, iterations


def _bounded_step(h: np.ndarray, g: np.ndarray, x: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """The step d minimising g d + d h d / 2 with x + d >= lower, by active sets: an unknown at its bound that the
    gradient pushes out stays there; one the step would take past its bound stops on it, and the others' step is
    solved again with it there. One linearization's model, solved to its constrained minimum, so that a bound
    costs no extra evaluations of the fit."""
    step = np.zeros(len(g))
    held = (x <= lower) & (g > 0)
    for _ in range(len(g)):
        moving = ~held
        if not moving.any():
            break
        rhs = g[moving] + h[np.ix_(moving, held)] @ step[held]
        step[moving] = np.linalg.solve(h[np.ix_(moving, moving)], -rhs)
        crossing = moving & (x + step < lower)
        if not crossing.any():
            break
        step[crossing] = lower[crossing] - x[crossing]
        held |= crossing
    return step
