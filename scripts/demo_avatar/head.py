"""The demo head's mesh and rig: the photo's face, eyeballs, mouth, the rest of the head out to the photo's
silhouette, and a neck.

All in metres in the face's frame (origin between the irises, x to the subject's left, y up, z out of the face).
Each part is a list of triangles with a part name; vertices 0-477 are mediapipe's landmarks, in its order.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from models.params import GLOBAL, JAW, LEFT_EYE, NECK, RIGHT_EYE
from scripts.demo_avatar import mesh
from scripts.demo_avatar.bust import Bust, build_bust
from scripts.demo_avatar.face import EYE_OPENING, FACE_OVAL, IRIS, LOWER_INNER_LIP, LOWER_LID, UPPER_INNER_LIP, \
    UPPER_LID, Face
from scripts.demo_avatar.portrait import Portrait

EYE_JOINT = {"left": LEFT_EYE, "right": RIGHT_EYE}

EYEBALL_RADIUS = 0.012
SKULL_CENTRE = np.array([0.0, 0.02, -0.075])
SKULL_RADII = np.array([0.074, 0.10, 0.092])
NECK_CENTRE_Z, NECK_RADII = -0.08, np.array([0.05, 0.056])
NECK_TOP, NECK_BOTTOM, NECK_JOINT_Y = -0.065, -0.215, -0.075
JAW_JOINT = np.array([0.0, -0.03, -0.055])  # near the jaw hinges, in front of the ears
OVERBITE = 0.9  # how far the upper teeth reach past where the closed lips meet, of the photo's half gap between them
EAR, JAW_CORNER = 234, 172  # face outline landmarks (the subject's right) where the ear and the jaw's corner are
WIDEST_BEHIND_OUTLINE = 0.015  # the head is widest at least this far behind the face outline
HEAD_REACH = 2.0  # the photo's head outline is looked for up to this many skull heights from the skull's axis
BACK_Z = -SKULL_RADII[2] - 0.012  # the back of the head (skull and hair), from SKULL_CENTRE


@dataclass
class HeadMesh:
    vertices: list = field(default_factory=list)  # (3,) arrays
    weights: list = field(default_factory=list)  # (5,) skinning weights per vertex
    triangles: list = field(default_factory=list)
    parts: list = field(default_factory=list)  # part name per triangle
    joint_regressor: np.ndarray = field(default_factory=lambda: np.zeros((5, 0)))
    eyeball_centres: dict = field(default_factory=dict)
    opacity: dict = field(default_factory=dict)  # opacity (0-1) of the vertices where the bust fades out
    follows: dict = field(default_factory=dict)  # vertex -> the face vertex whose expression movement it copies

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


def build_head(face: Face, portrait: Portrait) -> HeadMesh:
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
    widest = _add_skull(head, face, oval_jaw, portrait.silhouette_radius)
    neck_ring, root_ring = _add_neck(head)
    _add_bust(head, build_bust(portrait, portrait.camera_pixels(widest)))
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
    back from the lids' rim to a floor level with the eyeball's centre, all behind the eyeball's front. The floor
    moves with the lids: a floor left behind by a lid that opens wide tilts the tube's wall over the eyeball, a
    dark band where the eye's white should show (and MediaPipe read the eye opened by a third of the lids' lift)."""
    loop = EYE_OPENING[side]
    floor = np.array([face.points[i] for i in loop])
    floor[:, 2] = head.eyeball_centres[side][2]
    floor_ring = head.add(floor, one_hot(NECK))
    head.follows |= dict(zip(floor_ring, loop))
    head.add_triangles(mesh.strip(loop, floor_ring, closed=True), "socket")
    head.add_triangles(mesh.fan(floor_ring, head.add(floor.mean(axis=0), one_hot(NECK))[0]), "socket")


def _add_mouth(head: HeadMesh, face: Face) -> None:
    """Teeth behind the lips (the upper set fixed to the skull, the lower to the jaw), a dark back wall that
    shows when the jaw opens, and a tongue."""
    upper = np.array([face.points[i] for i in UPPER_INNER_LIP])
    lower = np.array([face.points[i] for i in LOWER_INNER_LIP])
    middle = (upper + lower) / 2
    back = np.array([0.0, 0.0, -0.003])
    # Teeth reach well past the lips' inner edges: lips that move uncover more of them, not a hole. The lips meet
    # at rest halfway between the photo's (build.py); the upper teeth reach below that, and the lower ones above it
    # and further back, as an overbite: a jaw that opens shows both.
    upper_teeth = head.add(middle + 1.8 * (upper - middle) + back, one_hot(NECK))
    upper_edge = head.add(middle + OVERBITE * (lower - middle) + back, one_hot(NECK))
    head.add_triangles(mesh.strip(upper_teeth, upper_edge), "upper_teeth")
    lower_edge = head.add(middle + OVERBITE / 2 * (upper - middle) + 1.5 * back, one_hot(JAW))
    lower_teeth = head.add(middle + 1.5 * (lower - middle) + 1.5 * back, one_hot(JAW))
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


def skull_radius(azimuths: np.ndarray) -> np.ndarray:
    """(n,) distance from the skull's axis to the skull's widest outline, seen from the front, at `azimuths`."""
    return 1 / np.sqrt((np.cos(azimuths) / SKULL_RADII[0]) ** 2 + (np.sin(azimuths) / SKULL_RADII[1]) ** 2)


def _add_skull(head: HeadMesh, face: Face, oval_jaw: np.ndarray, silhouette_radius, front_rows: int = 10,
               back_rows: int = 14, meridians: int = 96) -> np.ndarray:
    """The rest of the head, from the face outline out to the photo's silhouette and round the back: meridians
    that leave the face outline, reach their widest where the photo's hair (or ears, or hat) ends, and close at a
    pole at the back. Under the chin, where the silhouette goes on into the neck, the skull's own outline.
    Returns the widest ring (meridians, 3): the head's outline seen from the front."""
    oval = np.array([face.points[i] for i in FACE_OVAL]) - SKULL_CENTRE
    oval_azimuth = np.arctan2(oval[:, 1], oval[:, 0])  # around the face, seen from the front
    # Meridians evenly spaced around the face, starting on the outline between its vertices.
    azimuth = np.linspace(-np.pi, np.pi, meridians, endpoint=False)
    outward = np.stack([np.cos(azimuth), np.sin(azimuth), np.zeros(meridians)], 1)
    start = np.stack([np.interp(azimuth, oval_azimuth, oval[:, k], period=2 * np.pi) for k in range(3)], 1)
    start_radius = np.einsum("nk,nk->n", start, outward)
    start_aside = start - start_radius[:, None] * outward - start[:, 2:] * [0.0, 0.0, 1.0]  # off the meridian
    start_jaw = np.interp(azimuth, oval_azimuth, oval_jaw, period=2 * np.pi)

    widest_z = np.minimum(0.0, start[:, 2] - WIDEST_BEHIND_OUTLINE)  # relative to SKULL_CENTRE
    centres = SKULL_CENTRE + widest_z[:, None] * [0.0, 0.0, 1.0]
    widest = np.maximum(_head_outline(face, azimuth, centres, silhouette_radius), start_radius + 0.002)

    rings = []
    # Out from the face outline, turning to face sideways at the widest: a quarter ellipse per meridian.
    for s in _equally_spaced(widest - start_radius, start[:, 2] - widest_z, front_rows):
        radius = start_radius + (widest - start_radius) * np.sin(s)
        z = widest_z + (start[:, 2] - widest_z) * np.cos(s)
        rings.append(SKULL_CENTRE + radius[:, None] * outward + z[:, None] * [0.0, 0.0, 1.0]
                     + (1 - np.sin(s))[:, None] * start_aside)
    for row in range(1, back_rows):  # round the back to the pole
        s = row / back_rows * np.pi / 2
        z = widest_z + (BACK_Z - widest_z) * np.sin(s)
        rings.append(SKULL_CENTRE + (widest * np.cos(s))[:, None] * outward + z[:, None] * [0.0, 0.0, 1.0])

    previous = FACE_OVAL
    for row, points in enumerate(rings):
        jaw = start_jaw * np.clip(1 - row / (0.7 * front_rows), 0, 1)  # the skin under the chin follows the jaw
        ring = head.add(points, (1 - jaw)[:, None] * one_hot(NECK) + jaw[:, None] * one_hot(JAW))
        part = "head_front" if row < front_rows else "head_back"
        if previous is FACE_OVAL:
            head.add_triangles(mesh.merge_rings(FACE_OVAL, oval_azimuth, ring, azimuth), part)
        else:
            head.add_triangles(mesh.strip(previous, ring, closed=True), part)
        previous = ring
    pole = head.add(SKULL_CENTRE + [0.0, 0.0, BACK_Z], one_hot(NECK))
    head.add_triangles(mesh.fan(previous, pole[0]), "head_back")
    return rings[front_rows - 1]


def _head_outline(face: Face, azimuth: np.ndarray, centres: np.ndarray, silhouette_radius) -> np.ndarray:
    """(meridians,) how far out from the skull's axis each meridian reaches at its widest: down to the ears where
    the photo's silhouette ends; from the jaw's corners down (where the silhouette is the neck's) the skull's own
    outline, blended between."""
    photo = silhouette_radius(centres, azimuth, largest=HEAD_REACH * SKULL_RADII[1])
    ear, jaw_corner = (np.sin(np.arctan2(*(face.points[i] - SKULL_CENTRE)[[1, 0]])) for i in (EAR, JAW_CORNER))
    above = np.clip((np.sin(azimuth) - jaw_corner) / (ear - jaw_corner), 0, 1)
    widest = above * np.where(np.isnan(photo), skull_radius(azimuth), photo) + (1 - above) * skull_radius(azimuth)
    return (np.roll(widest, 1) + 2 * widest + np.roll(widest, -1)) / 4  # the segmentation's steps softened


def _equally_spaced(radial: np.ndarray, depth: np.ndarray, rows: int) -> np.ndarray:
    """(rows, meridians) angles s of rows along quarter ellipses (radial sin s, depth cos s) per meridian, equally
    far apart along each (where an ellipse is thin, under the chin, equal angles would crowd its rows)."""
    fine = np.linspace(0, np.pi / 2, 200)
    steps = np.hypot(np.diff(radial * np.sin(fine)[:, None], axis=0), np.diff(depth * np.cos(fine)[:, None], axis=0))
    along = np.concatenate([np.zeros((1, len(radial))), np.cumsum(steps, axis=0)])
    return np.stack([np.interp(np.linspace(0, along[-1, m], rows + 1)[1:], along[:, m], fine)
                     for m in range(len(radial))], 1)


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


def _add_bust(head: HeadMesh, bust: Bust) -> None:
    """The bust rides the root: turning the head at the neck leaves it still. Where it reaches in under the head's
    outline it follows the head, hidden behind it, and a grid step beside the outline it blends into the still
    rest."""
    follow = bust.follow**2 * (3 - 2 * bust.follow)
    ids = np.array(head.add(bust.vertices, follow[:, None] * one_hot(NECK) + (1 - follow)[:, None] * one_hot(GLOBAL)))
    head.add_triangles(ids[bust.front[bust.in_view]], "bust")
    head.add_triangles(ids[bust.front[~bust.in_view]], "bust_edge")
    head.add_triangles(ids[bust.back], "bust_back")
    head.opacity.update(zip(ids[bust.opacity < 1], bust.opacity[bust.opacity < 1]))


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
    outwards = {"face": centroid - [0.0, 0.0, -0.08], "head_front": centroid - SKULL_CENTRE,
                "head_back": centroid - SKULL_CENTRE, "bust_back": np.tile([0.0, 0.0, -1.0], (len(centroid), 1)),
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
