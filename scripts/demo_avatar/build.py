"""Build the embedded demo avatar from a face photo: head model (mesh, rig, blendshapes) + Gaussians on it."""
from __future__ import annotations

import numpy as np
import torch

from avatar.rigged import RiggedAvatar
from models.camera import Camera
from models.head_model import HeadModel, LandmarkEmbedding
from scripts.demo_avatar.appearance import Photo, colours
from scripts.demo_avatar.expressions import blendshape, expressions
from scripts.demo_avatar.face import face_from_photo
from scripts.demo_avatar.head import NECK_BOTTOM, build_head
from scripts.demo_avatar.surfels import strand_covariances, surfels

SPACING = {"face": 0.002, "eye_left": 0.0012, "eye_right": 0.0012, "upper_teeth": 0.0013, "lower_teeth": 0.0013,
           "skull": 0.0055, "neck": 0.0055, "mouth": 0.004, "tongue": 0.003, "socket": 0.0025}  # metres apart
OPACITY = 0.97
CROWN = np.array([0.0, 0.14, -0.07])  # where the hair falls from
IDENTITY_SCALE = 0.1  # identity components: 10% wider / taller / deeper per unit


def build_demo_avatar(photo: np.ndarray, seed: int = 0) -> RiggedAvatar:
    """(H, W, 3) uint8 RGB photo of one face -> the demo avatar."""
    face = face_from_photo(photo)
    head = build_head(face)
    vertices, triangles, parts = np.array(head.vertices), np.array(head.triangles), np.array(head.parts)

    named = expressions(face)
    exprdirs = np.zeros((len(vertices), 3, len(named)))
    for e, expression in enumerate(named.values()):
        exprdirs[:468, :, e] = blendshape(face, expression)
    shapedirs = np.stack([vertices * axis for axis in np.eye(3)], axis=2) * IDENTITY_SCALE

    # Every mediapipe landmark is a vertex: embed each as a corner of one of its triangles.
    face_ids, bary = np.zeros(478, np.int64), np.zeros((478, 3))
    for t, triangle in enumerate(triangles):
        for corner, vertex in enumerate(triangle):
            if vertex < 478:
                face_ids[vertex], bary[vertex] = t, np.eye(3)[corner]

    as_tensor = lambda array: torch.from_numpy(np.ascontiguousarray(array, np.float32))
    model = HeadModel(
        v_template=as_tensor(vertices), shapedirs=as_tensor(shapedirs), exprdirs=as_tensor(exprdirs),
        posedirs=torch.zeros(36, len(vertices) * 3), joint_regressor=as_tensor(head.joint_regressor),
        parents=torch.tensor([-1, 0, 1, 1, 1]), lbs_weights=as_tensor(np.array(head.weights)),
        faces=torch.from_numpy(triangles), expression_names=tuple(named),
        landmarks={"mediapipe": LandmarkEmbedding(torch.from_numpy(face_ids), as_tensor(bary))},
    )

    gaussian_faces, gaussian_bary, covars = surfels(vertices, triangles, np.array([SPACING[p] for p in parts]))
    corners = vertices[triangles[gaussian_faces]]  # (N, 3, 3)
    means = np.einsum("nk,nkc->nc", gaussian_bary, corners)
    normals = np.einsum("nk,nkc->nc", gaussian_bary, _vertex_normals(vertices, triangles)[triangles[gaussian_faces]])
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)  # smooth shading normals
    hair_cover = np.zeros(len(vertices))
    hair_cover[list(head.hair)] = list(head.hair.values())
    hair = hair_cover[triangles[gaussian_faces]].mean(axis=1)
    gaussian_parts = parts[gaussian_faces]
    # Where the photo saw each face Gaussian: its triangle's landmarks in the photo, interpolated.
    on_face = gaussian_parts == "face"
    face_pixels = np.zeros((len(means), 2))
    face_pixels[on_face] = np.einsum("nk,nkc->nc", gaussian_bary[on_face],
                                     face.pixels[triangles[gaussian_faces[on_face]]])
    is_hair = (gaussian_parts == "skull") & (hair > 0.5)
    covars[is_hair] = strand_covariances(means[is_hair], normals[is_hair], SPACING["skull"], CROWN)
    rgb = colours(Photo(photo, face), gaussian_parts, means, normals, face_pixels, hair, CROWN,
                  np.random.default_rng(seed))

    opacities = np.full(len(means), OPACITY)
    neck = gaussian_parts == "neck"
    opacities[neck] *= np.clip((means[neck, 1] - NECK_BOTTOM) / 0.04, 0.02, 1)  # the neck fades out at its base

    camera = Camera.look_at(eye=(0.0, -0.04, 0.95), target=(0.0, -0.04, -0.04), up=(0.0, 1.0, 0.0),
                            width=512, height=512, fx=1330.0)
    return RiggedAvatar.bind(model, torch.from_numpy(gaussian_faces), as_tensor(means), as_tensor(covars),
                             as_tensor(opacities), as_tensor(rgb), camera)


def _vertex_normals(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """(V, 3) area-weighted mean of the normals of the triangles around each vertex."""
    a, b, c = (vertices[triangles[:, i]] for i in range(3))
    normals = np.zeros_like(vertices)
    for corner in range(3):
        np.add.at(normals, triangles[:, corner], np.cross(b - a, c - a))
    return normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
