"""GaussianAvatars' avatars (Qian et al., CVPR 2024): 3D Gaussians riding the triangles of FLAME 2023 with teeth.

Per frame (../shared/specs/gaussianavatars.md): the mesh is posed (FLAME's skinning, the subject's shape and static
offset baked into the template at load), each triangle gives a frame (centre, rotation, scale), and each Gaussian
is placed in its triangle's frame: mean = R xyz s + c, scales = exp(log scale) s, rotation = q_triangle x q. Its
colour is spherical harmonics of degree 3, seen from the camera. reference.py is the same in float64, written
directly from the spec; the tests compare the two, and both with what the original code computed.
"""
from __future__ import annotations

import math
import pickle
from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from avatar.contract import placed
from avatar.splatting.gaussians import Gaussians
from models.camera import Camera
from models.errors import AvatarError
from models.head_model import HeadModel, LandmarkEmbedding, pose_head
from models.params import FlameParams, FlameSequence
from models.rotation import matrix_to_quaternion, quaternion_multiply
from models.safe_pickle import safe_load


@dataclass
class FlameBoundAvatar:
    """`head`: FLAME with teeth, the subject's shape and static offset in its template; a Gaussian n rides its
    triangle `binding[n]` (of `head.faces`) with local position `xyz`, `scales` and unit `rotations` (w, x, y, z),
    activated `opacities` and `sh` (N, 16, 3). `timeline`: the avatar's own frames (its flame_param.npz)."""

    head: HeadModel
    binding: Tensor  # (N,) int64
    xyz: Tensor  # (N, 3)
    scales: Tensor  # (N, 3) exp(log scale), before the triangle's scale
    rotations: Tensor  # (N, 4) unit
    opacities: Tensor  # (N,)
    sh: Tensor  # (N, 16, 3)
    default_camera: Camera
    timeline: FlameSequence | None = None
    expression_range: tuple[float, float] = (-3.0, 3.0)
    posing_head: HeadModel | None = None  # `head` on the avatar's device, where it poses; None: `head`, on the CPU
    eigen_layout: ClassVar[None] = None
    file_kind: ClassVar[str] = "flame_bound"

    def __len__(self) -> int:
        return self.xyz.shape[0]

    @property
    def device(self) -> torch.device:
        return self.xyz.device

    def to(self, device, dtype: torch.dtype | None = None) -> FlameBoundAvatar:
        """A copy that poses on `device` (avatar/contract.py); float32 whatever `dtype`."""
        return placed(self, device, "binding", "xyz", "scales", "rotations", "opacities", "sh")

    def gaussians(self, params: FlameParams) -> Gaussians:
        """The Gaussians of one frame, on the avatar's device, from parameters on any device."""
        device = self.device
        head = self.head if self.posing_head is None else self.posing_head
        posed = pose_head(head, params.expression[None].to(device, torch.float32),
                          params.pose[None].to(device, torch.float32),
                          params.translation[None].to(device, torch.float32)).vertices[0]
        centres, frames, sizes = triangle_frames(posed[head.faces])
        frames, sizes = frames[self.binding], sizes[self.binding]
        means = (frames @ (self.xyz * sizes[:, None])[..., None])[..., 0] + centres[self.binding]
        turns = quaternion_multiply(matrix_to_quaternion(frames), self.rotations)
        return Gaussians(means, self.opacities, None, turns, self.scales * sizes[:, None], sh=self.sh)


def triangle_frames(triangles: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(F, 3, 3) triangles (their vertices v0, v1, v2 as stored) -> (F, 3) centres, (F, 3, 3) rotations whose
    columns are the triangle's tangent a0 = v1 - v0, normal a1 = a0 x (v2 - v0) and a2 = -(a1 x a0), normalised;
    (F,) scales: the mean of the edge |v1 - v0| and the height of v2 along a2."""
    v0, v1, v2 = triangles.unbind(1)
    a0 = _normalised(v1 - v0)
    a1 = _normalised(torch.linalg.cross(a0, v2 - v0))
    a2 = -_normalised(torch.linalg.cross(a1, a0))
    sizes = ((v1 - v0).norm(dim=-1) + ((v2 - v0) * a2).sum(dim=-1).abs()) / 2
    return triangles.mean(dim=1), torch.stack([a0, a1, a2], dim=-1), sizes


def _normalised(x: Tensor) -> Tensor:
    return x / (x * x).sum(dim=-1, keepdim=True).clamp(min=1e-20).sqrt()


FLAME_PARAMS = "flame_param.npz"
LANDMARKS = "landmark_embedding_with_eyes.npy"  # beside flame2023.pkl in a GaussianAvatars checkout
TIMELINE_FPS = 25.0  # GaussianAvatars' viewer plays an avatar's frames at this rate
VIEW_FOV_DEGREES = 20.0  # its viewer's vertical field of view, the camera 1 unit in front of the head


CHECKOUT_FLAME = Path("flame_model") / "assets" / "flame" / "flame2023.pkl"  # where a GaussianAvatars checkout keeps it


def find_flame(ply: Path) -> Path:
    """FLAME 2023 where a GaussianAvatars checkout keeps it, in the folders above the avatar; AvatarError if not
    found."""
    for folder in ply.resolve().parents:
        if (folder / CHECKOUT_FLAME).is_file():
            return folder / CHECKOUT_FLAME
    raise AvatarError(f"{ply}: a GaussianAvatars avatar, driven by FLAME 2023 with teeth, and no {CHECKOUT_FLAME} in "
                      "the folders above it; give the FLAME file it was trained with: --flame PATH/flame2023.pkl")


def load_flame_bound_avatar(ply: Path, flame: Path, landmarks: Path | None = None, size: int = 512
                            ) -> FlameBoundAvatar:
    """A GaussianAvatars avatar: its `point_cloud.ply`, the `flame_param.npz` beside it and the FLAME 2023 file
    `flame` (through the safe unpickler); FLAME's landmark embedding for tracking from `landmarks` (None: the
    landmark_embedding_with_eyes.npy beside `flame`, if there). Raises AvatarError, one line naming the file and
    what to do."""
    from avatar.flame_bound.teeth import with_teeth
    from avatar.splatting.ply import gaussians_of, read_vertices
    from models.head_model_file import HeadModelError, load_head_model

    try:
        vertices = read_vertices(ply)
        local = gaussians_of(vertices)
    except (OSError, ValueError) as err:
        raise AvatarError(f"{' '.join(str(err).split())}") from None
    if "binding_0" not in vertices.dtype.names:
        raise AvatarError(f"{ply}: a 3D Gaussian Splatting PLY without GaussianAvatars' binding_0; it is not bound "
                          "to a head, so it cannot be driven")
    params_file = ply.parent / FLAME_PARAMS
    try:
        params = dict(np.load(params_file, allow_pickle=False))
    except (OSError, ValueError) as err:
        raise AvatarError(f"{params_file}: {' '.join(str(err).split())}; GaussianAvatars writes it beside "
                          "point_cloud.ply") from None
    try:
        head = with_teeth(load_head_model(flame, num_shape=300, num_expressions=100))
    except HeadModelError as err:
        raise AvatarError(str(err)) from None
    binding = torch.from_numpy(vertices["binding_0"].astype(np.int64))
    if int(binding.max()) >= head.faces.shape[0] or int(binding.min()) < 0:
        raise AvatarError(f"{ply}: binds Gaussians to triangle {int(binding.max())}, and FLAME with teeth from "
                          f"{flame} has {head.faces.shape[0]}; give the FLAME file the avatar was trained with")
    static = torch.from_numpy(params["static_offset"]).float()[0]
    if static.shape != head.v_template.shape:
        raise AvatarError(f"{params_file}: its static_offset covers {static.shape[0]} vertices, and FLAME with teeth "
                          f"from {flame} has {head.v_template.shape[0]}; give the FLAME file the avatar was trained "
                          "with")
    head = head.with_shape(torch.from_numpy(params["shape"]).float())
    if landmarks is not None and not landmarks.is_file():
        raise AvatarError(f"{landmarks}: no such file; give FLAME's landmark_embedding_with_eyes.npy")
    embedding = landmark_embedding(landmarks if landmarks is not None else flame.parent / LANDMARKS)
    head = replace(head, v_template=head.v_template + static, landmarks=embedding)
    focal = size / 2 / math.tan(math.radians(VIEW_FOV_DEGREES) / 2)
    camera = Camera(size, size, focal, focal, (size - 1) / 2, (size - 1) / 2,
                    torch.tensor([[1.0, 0, 0, 0], [0, -1, 0, 0], [0, 0, -1, 1], [0, 0, 0, 1]]))
    return FlameBoundAvatar(head, binding, local.means, local.scales, local.quats, local.opacities, local.sh,
                            camera, timeline_of(params))


def read_motion(path: Path, num_expressions: int) -> FlameSequence:
    """Another GaussianAvatars / VHAP flame_param.npz as a motion: its dynamic parameters only, as the original
    viewer takes them (the avatar keeps its own shape and static offset). AvatarError, one line, if it is not one
    or does not fit an avatar of `num_expressions` coefficients."""
    try:
        params = dict(np.load(path, allow_pickle=False))
        motion = timeline_of(params)
    except (OSError, ValueError, KeyError) as err:
        raise AvatarError(f"{path}: not a GaussianAvatars / VHAP flame_param.npz ({' '.join(str(err).split())})"
                          ) from None
    if motion.expression.shape[1] != num_expressions:
        raise AvatarError(f"{path}: {motion.expression.shape[1]} expression coefficients, and this avatar has "
                          f"{num_expressions}; a motion drives a GaussianAvatars avatar")
    return motion


def timeline_of(params: dict[str, np.ndarray]) -> FlameSequence:
    """A GaussianAvatars / VHAP flame_param.npz's frames as FLAME parameters: its dynamic parameters only."""
    rows = [params[key] for key in ("rotation", "neck_pose", "jaw_pose")]
    pose = np.stack([*rows, params["eyes_pose"][:, :3], params["eyes_pose"][:, 3:]], axis=1)  # (T, 5, 3)
    return FlameSequence(torch.from_numpy(params["expr"]).float(), torch.from_numpy(pose).float(),
                         torch.from_numpy(params["translation"]).float(),
                         tuple(f"frame {k}" for k in range(pose.shape[0])))


def landmark_embedding(path: Path) -> dict[str, LandmarkEmbedding]:
    """FLAME's landmarks from GaussianAvatars' `landmark_embedding_with_eyes.npy` (a pickled dict in an .npy, read
    through the restricted unpickler), as the tracker takes them: the 68 iBUG points ("flame68": the first 68 of
    its 70 `full` ones, the eyes after), the 51 inner ones ("flame51": 17..67 of those) and the jaw contour per yaw
    ("flame_contour"); none where the file is absent (the tracker then says what it lacks)."""
    if not path.is_file():
        return {}
    try:
        with open(path, "rb") as file:
            version = np.lib.format.read_magic(file)  # the header of a 0-d object array; the pickle follows
            (np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0)(file)
            table = safe_load(file)
        table = table.item() if isinstance(table, np.ndarray) else table
        full_faces, full_bary = np.asarray(table["full_lmk_faces_idx"])[0], np.asarray(table["full_lmk_bary_coords"])[0]
        contour = LandmarkEmbedding(torch.from_numpy(np.asarray(table["dynamic_lmk_faces_idx"]).astype(np.int64)),
                                    torch.from_numpy(np.asarray(table["dynamic_lmk_bary_coords"])).float())
    except (OSError, ValueError, KeyError, IndexError, pickle.UnpicklingError) as err:
        raise AvatarError(f"{path}: not FLAME's landmark embedding ({' '.join(str(err).split())}); it comes with "
                          "GaussianAvatars' flame_model/assets/flame") from None

    def points(start: int, stop: int) -> LandmarkEmbedding:
        return LandmarkEmbedding(torch.from_numpy(full_faces[start:stop].astype(np.int64)),
                                 torch.from_numpy(full_bary[start:stop]).float())

    return {"flame68": points(0, 68), "flame51": points(17, 68), "flame_contour": contour}
