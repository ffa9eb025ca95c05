"""Rigged avatars: Gaussians bound to the triangles of a head model's mesh, each riding its triangle."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from numba import njit
from torch import Tensor

from avatar.contract import placed
from avatar.splatting.gaussians import Gaussians
from models.camera import Camera
from models.head_model import HeadModel, pose_head
from models.head_model_file import HeadModelError, head_model_arrays, head_model_from_arrays, read_npz, save_npz
from models.params import FlameParams, FlameSequence

KIND_KEY = "livehead_avatar_kind"
GAUSSIAN_KEYS = ("face_ids", "local_means", "local_covars", "opacities", "colors")


def triangle_frames(vertices: Tensor, faces: Tensor) -> tuple[Tensor, Tensor]:
    """(..., V, 3) vertices, (F, 3) faces -> (..., F, 3, 3) frames [e1 | e2 | unit normal] and (..., F, 3) origins.

    A point's coordinates in its triangle's frame stay fixed while the triangle moves, so the frame maps
    rest positions to posed ones: an affine map that follows rotation, stretch and shear of the triangle,
    and keeps distances along the normal.
    """
    v0, v1, v2 = (vertices[..., faces[:, i], :] for i in range(3))
    e1, e2 = v1 - v0, v2 - v0
    normal = torch.nn.functional.normalize(torch.linalg.cross(e1, e2), dim=-1)
    return torch.stack([e1, e2, normal], dim=-1), v0


@dataclass
class RiggedAvatar:
    """Gaussians in triangle coordinates: posing the mesh poses them.

    Per frame: the head model's skinning, one 3x3 frame per triangle, then one affine map per Gaussian: on the CPU in
    one numba pass, elsewhere (`to(device)`) in torch.
    """

    head: HeadModel  # identity baked in
    face_ids: Tensor  # (N,) the triangle each Gaussian rides
    local_means: Tensor  # (N, 3) in the triangle's rest frame
    local_covars: Tensor  # (N, 3, 3) in the triangle's rest frame
    opacities: Tensor  # (N,)
    colors: Tensor  # (N, 3)
    default_camera: Camera
    posing_head: HeadModel | None = None  # `head` on the avatar's device, where it poses; None: `head`, on the CPU
    expression_range: tuple[float, float] = (-1.0, 1.0)  # its blendshapes are designed for 0..1 (and their opposite)
    timeline: FlameSequence | None = None
    eigen_layout: ClassVar[None] = None
    file_kind: ClassVar[str] = "rigged"

    @staticmethod
    def bind(head: HeadModel, face_ids: Tensor, means: Tensor, covars: Tensor, opacities: Tensor,
             colors: Tensor, default_camera: Camera) -> RiggedAvatar:
        """Bind Gaussians given in the rest (neutral, unposed) space to triangles `face_ids`."""
        frames, origins = triangle_frames(head.v_template, head.faces)
        inverse = torch.linalg.inv(frames)[face_ids]  # (N, 3, 3)
        local_means = (inverse @ (means - origins[face_ids])[..., None])[..., 0]
        local_covars = inverse @ covars @ inverse.transpose(1, 2)
        return RiggedAvatar(head, face_ids, local_means, local_covars, opacities, colors, default_camera)

    @property
    def device(self) -> torch.device:
        """Where it poses, and its Gaussians come out."""
        return self.local_means.device

    def to(self, device, dtype: torch.dtype | None = None) -> RiggedAvatar:
        """A copy that poses on `device` (avatar/contract.py); float32 whatever `dtype`."""
        return placed(self, device, *GAUSSIAN_KEYS)

    def gaussians(self, params: FlameParams) -> Gaussians:
        """Gaussians on the avatar's device, from parameters on any device."""
        head = self.head if self.posing_head is None else self.posing_head
        device = self.device
        expression, pose, translation = (value[None].to(device) for value in (params.expression, params.pose,
                                                                                    params.translation))
        posed = pose_head(head, expression, pose, translation).vertices[0]
        if device.type == "cpu":
            means, covars = torch.empty_like(self.local_means), torch.empty_like(self.local_covars)
            _place_on_triangles(posed.numpy(), head.faces.numpy(), self.face_ids.numpy(), self.local_means.numpy(),
                                self.local_covars.numpy(), means.numpy(), covars.numpy())
        else:
            means, covars = place_on_triangles_reference(posed, head.faces, self.face_ids, self.local_means,
                                                         self.local_covars)
        return Gaussians(means=means, opacities=self.opacities, colors=self.colors, covars=covars)


def place_on_triangles_reference(vertices: Tensor, faces: Tensor, face_ids: Tensor, local_means: Tensor,
                                 local_covars: Tensor) -> tuple[Tensor, Tensor]:
    """(V, 3) posed vertices -> (N, 3) means and (N, 3, 3) covariances of the Gaussians riding the triangles:
    what `_place_on_triangles` computes, in torch (its batched 3x3 products cost ~10x more)."""
    frames, origins = triangle_frames(vertices, faces)
    frames, origins = frames[face_ids], origins[face_ids]  # (N, 3, 3), (N, 3)
    means = origins + (frames @ local_means[..., None])[..., 0]
    return means, frames @ local_covars @ frames.transpose(1, 2)


@njit(cache=True, nogil=True)
def _place_on_triangles(vertices, faces, face_ids, local_means, local_covars, means, covars):
    """One pass over the Gaussians: each one's triangle frame F = [e1 | e2 | unit normal], then
    mean = v0 + F m and covariance = F S F^T. Writes means (N, 3) and covars (N, 3, 3)."""
    frame = np.empty((3, 3))
    product = np.empty((3, 3))
    for i in range(face_ids.shape[0]):
        a, b, c = faces[face_ids[i], 0], faces[face_ids[i], 1], faces[face_ids[i], 2]
        for k in range(3):
            frame[k, 0] = vertices[b, k] - vertices[a, k]
            frame[k, 1] = vertices[c, k] - vertices[a, k]
        nx = frame[1, 0] * frame[2, 1] - frame[2, 0] * frame[1, 1]
        ny = frame[2, 0] * frame[0, 1] - frame[0, 0] * frame[2, 1]
        nz = frame[0, 0] * frame[1, 1] - frame[1, 0] * frame[0, 1]
        norm = max(np.sqrt(nx * nx + ny * ny + nz * nz), 1e-12)  # torch's normalize clamps the same way
        frame[0, 2], frame[1, 2], frame[2, 2] = nx / norm, ny / norm, nz / norm
        for r in range(3):
            means[i, r] = vertices[a, r] + frame[r, 0] * local_means[i, 0] + frame[r, 1] * local_means[i, 1] \
                + frame[r, 2] * local_means[i, 2]
            for k in range(3):
                product[r, k] = frame[r, 0] * local_covars[i, 0, k] + frame[r, 1] * local_covars[i, 1, k] \
                    + frame[r, 2] * local_covars[i, 2, k]
        for r in range(3):
            for k in range(3):
                covars[i, r, k] = product[r, 0] * frame[k, 0] + product[r, 1] * frame[k, 1] \
                    + product[r, 2] * frame[k, 2]


def save_rigged_avatar(avatar: RiggedAvatar, path) -> None:
    """One `.npz`: the head model's arrays (so it also loads as a head model), the Gaussians and the camera."""
    arrays = head_model_arrays(avatar.head) | avatar.default_camera.to_arrays()
    arrays |= {f"gaussians/{key}": getattr(avatar, key).numpy() for key in GAUSSIAN_KEYS}
    arrays[KIND_KEY] = np.array(RiggedAvatar.file_kind)
    save_npz(path, arrays)


def load_rigged_avatar(path: Path, arrays: dict[str, np.ndarray] | None = None) -> RiggedAvatar:
    """Read a rigged avatar `.npz` (`arrays`: its contents when already read)."""
    what_to_do = "give an avatar file written by livehead"
    arrays = read_npz(path, what_to_do) if arrays is None else arrays
    missing = [key for key in [KIND_KEY, "camera/intrinsics", *(f"gaussians/{k}" for k in GAUSSIAN_KEYS)]
               if key not in arrays]
    if missing:
        raise HeadModelError(f"{path}: missing {', '.join(missing)}; not a rigged avatar; {what_to_do}")
    head = head_model_from_arrays(path, arrays)
    gaussians = {key: torch.from_numpy(arrays[f"gaussians/{key}"]) for key in GAUSSIAN_KEYS}
    if not 0 <= int(gaussians["face_ids"].min()) <= int(gaussians["face_ids"].max()) < len(head.faces):
        raise HeadModelError(f"{path}: Gaussians bound to triangles the mesh does not have")
    return RiggedAvatar(head, **gaussians, default_camera=Camera.from_arrays(arrays))
