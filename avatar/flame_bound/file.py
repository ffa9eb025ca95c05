"""A GaussianAvatars avatar as one livehead `.npz`: its head model (FLAME with teeth, the subject's shape and static
offset baked in, with its landmark embedding), its bound Gaussians, camera and timeline. It opens in well under a
second and needs neither the FLAME file nor flame_param.npz again."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from avatar.flame_bound.avatar import FlameBoundAvatar
from models.camera import Camera
from models.errors import AvatarError
from models.head_model_file import head_model_arrays, head_model_from_arrays, save_npz
from models.params import FlameSequence

GAUSSIAN_KEYS = ("binding", "xyz", "scales", "rotations", "opacities", "sh")
TIMELINE_KEYS = ("expression", "pose", "translation")


def save_flame_bound_avatar(avatar: FlameBoundAvatar, path) -> None:
    from avatar.rigged import KIND_KEY

    arrays = head_model_arrays(avatar.head) | avatar.default_camera.to_arrays()
    arrays |= {f"gaussians/{key}": getattr(avatar, key).cpu().numpy() for key in GAUSSIAN_KEYS}
    if avatar.timeline is not None:
        arrays |= avatar.timeline.to_arrays()
    arrays[KIND_KEY] = np.array(FlameBoundAvatar.file_kind)
    save_npz(path, arrays)


def load_flame_bound_avatar_file(path: Path, arrays: dict[str, np.ndarray]) -> FlameBoundAvatar:
    """Read what save_flame_bound_avatar wrote (`arrays`: the file's contents)."""
    missing = [key for key in ["camera/intrinsics", *(f"gaussians/{k}" for k in GAUSSIAN_KEYS)] if key not in arrays]
    if missing:
        raise AvatarError(f"{path}: missing {', '.join(missing)}; give an avatar file written by livehead")
    head = head_model_from_arrays(path, arrays)
    gaussians = {key: torch.from_numpy(arrays[f"gaussians/{key}"]) for key in GAUSSIAN_KEYS}
    binding = gaussians["binding"]
    if len(binding) and not 0 <= int(binding.min()) <= int(binding.max()) < len(head.faces):
        raise AvatarError(f"{path}: Gaussians bound to triangles the mesh does not have")
    timeline = None
    if "timeline/expression" in arrays:
        timeline = FlameSequence(*(torch.from_numpy(arrays[f"timeline/{key}"]) for key in TIMELINE_KEYS),
                                 tuple(str(name) for name in arrays["timeline/names"]))
    return FlameBoundAvatar(head, **gaussians, default_camera=Camera.from_arrays(arrays), timeline=timeline)
