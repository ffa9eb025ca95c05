"""The FLAME head model a MonoGaussianAvatar checkpoint carries: the subject's identity baked in, x4 scale."""
from __future__ import annotations

import torch
from torch import Tensor

from models.head_model import HeadModel, LandmarkEmbedding
from models.params import JAW

FLAME = "FLAMEServer."
NUM_SHAPE = 100  # shapedirs holds 100 identity components, then 50 expression components


def checkpoint_head_model(state_dict: dict[str, Tensor]) -> HeadModel:
    """The head model in the checkpoint's FLAME buffers, with its landmark embeddings:

    - "flame68": the 68 face landmarks with a fixed jaw contour;
    - "flame51": the 51 inner landmarks, and "flame_contour": the 17 jaw-contour landmarks for each of 79
      head-yaw bins (FLAME's dynamic contour, which follows the silhouette as the head turns).
    """
    buffer = {key[len(FLAME):]: value for key, value in state_dict.items() if key.startswith(FLAME)}
    shapedirs = buffer["shapedirs"]
    return HeadModel(
        v_template=buffer["v_template"], shapedirs=shapedirs[..., :NUM_SHAPE].contiguous(),
        exprdirs=shapedirs[..., NUM_SHAPE:].contiguous(), posedirs=buffer["posedirs"],
        joint_regressor=buffer["J_regressor"], parents=buffer["parents"], lbs_weights=buffer["lbs_weights"],
        faces=buffer["faces_tensor"],
        landmarks={
            "flame68": LandmarkEmbedding(buffer["full_lmk_faces_idx"][0], buffer["full_lmk_bary_coords"][0]),
            "flame51": LandmarkEmbedding(buffer["lmk_faces_idx"], buffer["lmk_bary_coords"]),
            "flame_contour": LandmarkEmbedding(buffer["dynamic_lmk_faces_idx"], buffer["dynamic_lmk_bary_coords"]),
        },
    )


def canonical_pose(canonical_jaw: float) -> Tensor:
    """(5, 3) the pose the canonical points were learned in: everything zero but the jaw, opened about x."""
    pose = torch.zeros(5, 3)
    pose[JAW, 0] = canonical_jaw
    return pose
