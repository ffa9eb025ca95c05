"""The demo head's mesh and rig: the photo's face, eyeballs, mouth, a procedural skull with hair, and a neck.

All in metres in the face's frame (origin between the irises, x to the subject's left, y up, z out of the face).
Each part is a list of triangles with a part name; vertices 0-477 are mediapipe's landmarks, in its order.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from scripts.demo_avatar import mesh
from scripts.demo_avatar.face import EYE_OPENING, FACE_OVAL, IRIS, LOWER_INNER_LIP, LOWER_LID, UPPER_INNER_LIP, \
    UPPER_LID, Face

GLOBAL, NECK, JAW, LEFT_EYE, RIGHT_EYE = range(5)
EYE_JOINT = {"left": LEFT_EYE, "right": RIGHT_EYE}

EYEBALL_RADIUS = 0.012
SKULL_CENTRE = np.array([0.0, 0.02, -0.075])
SKULL_RADII = np.array([0.074, 0.10, 0.092])
NECK_CENTRE_Z, NECK_RADII = -0.08, np.array([0.05, 0.056])
NECK_TOP, NECK_BOTTOM, NECK_JOINT_Y = -0.065, -0.215, -0.075
JAW_JOINT = np.array([0.0, -0.03, -0.055])  # near the jaw hinges, in front of the ears


@dataclass
class HeadMesh:
    vertices: list = field(default_factory=list)  # (3,) arrays
    weights: list = field(default_factory=list)  # (5,) skinning weights per vertex
    triangles: list = field(default_factory=list)
    parts: list = field(default_factory=list)  # part name per triangle
    joint_regressor: np.ndarray = field(default_factory=lambda: np.zeros((5, 0)))
    eyeball_centres: dict = field(default_factory=dict)
    hair: dict = field(default_factory=dict)  # hair cover (0-1) of skull vertices

    def add(self, points, joint_weights) -> list[int]:
        """Append vertices (n, 3) with weights (5,) or (n, 5); returns their indices."""
        start = len(self.vertices)
        points = np.atleast_2d(points)
        self.vertices += list(points)
        self.weights += list(np.broadcast_to(joint_weights, (len(points), 5)))
        return list(range(start, start + len(points)))

    def add_triangles(self, triangles, part: str) -> None:
        """Append triangles of a part, dropping degenerate ones (where rows of vertices meet)."""
        kept = [t for t in triangles if np.linalg.norm(np.cross(*(self.vertices[t[k]] - self.vertices[t[0]]
                                                                 for k in (1, 2)))) > 1e-12]
        self.triangles += [tuple(t) for t in kept]
        self.parts += [part] * len(kept)


def one_hot(joint: int) -> np.ndarray:
    weights = np.zeros(5)
    weights[joint] = 1
    return weights


def build_head(face: Face) -> HeadMesh:
    head = HeadMesh()
    head.add(face.points[:468], one_hot(NECK))  # jaw weights are set once the whole face exists
    irises = {side: head.add(face.points[IRIS[side]], one_hot(EYE_JOINT[side])) for side in ("right", "left")}
    head.add_triangles(face.triangles, "face")
    joint_rings = {}
    for side in ("right", "left"):
        joint_rings[side] = _add_eye(head, face, side, irises[side])
        _add_socket(head, face, side)
    _add_mouth(head, face)
    _set_face_jaw_weights(head, face)
    oval_jaw = np.array([head.weights[i][JAW] for i in FACE_OVAL])
    _add_skull(head, face, oval_jaw)
    neck_ring, root_ring = _add_neck(head)
    joint_rings["neck"], joint_rings["root"] = neck_ring, root_ring
    head.joint_regressor = _joint_regressor(head, joint_rings)
    _orient_outwards(head)
    return head


def _add_eye(head: HeadMesh, face: Face, side: str, iris_ids: list[int]) -> list[int]:
    """An eyeball behind the eye's opening, its pole at the iris centre; returns its equator ring (whose mean
    is the eyeball centre, the eye joint)."""
    lid = np.array([face.points[i] for i in UPPER_LID[side] + LOWER_LID[side]])
    iris_centre = face.points[IRIS[side][0]]
    front = lid[:, 2].mean() - 0.0015  # the cornea stays just behind the lids, so closed lids cover it
    centre = np.array([iris_centre[0], iris_centre[1], front - EYEBALL_RADIUS])
    head.eyeball_centres[side] = centre
    weights = one_hot(EYE_JOINT[side])
    # Put the iris landmarks on the sphere where the photo sees them.
    for i in iris_ids:
        offset = head.vertices[i][:2] - centre[:2]
        head.vertices[i] = centre + np.array([*offset, np.sqrt(EYEBALL_RADIUS**2 - offset @ offset)])
    iris_ring = iris_ids[1:]
    iris_angles = np.array([np.arctan2(*(head.vertices[i] - centre)[[1, 0]]) for i in iris_ring])
    head.add_triangles(mesh.fan(list(np.array(iris_ring)[np.argsort(iris_angles)]), iris_ids[0]), f"eye_{side}")

    count, previous, previous_angles = 16, iris_ring, iris_angles
    azimuths = np.linspace(-np.pi, np.pi, count, endpoint=False)
    equator = None
    for polar in np.radians([40, 55, 70, 90, 110]):  # the front of the eyeball and a little beyond its equator
        ring_points = centre + EYEBALL_RADIUS * np.stack(
            [np.sin(polar) * np.cos(azimuths), np.sin(polar) * np.sin(azimuths), np.full(count, np.cos(polar))], 1
        )
        ring = head.add(ring_points, weights)
        if previous is iris_ring:
            head.add_triangles(mesh.merge_rings(previous, previous_angles, ring, azimuths), f"eye_{side}")
        else:
            head.add_triangles(mesh.strip(previous, ring, closed=True), f"eye_{side}")
        if np.isclose(polar, np.pi / 2):
            equator = ring
        previous = ring
    return equator


def _add_socket(head: HeadMesh, face: Face, side: str) -> None:
    """A dark hollow behind the eye opening, seen in the corners the round eyeball does not fill: a tube straight
    back from the lids' rim to a floor level with the eyeball's centre, all behind the eyeball's front."""
    loop = EYE_OPENING[side]
    floor = np.array([face.points[i] for i in loop])
    floor[:, 2] = head.eyeball_centres[side][2]
    floor_ring = head.add(floor, one_hot(NECK))
    head.add_triangles(mesh.strip(loop, floor_ring, closed=True), "socket")
    head.add_triangles(mesh.fan(floor_ring, head.add(floor.mean(axis=0), one_hot(NECK))[0]), "socket")


def _add_mouth(head: HeadMesh, face: Face) -> None:
    """Teeth behind the lips (the upper set fixed to the skull, the lower to the jaw), a dark back wall that
    shows when the jaw opens, and a tongue."""
    upper = np.array([face.points[i] for i in UPPER_INNER_LIP])
    lower = np.array([face.points[i] for i in LOWER_INNER_LIP])
    middle = (upper + lower) / 2
    back = np.array([0.0, 0.0, -0.003])
    # Teeth reach well past the lips' inner edges: lips that move uncover more of them (and gums), not a hole.
    upper_teeth = head.add(middle + 1.8 * (upper - middle) + back, one_hot(NECK))
    upper_edge = head.add(middle + back, one_hot(NECK))
    head.add_triangles(mesh.strip(upper_teeth, upper_edge), "upper_teeth")
    lower_edge = head.add(middle + back, one_hot(JAW))
    lower_teeth = head.add(middle + 1.5 * (lower - middle) + back, one_hot(JAW))
    head.add_triangles(mesh.strip(lower_edge, lower_teeth), "lower_teeth")

    mouth_centre = middle.mean(axis=0)
    _add_disc(head, mouth_centre + [0.0, -0.012, -0.02], (0.03, 0.03), one_hot(NECK), "mouth")
    _add_disc(head, mouth_centre + [0.0, -0.014, -0.012], (0.018, 0.01), one_hot(JAW), "tongue")


def _add_disc(head: HeadMesh, centre, radii, weights, part: str, rings: int = 4, count: int = 16) -> None:
    """A flat ellipse facing +z."""
    azimuths = np.linspace(-np.pi, np.pi, count, endpoint=False)
    previous = None
    centre_id = head.add(centre, weights)[0]
    for k in range(1, rings + 1):
        ring = head.add(
            centre + np.stack([radii[0] * k / rings * np.cos(azimuths), radii[1] * k / rings * np.sin(azimuths),
                               np.zeros(count)], 1), weights)
        head.add_triangles(mesh.fan(ring, centre_id) if previous is None else mesh.strip(previous, ring, True), part)
        previous = ring


def _set_face_jaw_weights(head: HeadMesh, face: Face) -> None:
    """How much each face vertex follows the jaw: 1 on the lower lip and the jaw line below the mouth, 0 on
    the upper lip and everything above the mouth, and a smooth (harmonic) blend between."""
    points = face.points[:468]
    lower = set(LOWER_INNER_LIP[1:-1]) | {146, 91, 181, 84, 17, 314, 405, 321, 375}
    lower |= set(FACE_OVAL[FACE_OVAL.index(397):FACE_OVAL.index(172) + 1])  # jaw line, angle to angle
    upper = set(UPPER_INNER_LIP[1:-1]) | {185, 40, 39, 37, 0, 267, 269, 270, 409}
    upper |= {i for i in range(468) if points[i, 1] > points[2, 1]}  # above the base of the nose
    upper |= set(FACE_OVAL[:FACE_OVAL.index(454) + 1]) | set(FACE_OVAL[FACE_OVAL.index(234):])
    fixed = np.array(sorted(lower | upper))
    values = np.array([[1.0] if i in lower else [0.0] for i in fixed])
    jaw = mesh.harmonic(468, face.triangles, fixed, values)[:, 0]
    for i in range(468):
        head.weights[i] = (1 - jaw[i]) * one_hot(NECK) + jaw[i] * one_hot(JAW)


def skull_radius(directions: np.ndarray) -> np.ndarray:
    """Distance from SKULL_CENTRE to the skull ellipsoid along unit `directions` (n, 3)."""
    return 1 / np.sqrt(((directions / SKULL_RADII) ** 2).sum(axis=-1))


def hair_cover(points: np.ndarray) -> np.ndarray:
    """1 where hair grows (above the nape and the ears), fading to 0 below: a bob cut."""
    return np.clip((points[:, 1] + 0.065) / 0.02, 0, 1)


def hair_thickness(points: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """A bob: thin on the crown, full over the ears, a little fuller at the back."""
    return hair_cover(points) * (0.012 + 0.024 * directions[:, 0] ** 2 + 0.008 * np.clip(-directions[:, 2], 0, 1))


def _add_skull(head: HeadMesh, face: Face, oval_jaw: np.ndarray, rows: int = 22, meridians: int = 96) -> None:
    """The back of the head: meridians that leave the face outline and run over the skull to a pole at the
    back, easing from the outline onto the skull (plus hair where it grows)."""
    oval = np.array([face.points[i] for i in FACE_OVAL]) - SKULL_CENTRE
    oval_azimuth = np.arctan2(oval[:, 1], oval[:, 0])  # around the face, seen from the front
    # Meridians evenly spaced around the face, starting on the outline between its vertices.
    azimuth = np.linspace(-np.pi, np.pi, meridians, endpoint=False)
    outline = np.stack([np.interp(azimuth, oval_azimuth, oval[:, k], period=2 * np.pi) for k in range(3)], 1)
    start_radius = np.linalg.norm(outline, axis=1)
    start_polar = np.arccos(outline[:, 2] / start_radius)
    start_jaw = np.interp(azimuth, oval_azimuth, oval_jaw, period=2 * np.pi)
    previous = None
    for row in range(1, rows + 1):
        t = row / rows
        polar = start_polar + (np.pi - start_polar) * t
        directions = np.stack([np.sin(polar) * np.cos(azimuth), np.sin(polar) * np.sin(azimuth), np.cos(polar)], 1)
        skull = SKULL_CENTRE + directions * skull_radius(directions)[:, None]
        target = skull_radius(directions) + hair_thickness(skull, directions)
        ease = np.clip(t / 0.3, 0, 1) ** 2 * (3 - 2 * np.clip(t / 0.3, 0, 1))
        points = SKULL_CENTRE + directions * ((1 - ease) * start_radius + ease * target)[:, None]
        # The skin under the chin follows the jaw near the chin, the rest the skull.
        jaw = start_jaw * np.clip(1 - t / 0.35, 0, 1)
        weights = (1 - jaw)[:, None] * one_hot(NECK) + jaw[:, None] * one_hot(JAW)
        if row == rows:  # the pole
            ring = head.add(points.mean(axis=0), one_hot(NECK))
            head.add_triangles(mesh.fan(previous, ring[0]), "skull")
        else:
            ring = head.add(points, weights)
            if previous is None:
                head.add_triangles(mesh.merge_rings(FACE_OVAL, oval_azimuth, ring, azimuth), "skull")
            else:
                head.add_triangles(mesh.strip(previous, ring, closed=True), "skull")
        head.hair.update(zip(ring, hair_cover(skull) if row < rows else [1.0]))
        previous = ring


def _add_neck(head: HeadMesh, rings: int = 16, count: int = 32) -> tuple[list[int], list[int]]:
    """An elliptic cylinder from inside the skull down; its top turns with the head, its base stays.
    Returns the ring at the neck joint and the bottom ring (whose means are the neck and root joints)."""
    azimuths = np.linspace(-np.pi, np.pi, count, endpoint=False)
    previous, neck_ring = None, None
    for y in np.linspace(NECK_TOP, NECK_BOTTOM, rings):
        follow = np.clip((y - (NECK_BOTTOM + 0.025)) / (NECK_JOINT_Y - 0.015 - (NECK_BOTTOM + 0.025)), 0, 1)
        follow = follow**2 * (3 - 2 * follow)
        ring = head.add(
            np.stack([NECK_RADII[0] * np.cos(azimuths), np.full(count, y),
                      NECK_CENTRE_Z + NECK_RADII[1] * np.sin(azimuths)], 1),
            follow * one_hot(NECK) + (1 - follow) * one_hot(GLOBAL),
        )
        if previous is not None:
            head.add_triangles(mesh.strip(previous, ring, closed=True), "neck")
        if np.isclose(y, NECK_JOINT_Y):
            neck_ring = ring
        previous = ring
    return neck_ring, previous


def _joint_regressor(head: HeadMesh, rings: dict[str, list[int]]) -> np.ndarray:
    """Joints as fixed combinations of vertices no expression moves: each eye at its equator ring's mean
    (the eyeball centre), the neck and root at their neck rings' means, and the jaw hinge as the affine
    combination of the eyes' midpoint, the neck joint and the root that lands exactly on JAW_JOINT."""
    regressor = np.zeros((5, len(head.vertices)))
    for joint, ring in ((LEFT_EYE, rings["left"]), (RIGHT_EYE, rings["right"]), (NECK, rings["neck"]),
                        (GLOBAL, rings["root"])):
        regressor[joint, ring] = 1 / len(ring)
    vertices = np.array(head.vertices)
    anchors = np.stack([(regressor[LEFT_EYE] + regressor[RIGHT_EYE]) / 2, regressor[NECK], regressor[GLOBAL]])
    positions = anchors @ vertices  # (3, 3), all on the x = 0 plane
    system = np.vstack([positions[:, 1:].T, np.ones(3)])  # solve for weights on (y, z) summing to 1
    coefficients = np.linalg.solve(system, np.array([JAW_JOINT[1], JAW_JOINT[2], 1.0]))
    regressor[JAW] = coefficients @ anchors
    return regressor


def _orient_outwards(head: HeadMesh) -> None:
    """Wind every triangle so its normal points out of the head (mouth and socket surfaces: towards +z)."""
    vertices, triangles = np.array(head.vertices), np.array(head.triangles)
    a, b, c = (vertices[triangles[:, i]] for i in range(3))
    centroid, normal = (a + b + c) / 3, np.cross(b - a, c - a)
    outwards = {"face": centroid - [0.0, 0.0, -0.08], "skull": centroid - SKULL_CENTRE,
                "neck": centroid * [1.0, 0.0, 1.0] - [0.0, 0.0, NECK_CENTRE_Z]}
    for side in ("left", "right"):
        outwards[f"eye_{side}"] = centroid - head.eyeball_centres[side]
    parts = np.array(head.parts)
    reference = np.tile([0.0, 0.0, 1.0], (len(triangles), 1))
    for part, direction in outwards.items():
        reference[parts == part] = direction[parts == part]
    flip = np.einsum("ij,ij->i", normal, reference) < 0
    triangles[flip] = triangles[flip][:, [0, 2, 1]]
    head.triangles = [tuple(t) for t in triangles]
