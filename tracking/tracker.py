"""The tracker: a frame in, FLAME parameters for the avatar out, in a few milliseconds.

Per frame: MediaPipe's 478 landmarks -> pick the face being followed -> fit the avatar's own head model
(tracking/fit.py, warm-started) -> One Euro smoothing -> retargeting (relative to the user's calibrated
neutral, or absolute). The user's face (its shape and its rest face: `identity`) is estimated once, over the first
frames with a face, and kept.
Frames without a face hold the last parameters for a moment, then ease toward neutral.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from models.camera import Camera
from models.head_model import HeadModel
from models.params import EYES, GLOBAL, JAW, JOINT_NAMES, FlameParams
from tracking.fit import FitModel, FitResult, FitState, estimate_rest_face, estimate_shape, fit_frame
from tracking.ibug68 import ibug68_from_mediapipe
from tracking.landmark_model import LandmarkSet
from tracking.retarget import EASE_SECONDS, HOLD_SECONDS, lost_face_weight, retarget
from tracking.smoothing import ParamSmoother

MEDIAPIPE_POINTS = 478
IBUG68_FIRST = MEDIAPIPE_POINTS  # the 68 iBUG points are appended to MediaPipe's 478 in the observation array
# With the focal length unknown, depth and focal trade off: the face's depth can drift to implausible values
# (x0.45 on pyfeat_single_face.mp4 at f = 640 px, x1.16 at f = 5000) while fitting equally well. Shape
# coefficients are in standard deviations; beyond 3 a face is implausible.
SHAPE_LIMIT = 3.0


@dataclass
class TrackerSettings:
    relative: bool = True  # drive expression and jaw relative to the calibrated neutral (absolute until then)
    smoothing: float = 1.0  # One Euro strength, 0 (off) .. 1
    shape_frames: int = 20  # frames with a face over which the user's face is estimated; 0: keep the model's
    hold_seconds: float = HOLD_SECONDS  # no face: hold the last parameters this long...
    ease_seconds: float = EASE_SECONDS  # ...then ease to rest over about this long
    focal: float | None = None  # focal length in pixels; None: the image's larger side (about 53 degrees)
    max_faces: int = 2  # faces the detector looks for, so that the followed one can be told from others
    # Estimating the shape takes 0.4-3 s: live, it runs on a thread of its own while tracking goes on with the
    # template shape; offline it runs in line, so that a video always tracks the same way.
    shape_in_background: bool = False


@dataclass
class TrackedFrame:
    index: int
    time: float  # seconds
    face_found: bool
    params: FlameParams  # what drives the avatar: smoothed, retargeted, no translation
    fitted: FlameParams | None  # the raw fit (None without a face), with the camera-space translation
    landmarks: np.ndarray | None  # (478, 3) the detected landmarks followed, pixels
    fitted_2d: np.ndarray | None  # (M, 2) the fitted model's landmarks projected, pixels
    error_px: float  # mean reprojection error; nan without a face


def landmark_set_for(head: HeadModel, embedding_file: str | Path | None = None) -> LandmarkSet:
    """How detected landmarks meet this head model: a MediaPipe embedding file if given (FLAME's 105-point
    `mediapipe_landmark_embedding.npz`), else the model's own MediaPipe embedding (the demo), else FLAME's
    68 points with the dynamic contour (MonoGaussianAvatar checkpoints carry it)."""
    if embedding_file is not None:
        return mediapipe_embedding_file(embedding_file)
    if "mediapipe" in head.landmarks:
        return LandmarkSet.mediapipe(head)
    if "flame51" in head.landmarks and "flame_contour" in head.landmarks:
        return LandmarkSet.flame68(head, IBUG68_FIRST + np.arange(68))
    raise ValueError("this head model has no landmark embedding (neither MediaPipe's nor FLAME's 68 points); "
                     "give a MediaPipe embedding file")


def mediapipe_embedding_file(path: str | Path) -> LandmarkSet:
    """FLAME's `mediapipe_landmark_embedding.npz`: `lmk_face_idx` (L,), `lmk_b_coords` (L, 3) and
    `landmark_indices` (L,), the MediaPipe point each embedded point matches."""
    try:
        with np.load(path, allow_pickle=False) as data:
            face_ids, bary, observed = (data[key] for key in ("lmk_face_idx", "lmk_b_coords", "landmark_indices"))
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(f"{path}: not a MediaPipe landmark embedding (.npz with lmk_face_idx, lmk_b_coords, "
                         f"landmark_indices): {err}") from err
    return LandmarkSet.fixed(observed, face_ids, bary)


def observations(points: np.ndarray) -> np.ndarray:
    """(478, 3) MediaPipe landmarks -> (546, 3): the same, then the 68 iBUG points built from them."""
    return np.concatenate([points, ibug68_from_mediapipe(points)])


@dataclass
class Tracker:
    """Feed frames in order with `track(index, time, image)`; read `neutral`, call `calibrate_neutral()`."""

    head: HeadModel
    settings: TrackerSettings = field(default_factory=TrackerSettings)
    embedding_file: str | Path | None = None
    detector: object = None  # anything with detect(rgb) -> list[(478, 3)]; default: MediaPipe's face mesh

    def __post_init__(self):
        if self.detector is None:
            from tracking.face_mesh import FaceMeshDetector

            self.detector = FaceMeshDetector(static_images=False, max_faces=self.settings.max_faces)
        self.model = FitModel.build(self.head, landmark_set_for(self.head, self.embedding_file))
        self.smoother = ParamSmoother(strength=self.settings.smoothing)
        self.neutral = FlameParams.neutral(self.head.num_expressions)  # expression and jaw that mean "at rest"
        self.shape: np.ndarray | None = None  # the user's shape, once estimated
        self._shape_samples: list[np.ndarray] = []
        self._shape_job: threading.Thread | None = None
        self._state: FitState | None = None
        self._followed: np.ndarray | None = None  # (2,) the followed face's centre, pixels
        self._last: FlameParams = FlameParams.neutral(self.head.num_expressions)  # the last output
        self._last_fitted: FlameParams | None = None
        self._last_observation: tuple[np.ndarray, tuple] | None = None  # (observed, intrinsics) of the last face
        self._neutral_observation: tuple[np.ndarray, tuple] | None = None  # the face calibrated as neutral
        self._face_seen_at: float | None = None

    def track(self, index: int, time: float, image: np.ndarray | None) -> TrackedFrame:
        """One frame: (H, W, 3) uint8 RGB, or None for a frame that could not be read (treated as no face)."""
        faces = self.detector.detect(image) if image is not None else []
        points = self._follow(faces)
        if points is None:
            self._state = None  # the next face starts cold: it may be elsewhere
            return TrackedFrame(index, time, False, self._without_face(time), None, None, None, float("nan"))

        intrinsics = _intrinsics(fitting_camera(image.shape[1], image.shape[0], self.settings.focal))
        observed = observations(points)
        self._learn_shape(observed, intrinsics)
        result = fit_frame(self.model, observed, None, intrinsics, self._state)
        self._state, self._last_observation = result.state, (observed, intrinsics)
        self._face_seen_at, self._last_fitted = time, result.params
        self._last = self._drive(result.params, time)
        return TrackedFrame(index, time, True, self._last, result.params, points, result.landmarks_2d,
                            result.error_px)

    def refit(self, points: np.ndarray, size: tuple[int, int], state: FitState | None) -> FitResult:
        """Fit (478, 3) landmarks of a (width, height) frame again with the face as it is now (the offline pass
        refits the frames tracked before the user's face was estimated); `state` warm-starts it."""
        intrinsics = _intrinsics(fitting_camera(*size, self.settings.focal))
        return fit_frame(self.model, observations(points), None, intrinsics, state)

    def set_relative(self, relative: bool) -> None:
        """Drive expression and jaw relative to the calibrated neutral (True) or absolute, from the next frame."""
        self.settings.relative = bool(relative)

    def set_smoothing(self, strength: float) -> None:
        """One Euro strength, 0 (raw values) .. 1, from the next frame."""
        self.smoother.strength = float(strength)  # ValueError outside [0, 1]
        self.settings.smoothing = self.smoother.strength

    def calibrate_neutral(self) -> None:
        """From now on, the user's current expression and jaw count as the avatar's rest."""
        if self._last_observation is not None:
            self._neutral_observation = self._last_observation
            self._set_neutral(self._last_fitted)

    def _set_neutral(self, fitted: FlameParams) -> None:
        self.neutral = FlameParams(fitted.expression.clone(), fitted.pose.clone(), torch.zeros(3))

    def _refit_neutral(self) -> None:
        """The shape changed: the calibrated face, fitted again with it, so that it still reads as neutral."""
        if self._neutral_observation is not None:
            observed, intrinsics = self._neutral_observation
            self._set_neutral(fit_frame(self.model, observed, None, intrinsics, None).params)

    def close(self) -> None:
        """Wait for a face estimate still running in the background: a thread left in native code while the
        interpreter exits can abort it ("terminate called without an active exception")."""
        if self._shape_job is not None:
            self._shape_job.join()

    def reestimate_shape(self) -> None:
        """Estimate the user's face shape again over the next frames with a face (e.g. another person sits down)."""
        if self._shape_job is not None:
            self._shape_job.join()  # its result belongs to the old shape
        self.model = FitModel.build(self.head, self.model.landmark_set)
        self.shape, self._shape_samples, self._state, self._shape_job = None, [], None, None
        self._refit_neutral()

    # -- steps ----------------------------------------------------------------------------------------------

    def _follow(self, faces: list[np.ndarray]) -> np.ndarray | None:
        """The face to track: the one nearest the followed face's last position, else the largest."""
        if not faces:
            return None
        centres = [face[:, :2].mean(axis=0) for face in faces]
        if self._followed is not None:
            best = int(np.argmin([np.linalg.norm(c - self._followed) for c in centres]))
        else:
            best = int(np.argmax([np.ptp(face[:, 0]) for face in faces]))
        self._followed = centres[best]
        return faces[best]

    def _learn_shape(self, observed: np.ndarray, intrinsics) -> None:
        """Collect the first frames with a face, then estimate the user's face once and keep it."""
        if self.shape is not None or self.settings.shape_frames <= 0:
            return
        if self._shape_job is not None:  # estimating in the background: take the result once it is there
            if not self._shape_job.is_alive():
                self._use_shape(self._shape_result.pop())
            return
        self._shape_samples.append(observed)
        if len(self._shape_samples) < self.settings.shape_frames:
            return
        samples, self._shape_samples = self._shape_samples, []
        if not self.settings.shape_in_background:
            self._use_shape(identity(self.model, samples, intrinsics))
            return
        self._shape_result: list[tuple[np.ndarray, FitModel]] = []
        self._shape_job = threading.Thread(target=lambda: self._shape_result.append(
            identity(self.model, samples, intrinsics)), name="shape", daemon=True)
        self._shape_job.start()

    def _use_shape(self, estimated: tuple[np.ndarray, FitModel]) -> None:
        self.shape, self.model = estimated
        self._state, self._shape_job = None, None
        self._refit_neutral()

    def _drive(self, fitted: FlameParams, time: float) -> FlameParams:
        """Smoothed, then retargeted (tracking/retarget.py) parameters for the avatar."""
        pose = fitted.pose.numpy()
        smoothed = self.smoother({"expression": fitted.expression.numpy(), "jaw": pose[JAW],
                                  "rotation": pose[GLOBAL], "eyes": pose[EYES]}, time)
        smoothed_pose = torch.zeros(len(JOINT_NAMES), 3)
        smoothed_pose[GLOBAL] = torch.from_numpy(smoothed["rotation"]).float()
        smoothed_pose[JAW] = torch.from_numpy(smoothed["jaw"]).float()
        smoothed_pose[EYES] = torch.from_numpy(smoothed["eyes"]).float()
        expression, pose = retarget(torch.from_numpy(smoothed["expression"]).float(), smoothed_pose, self.neutral,
                                    self.settings.relative)
        return FlameParams(expression, pose, torch.zeros(3))

    def _without_face(self, time: float) -> FlameParams:
        """Hold the last parameters, then ease toward rest, so a lost face never snaps."""
        if self._face_seen_at is None:
            return self._last
        keep = lost_face_weight(time - self._face_seen_at, self.settings.hold_seconds, self.settings.ease_seconds)
        if keep == 1.0:
            return self._last
        last = self._last
        return FlameParams(last.expression * keep, last.pose * keep, last.translation * keep)


def identity(model: FitModel, frames: list[np.ndarray], intrinsics) -> tuple[np.ndarray, FitModel]:
    """The user's face from frames of it: its shape (clipped to SHAPE_LIMIT) and the fitting model with that
    shape and the user's rest face (tracking/fit.py `estimate_rest_face`)."""
    shape = (np.clip(estimate_shape(model, frames, intrinsics), -SHAPE_LIMIT, SHAPE_LIMIT) if model.points.num_shape
             else np.zeros(0))
    shaped = model.with_shape(shape)
    return shape, shaped.with_rest_face(estimate_rest_face(shaped, frames, intrinsics))


def _intrinsics(camera: Camera) -> tuple[float, float, float, float]:
    return camera.fx, camera.fy, camera.cx, camera.cy


def fitting_camera(width: int, height: int, focal: float | None = None) -> Camera:
    """The camera the tracker fits through: at the origin looking down -z (y up), as IMavatar's world."""
    focal = focal or float(max(width, height))
    return Camera(width, height, focal, focal, (width - 1) / 2, (height - 1) / 2, torch.diag(torch.tensor(
        [1.0, -1.0, -1.0, 1.0])))
