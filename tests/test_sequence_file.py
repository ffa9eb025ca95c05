"""Tracked sequences on disk: livehead's `.npz` round trip, IMavatar `flame_params.json` export, one-line faults."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from models.camera import Camera
from models.imavatar_json import imavatar_camera, read_flame_params_json, write_flame_params_json
from models.params import FlameSequence
from tracking.sequence_file import (
    SequenceFileError,
    TrackedSequence,
    export_imavatar,
    load_tracked_sequence,
    save_tracked_sequence,
)

FIXTURE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "monogaussianavatar"
needs_fixture = pytest.mark.skipif(not FIXTURE.is_dir(), reason="../shared fixtures are absent")


def make_camera(width: int = 512, height: int = 512) -> Camera:
    """An off-centre, slightly tilted camera 4 units from the head, as IMavatar places its camera."""
    camera = Camera.look_at(eye=(0.3, -0.2, -4.0), target=(0.0, 0.05, 0.0), up=(0.1, -1.0, 0.0), width=width,
                            height=height, fx=2150.0, fy=2170.0)
    return Camera(width, height, camera.fx, camera.fy, 251.3, 262.7, camera.world_to_camera)


def make_sequence(frames: int = 4, expressions: int = 50, seed: int = 0) -> FlameSequence:
    generator = torch.Generator().manual_seed(seed)
    translation = 0.05 * torch.randn(frames, 3, generator=generator)
    translation[0] = 0  # one frame where the camera must come back unchanged
    return FlameSequence(expression=torch.randn(frames, expressions, generator=generator),
                         pose=0.2 * torch.randn(frames, 5, 3, generator=generator), translation=translation,
                         names=tuple(str(3 + 4 * index) for index in range(frames)))


def make_tracked(frames: int = 5) -> TrackedSequence:
    face_found = np.arange(frames) != 2
    fit_error = np.where(face_found, 1.5 + np.arange(frames), np.nan).astype(np.float32)
    return TrackedSequence(make_sequence(frames, expressions=9), face_found, fit_error, fps=29.97,
                           camera=make_camera(640, 480), expression_names=tuple(f"blend {k}" for k in range(9)))


def project(camera: Camera, points: torch.Tensor) -> torch.Tensor:
    """(N, 3) world points -> (N, 2) pixels, pixel centres at integers (our Camera's convention)."""
    view = points @ camera.world_to_camera[:3, :3].T + camera.world_to_camera[:3, 3]
    return torch.stack([camera.fx * view[:, 0] / view[:, 2] + camera.cx,
                        camera.fy * view[:, 1] / view[:, 2] + camera.cy], dim=1)


def one_line_fault(call, *args) -> str:
    with pytest.raises(SequenceFileError) as info:
        call(*args)
    assert isinstance(info.value, ValueError) and "\n" not in str(info.value)
    return str(info.value)


# --- IMavatar flame_params.json ---------------------------------------------------------------------------------

def test_json_round_trip_gives_back_parameters_and_camera(tmp_path):
    camera, sequence, shape = make_camera(), make_sequence(), torch.linspace(-1, 1, 100)
    path = tmp_path / "flame_params.json"
    write_flame_params_json(path, sequence, camera, shape=shape)
    read = read_flame_params_json(path)

    assert torch.equal(read.params.expression, sequence.expression)  # float32 -> JSON double -> float32 is exact
    assert torch.equal(read.params.pose, sequence.pose)
    assert torch.equal(read.shape, shape)
    assert read.params.names == sequence.names  # "./image/3", "./image/7", ...
    for index in range(len(sequence)):
        back = imavatar_camera(read.intrinsics, read.world_mats[index], (512, 512))
        assert (back.width, back.height) == (512, 512)
        for name in ("fx", "fy", "cx", "cy"):
            assert getattr(back, name) == pytest.approx(getattr(camera, name), rel=1e-6), name
        moved = torch.eye(4)
        moved[:3, 3] = sequence.translation[index]
        torch.testing.assert_close(back.world_to_camera, camera.world_to_camera @ moved, atol=2e-6, rtol=1e-6)
    first = imavatar_camera(read.intrinsics, read.world_mats[0], (512, 512))
    torch.testing.assert_close(first.world_to_camera, camera.world_to_camera, atol=1e-6, rtol=0)


def test_json_translation_moves_the_camera_so_head_points_land_on_the_same_pixels(tmp_path):
    camera, sequence = make_camera(), make_sequence(frames=3)
    sequence.translation[1:] = torch.tensor([[0.1, -0.07, 0.3], [-0.2, 0.15, -0.5]])  # up to half a head
    write_flame_params_json(tmp_path / "flame_params.json", sequence, camera)
    read = read_flame_params_json(tmp_path / "flame_params.json")
    head = torch.randn(200, 3, generator=torch.Generator().manual_seed(1)) * 0.15
    for index in range(len(sequence)):
        expected = project(camera, head + sequence.translation[index])
        through_json = project(imavatar_camera(read.intrinsics, read.world_mats[index], (512, 512)), head)
        assert (through_json - expected).abs().max() < 2e-3  # pixels
        if index:
            assert (project(camera, head) - expected).abs().max() > 5  # the translation does move the head


def test_json_expression_padded_or_cut_to_flames_50(tmp_path):
    camera = make_camera()
    few, many = make_sequence(expressions=9), make_sequence(expressions=100)
    write_flame_params_json(tmp_path / "few.json", few, camera)
    write_flame_params_json(tmp_path / "many.json", many, camera)
    padded = read_flame_params_json(tmp_path / "few.json").params.expression
    assert torch.equal(padded[:, :9], few.expression) and not padded[:, 9:].any()
    assert torch.equal(read_flame_params_json(tmp_path / "many.json").params.expression, many.expression[:, :50])
    assert not read_flame_params_json(tmp_path / "few.json").shape.any()  # no shape given: zeros


@pytest.mark.parametrize("names", [("a", "b", "c", "d"), ("5", "5", "6", "7"), ("1", "2", "x", "4")])
def test_json_image_names_fall_back_to_index_plus_one(tmp_path, names):
    sequence = make_sequence()
    sequence.names = names
    write_flame_params_json(tmp_path / "flame_params.json", sequence, make_camera())
    data = json.loads((tmp_path / "flame_params.json").read_text())
    assert [frame["file_path"] for frame in data["frames"]] == ["./image/1", "./image/2", "./image/3", "./image/4"]


def test_json_intrinsics_are_normalised_by_width_and_height(tmp_path):
    camera = make_camera(640, 480)
    write_flame_params_json(tmp_path / "flame_params.json", make_sequence(), camera)
    intrinsics = json.loads((tmp_path / "flame_params.json").read_text())["intrinsics"]
    assert intrinsics == pytest.approx([-camera.fx / 640, camera.fy / 480, (camera.cx + 0.5) / 640,
                                        (camera.cy + 0.5) / 480])


@needs_fixture
def test_json_rewrites_an_imavatar_file_with_its_own_world_mats(tmp_path):
    original = read_flame_params_json(FIXTURE / "dataset" / "subj" / "subj" / "test1" / "flame_params.json")
    camera = imavatar_camera(original.intrinsics, original.world_mats[0], (512, 512))
    write_flame_params_json(tmp_path / "flame_params.json", original.params, camera, shape=original.shape,
                            world_mats=original.world_mats)
    again = read_flame_params_json(tmp_path / "flame_params.json")
    assert again.params.names == original.params.names == ("1", "2", "3")
    for key in ("world_mats", "shape"):
        assert torch.equal(getattr(again, key), getattr(original, key)), key
    assert torch.equal(again.params.expression, original.params.expression)
    assert torch.equal(again.params.pose, original.params.pose)
    torch.testing.assert_close(again.intrinsics, original.intrinsics, atol=1e-7, rtol=1e-6)


def test_json_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "flame_params.json"
    write_flame_params_json(path, make_sequence(frames=2), make_camera())
    before = path.read_bytes()

    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr("models.atomic_file.os.replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_flame_params_json(path, make_sequence(frames=3), make_camera())
    assert path.read_bytes() == before  # the old file is untouched
    assert [p.name for p in tmp_path.iterdir()] == ["flame_params.json"]  # and no temporary file is left


def test_json_refuses_what_it_cannot_write(tmp_path):
    empty = FlameSequence(torch.zeros(0, 50), torch.zeros(0, 5, 3), torch.zeros(0, 3), ())
    with pytest.raises(ValueError, match="at least one frame"):
        write_flame_params_json(tmp_path / "a.json", empty, make_camera())
    with pytest.raises(ValueError, match="world_mats has shape"):
        write_flame_params_json(tmp_path / "a.json", make_sequence(), make_camera(), world_mats=torch.zeros(2, 3, 4))


# --- livehead's tracked sequence .npz ---------------------------------------------------------------------------

def test_npz_round_trip(tmp_path):
    tracked = make_tracked()
    save_tracked_sequence(tmp_path / "tracked.npz", tracked)
    loaded = load_tracked_sequence(tmp_path / "tracked.npz")
    for key in ("expression", "pose", "translation"):
        assert torch.equal(getattr(loaded.params, key), getattr(tracked.params, key)), key
    assert loaded.params.names == tracked.params.names
    assert loaded.face_found.dtype == bool and np.array_equal(loaded.face_found, tracked.face_found)
    np.testing.assert_array_equal(loaded.fit_error_px, tracked.fit_error_px)  # NaN where no face, kept
    assert loaded.fps == 29.97 and loaded.expression_names == tracked.expression_names
    assert (loaded.camera.width, loaded.camera.height) == (640, 480)
    for name in ("fx", "fy", "cx", "cy", "znear", "zfar"):
        assert getattr(loaded.camera, name) == getattr(tracked.camera, name), name
    assert torch.equal(loaded.camera.world_to_camera, tracked.camera.world_to_camera)
    assert [p.name for p in tmp_path.iterdir()] == ["tracked.npz"]


def test_export_imavatar_writes_a_readable_flame_params_json(tmp_path):
    tracked = make_tracked()
    export_imavatar(tmp_path / "flame_params.json", tracked, shape=torch.ones(100))
    read = read_flame_params_json(tmp_path / "flame_params.json")
    assert torch.equal(read.params.expression[:, :9], tracked.params.expression)
    assert torch.equal(read.params.pose, tracked.params.pose) and torch.equal(read.shape, torch.ones(100))
    assert read.params.names == tracked.params.names


def test_tracked_sequence_refuses_inconsistent_lengths():
    tracked = make_tracked(frames=5)
    with pytest.raises(ValueError, match="'face_found' has shape \\(4,\\), expected \\(5,\\)"):
        TrackedSequence(tracked.params, tracked.face_found[:4], tracked.fit_error_px, 30.0, tracked.camera)
    with pytest.raises(ValueError, match="3 expression names for 9 coefficients"):
        TrackedSequence(tracked.params, tracked.face_found, tracked.fit_error_px, 30.0, tracked.camera, ("a",) * 3)
    with pytest.raises(ValueError, match="fps is 0"):
        TrackedSequence(tracked.params, tracked.face_found, tracked.fit_error_px, 0.0, tracked.camera)


def test_npz_faults_are_one_line(tmp_path):
    assert one_line_fault(load_tracked_sequence, tmp_path / "nope.npz") == (
        f"{tmp_path / 'nope.npz'}: no such file; give a tracked sequence .npz written by livehead")

    (tmp_path / "text.npz").write_text("not an archive")
    assert "not an .npz archive" in one_line_fault(load_tracked_sequence, tmp_path / "text.npz")

    np.savez(tmp_path / "other.npz", expression=np.zeros((2, 50), np.float32))
    message = one_line_fault(load_tracked_sequence, tmp_path / "other.npz")
    assert "missing 'livehead_tracked_sequence_version'" in message and "'face_found'" in message

    save_tracked_sequence(tmp_path / "good.npz", make_tracked(frames=5))
    with np.load(tmp_path / "good.npz") as npz:
        arrays = dict(npz)

    short = arrays | {"fit_error_px": arrays["fit_error_px"][:3]}
    np.savez(tmp_path / "short.npz", **short)
    assert "'fit_error_px' has shape (3,), expected (5,) for 5 frames" in one_line_fault(
        load_tracked_sequence, tmp_path / "short.npz")

    pickled = arrays | {"names": np.array([object()] * 5, dtype=object)}  # would need unpickling to read
    np.savez(tmp_path / "pickled.npz", **pickled)
    assert "not a readable .npz" in one_line_fault(load_tracked_sequence, tmp_path / "pickled.npz")

    np.savez(tmp_path / "newer.npz", **arrays | {"livehead_tracked_sequence_version": np.array(2)})
    assert "version 2" in one_line_fault(load_tracked_sequence, tmp_path / "newer.npz")
