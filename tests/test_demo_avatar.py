"""The embedded demo avatar: its rig, its file, and whether a face detector sees it as a face."""
import math

import numpy as np
import pytest
import torch

from avatar import AvatarError, load_avatar
from avatar.rigged import RiggedAvatar, load_rigged_avatar, place_on_triangles_reference, save_rigged_avatar
from avatar.splatting.rasterizer import rasterize
from models.head_model import pose_head
from models.params import GLOBAL, NECK, FlameParams
from scripts.demo_avatar.face import LOWER_LID, UPPER_LID

torch.set_grad_enabled(False)


@pytest.fixture(scope="module")
def demo() -> RiggedAvatar:
    return load_avatar()


@pytest.fixture(scope="module")
def detector():
    from tracking.face_mesh import FaceMeshDetector

    with FaceMeshDetector(static_images=True) as detector:
        yield detector


def test_fast_placement_matches_the_reference(demo):
    """The numba pass that places Gaussians on the posed triangles equals the torch formula (in float64)."""
    generator = torch.Generator().manual_seed(3)
    p = FlameParams(torch.rand(demo.head.num_expressions, generator=generator),
                    0.3 * torch.randn(5, 3, generator=generator), 0.01 * torch.randn(3, generator=generator))
    fast = demo.gaussians(p)
    vertices = pose_head(demo.head, p.expression[None], p.pose[None], p.translation[None]).vertices[0]
    means, covars = place_on_triangles_reference(vertices.double(), demo.head.faces, demo.face_ids,
                                                 demo.local_means.double(), demo.local_covars.double())
    assert torch.allclose(fast.means.double(), means, rtol=0, atol=1e-6 * means.abs().max())
    assert torch.allclose(fast.covars.double(), covars, rtol=0, atol=1e-6 * covars.abs().max())


def params(demo, **named) -> FlameParams:
    p = FlameParams.neutral(demo.head.num_expressions)
    for name, value in named.items():
        if name == "jaw":
            p.pose[2, 0] = value
        elif name == "yaw":  # the whole avatar, as the tracker turns it
            p.pose[GLOBAL, 1] = value
        elif name == "neck_yaw":  # the head on the still bust, as the sliders turn it
            p.pose[NECK, 1] = value
        else:
            p.expression[demo.head.expression_names.index(name)] = value
    return p


def render(demo, p) -> np.ndarray:
    image = rasterize(demo.gaussians(p), demo.default_camera, backend="cpu").image
    return (image.clamp(0, 1) * 255).round().byte().numpy()


def test_demo_has_the_expressions_and_joints_the_tracker_needs(demo):
    sides = {f"{name}_{side}" for side in ("left", "right") for name in (
        "brow_inner_up", "brow_outer_up", "brow_down", "blink", "eye_wide", "eye_squint", "cheek_squint", "smile",
        "frown", "stretch", "sneer")}
    assert set(demo.head.expression_names) == sides | {
        "cheek_puff", "jaw_forward", "jaw_left", "jaw_right", "lips_press", "lips_funnel", "pucker", "upper_lip_up",
        "mouth_left", "mouth_right"}
    assert demo.head.expression_min == 0.0
    assert demo.head.num_joints == 5
    assert len(demo.opacities) > 20_000


def test_every_mediapipe_landmark_is_a_vertex_of_the_demo_head(demo):
    embedding = demo.head.landmarks["mediapipe"]
    assert embedding.face_ids.shape == (478,)
    corners = demo.head.faces[embedding.face_ids]  # (478, 3)
    vertex = (corners * (embedding.bary == 1)).sum(dim=1)
    assert torch.equal(vertex, torch.arange(478))


def test_neutral_gaussians_are_the_bound_rest_gaussians(demo):
    """Binding and posing are inverse: at neutral, re-binding the posed Gaussians gives the same local coords."""
    g = demo.gaussians(params(demo))
    rebound = RiggedAvatar.bind(demo.head, demo.face_ids, g.means, g.covars, g.opacities, g.colors,
                                demo.default_camera)
    assert torch.allclose(rebound.local_means, demo.local_means, atol=1e-4)
    assert torch.allclose(rebound.local_covars, demo.local_covars, atol=1e-6, rtol=1e-3)


def test_global_rotation_rotates_the_whole_avatar_rigidly(demo):
    neutral = demo.gaussians(params(demo))
    turned = demo.gaussians(params(demo, yaw=math.pi / 2))
    root = pose_head(demo.head, torch.zeros(1, demo.head.num_expressions), torch.zeros(1, 5, 3)).joints[0, 0]
    rotation = torch.tensor([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])  # 90 degrees about y
    assert torch.allclose(turned.means, (neutral.means - root) @ rotation.T + root, atol=1e-5)
    error = (turned.covars - rotation @ neutral.covars @ rotation.T).abs().amax(dim=(1, 2))
    assert (error / neutral.covars.abs().amax(dim=(1, 2))).max() < 1e-4  # float32 triangle frames


def test_blink_closes_that_eye_only(demo):
    def lid_gap(p, side):
        vertices = pose_head(demo.head, p.expression[None], p.pose[None]).vertices[0]
        return (vertices[UPPER_LID[side][4]] - vertices[LOWER_LID[side][4]]).norm().item()

    open_left, open_right = lid_gap(params(demo), "left"), lid_gap(params(demo), "right")
    blink = params(demo, blink_left=1.0)
    assert lid_gap(blink, "left") < 0.25 * open_left
    assert lid_gap(blink, "right") == pytest.approx(open_right)


def test_avatar_file_round_trip(demo, tmp_path):
    save_rigged_avatar(demo, tmp_path / "copy.npz")
    copy = load_rigged_avatar(tmp_path / "copy.npz")
    p = params(demo, smile_left=0.7, jaw=0.2, yaw=0.3)
    a, b = demo.gaussians(p), copy.gaussians(p)
    assert torch.equal(a.means, b.means) and torch.equal(a.covars, b.covars) and torch.equal(a.colors, b.colors)
    assert torch.equal(copy.default_camera.world_to_camera, demo.default_camera.world_to_camera)
    assert copy.default_camera.intrinsics.equal(demo.default_camera.intrinsics)


def test_load_avatar_errors_name_the_file(tmp_path):
    with pytest.raises(AvatarError, match="no such file"):
        load_avatar(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(AvatarError, match="junk.npz"):
        load_avatar(tmp_path / "junk.npz")
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(AvatarError, match="other.npz.*not a livehead avatar file"):
        load_avatar(tmp_path / "other.npz")


@pytest.mark.parametrize("turn", ["yaw", "neck_yaw"])
@pytest.mark.parametrize("yaw_degrees", [0, -25, 25, -45, 45])
def test_mediapipe_finds_a_face_in_the_render(demo, detector, turn, yaw_degrees):
    faces = detector.detect(render(demo, params(demo, **{turn: math.radians(yaw_degrees)})))
    assert len(faces) == 1


def test_lips_closed_at_rest_and_the_open_jaw_shows_teeth(demo, detector):
    """At rest the lips are closed, as a driver's are (the photo's are parted); an open jaw parts them on teeth."""
    def mouth(p):
        image = render(demo, p)
        (landmarks,) = detector.detect(image)
        face_height = np.linalg.norm(landmarks[10, :2] - landmarks[152, :2])
        (x, top), bottom = landmarks[13, :2], landmarks[14, 1]  # the inner lips' middles, upper and lower
        rows = np.arange(round(top + 0.2 * (bottom - top)), round(top + 0.8 * (bottom - top)) + 1)  # off the lips
        brightest = image[rows, int(round(x))].min(axis=1).max(initial=0)  # the darkest channel: high on white
        return (bottom - top) / face_height, brightest

    (rest, _), (opened, teeth) = mouth(params(demo)), mouth(params(demo, jaw=0.3))
    print(f"inner lips' gap / face height: rest {rest:.3f}, jaw 0.3 rad {opened:.3f}; between them, the brightest "
          f"pixel's darkest channel {teeth}")
    assert rest < 0.02 and opened > 0.1  # measured 0.006 and 0.129; the photo's parted lips read 0.052
    assert teeth >= 170  # teeth: 206; with the upper teeth ending where the closed lips meet, the back wall: 23


def test_an_eye_opened_wide_shows_a_round_iris(demo, detector):
    """The iris the photo's lids hide is painted: opened wide, an eye shows iris above the iris's centre, not the
    white of the eye where the photo's lid was."""
    image = render(demo, params(demo, eye_wide_left=1.0, eye_wide_right=1.0))
    (landmarks,) = detector.detect(image)
    for centre_id in (468, 473):  # right, left: the iris's centre, then four points on its rim
        centre = landmarks[centre_id, :2]
        radius = np.linalg.norm(landmarks[centre_id + 1:centre_id + 5, :2] - centre, axis=1).mean()
        brightness = lambda dx, dy: image[int(round(centre[1] + dy)), int(round(centre[0] + dx))].mean()
        iris_top, sclera = brightness(0, -0.8 * radius), brightness(1.6 * radius, 0)
        print(f"iris {centre_id}: above its centre {iris_top:.0f}, the white beside it {sclera:.0f}")
        assert iris_top < 0.6 * sclera, centre_id  # measured 60 of 153 (right), 27 of 149; unpainted, 126 of 179


def test_detected_landmarks_follow_a_head_turn(demo, detector):
    """Turning the head to its left (positive yaw) moves the nose tip towards the image's right."""
    nose = {}
    for degrees in (-20, 20):
        (landmarks,) = detector.detect(render(demo, params(demo, yaw=math.radians(degrees))))
        nose[degrees] = landmarks[1, 0] - (landmarks[234, 0] + landmarks[454, 0]) / 2
    assert nose[20] > 5 and nose[-20] < -5
