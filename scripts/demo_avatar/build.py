"""Build the embedded demo avatar from a face photo: head model (mesh, rig, blendshapes) + Gaussians on it."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from avatar.rigged import RiggedAvatar
from avatar.splatting.gaussians import Gaussians
from avatar.splatting.rasterizer import rasterize
from models.camera import Camera
from models.head_model import HeadModel, LandmarkEmbedding
from models.params import FlameParams
from scripts.demo_avatar.appearance import Samples, colours
from scripts.demo_avatar.bust import MARGIN
from scripts.demo_avatar.expressions import blendshape, expressions, lips_closed
from scripts.demo_avatar.face import Face, face_from_photo
from scripts.demo_avatar.head import NECK_BOTTOM, build_head
from scripts.demo_avatar.portrait import Portrait, seen_by, similarity
from scripts.demo_avatar.surfels import surfels
from tracking.face_mesh import FaceMeshDetector

SPACING = {"face": 0.002, "eye_left": 0.0012, "eye_right": 0.0012, "upper_teeth": 0.0013, "lower_teeth": 0.0013,
           "mouth": 0.004, "tongue": 0.003, "socket": 0.0025, "head_front": 0.003, "head_back": 0.008,
           "neck": 0.012, "bust": 0.0045, "bust_edge": 0.008, "bust_back": 0.008}  # metres apart
OPACITY = 0.97
CROWN = np.array([0.0, 0.14, -0.07])  # where the hair falls from
SEEN_DEPTH = 0.012  # metres: a point this near the surface the camera sees first is seen too


def build_demo_avatar(photo: np.ndarray, seed: int = 0) -> RiggedAvatar:
    """(H, W, 3) uint8 RGB photo of one face -> the demo avatar."""
    face = face_from_photo(photo)
    portrait = Portrait(photo, face)
    first = _build(face, portrait, seed)
    # MediaPipe finds the rendered face a pixel or so away from where its mesh's landmarks are (the mesh is made
    # symmetric; the detector reads the whole face). The rest of the photo is laid around the face where it is
    # found, as a viewer sees it: built again with that mapping, the face itself unchanged.
    with torch.no_grad():
        render = rasterize(first.gaussians(FlameParams.neutral(first.head.num_expressions)), first.default_camera,
                           backend="cpu").image
    with FaceMeshDetector(static_images=True) as detector:
        found = detector.detect((render.clamp(0, 1) * 255).round().byte().numpy())
    if len(found) != 1:
        raise RuntimeError(f"expected the avatar's face in its render, found {len(found)} faces")
    portrait.to_photo = similarity(found[0][:, :2], face.pixels)
    return _build(face, portrait, seed)


def _build(face: Face, portrait: Portrait, seed: int) -> RiggedAvatar:
    head = build_head(face, portrait)
    vertices, triangles, parts = np.array(head.vertices), np.array(head.triangles), np.array(head.parts)

    named = expressions(face)
    exprdirs = np.zeros((len(vertices), 3, len(named)))
    for e, expression in enumerate(named.values()):
        exprdirs[:468, :, e] = blendshape(face, expression)
    for vertex, leader in head.follows.items():
        exprdirs[vertex] = exprdirs[leader]
    # No identity components: the tracker takes a user's proportions into a rest face (tracking/fit.py
    # estimate_rest_face). The stretches the demo had (10 % wider, taller, deeper per unit) traded against the
    # head's distance, which landmarks cannot tell from its size: estimated from the demo's own renders, they went
    # to the tracker's limit, 30 % larger, and head turns read 1.3 times too large.
    shapedirs = np.zeros((len(vertices), 3, 0))

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
        faces=torch.from_numpy(triangles), expression_names=tuple(named), expression_min=0.0,
        landmarks={"mediapipe": LandmarkEmbedding(torch.from_numpy(face_ids), as_tensor(bary))},
    )

    gaussian_faces, gaussian_bary, covars = surfels(vertices, triangles, np.array([SPACING[p] for p in parts]))
    corners = triangles[gaussian_faces]  # (N, 3) vertex ids
    means = np.einsum("nk,nkc->nc", gaussian_bary, vertices[corners])
    vertex_normals = _vertex_normals(vertices, triangles)
    normals = np.einsum("nk,nkc->nc", gaussian_bary, vertex_normals[corners])
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)  # smooth shading normals
    gaussian_parts = parts[gaussian_faces]

    vertex_opacity = np.ones(len(vertices))
    vertex_opacity[list(head.opacity)] = list(head.opacity.values())
    opacities = OPACITY * np.einsum("nk,nk->n", gaussian_bary, vertex_opacity[corners])
    neck = gaussian_parts == "neck"
    opacities[neck] *= np.clip((means[neck, 1] - NECK_BOTTOM) / 0.04, 0.02, 1)  # the neck fades out at its base

    # Where the photo shows each vertex and Gaussian: on the face as its landmarks say, elsewhere as the camera does.
    vertex_pixels = portrait.project(vertices)
    vertex_pixels[:478] = face.pixels
    pixels = portrait.project(means)
    on_face = gaussian_parts == "face"
    pixels[on_face] = np.einsum("nk,nkc->nc", gaussian_bary[on_face], vertex_pixels[corners[on_face]])
    seen = _seen_by_camera(portrait.camera, Gaussians(
        as_tensor(means), as_tensor(opacities), colors=torch.zeros(len(means), 3), covars=as_tensor(covars)),
        [vertices, means])
    rgb = colours(portrait, Samples(vertices, vertex_normals, vertex_pixels, seen[0]), triangles,
                  Samples(means, normals, pixels, seen[1]), gaussian_parts, corners, gaussian_bary, CROWN,
                  np.random.default_rng(seed))
    avatar = RiggedAvatar.bind(model, torch.from_numpy(gaussian_faces), as_tensor(means), as_tensor(covars),
                               as_tensor(opacities), as_tensor(rgb), portrait.camera)
    # The photo's lips are parted; a driver's at rest are closed, and a user's rest is the avatar's (the tracker
    # drives relative to it). Coloured and bound where the photo shows the lips, the Gaussians ride their triangles
    # to a rest with the lips closed; a driver who opens the mouth opens it from there.
    rest = vertices.copy()
    rest[:468] += blendshape(face, lips_closed(face))
    return replace(avatar, head=replace(model, v_template=as_tensor(rest)))


def _seen_by_camera(camera: Camera, gaussians: Gaussians, points: list[np.ndarray]) -> list[np.ndarray]:
    """Of each (n, 3) array of rest points, which the camera sees: no surface of the rest Gaussians lies more than
    SEEN_DEPTH in front of them, on a canvas that reaches as far beyond the camera's view as the bust does."""
    wide = replace(camera, width=camera.width + 2 * MARGIN, height=camera.height + 2 * MARGIN,
                   cx=camera.cx + MARGIN, cy=camera.cy + MARGIN)
    render = rasterize(gaussians, wide, backend="cpu")
    nearest = (render.depth / render.alpha.clamp(min=1e-6)).numpy()  # the depth the camera sees first
    found = []
    for rest in points:
        pixels, depth = seen_by(wide, rest)
        column, row = np.round(pixels).astype(int).T
        on_canvas = (column >= 0) & (column < wide.width) & (row >= 0) & (row < wide.height)
        seen = np.zeros(len(rest), bool)
        seen[on_canvas] = depth[on_canvas] <= nearest[row[on_canvas], column[on_canvas]] + SEEN_DEPTH
        found.append(seen)
    return found


def _vertex_normals(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """(V, 3) area-weighted mean of the normals of the triangles around each vertex."""
    a, b, c = (vertices[triangles[:, i]] for i in range(3))
    normals = np.zeros_like(vertices)
    for corner in range(3):
        np.add.at(normals, triangles[:, corner], np.cross(b - a, c - a))
    return normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
