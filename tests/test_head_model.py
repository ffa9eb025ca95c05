import importlib.util
import math
import os
import pickle
import sys
import types
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import scipy.sparse
import torch

from models.head_model import HeadModel, LandmarkEmbedding, pose_head
from models.head_model_file import HeadModelError, load_head_model, save_head_model
from models.safe_pickle import UnsafePickleError

# ---------------------------------------------------------------------------------------------------------------
# Linear blend skinning


def chain_model() -> HeadModel:
    """Joints 0 -> 1 -> 2 on the y axis, sitting on vertices 0, 1, 2; vertex 3 is skinned half to joints 1 and 2."""
    posedirs = torch.zeros(18, 12)
    posedirs[0, 3 * 3 + 2] = 0.5  # joint 1's (R[0, 0] - 1) moves vertex 3 along z
    return HeadModel(
        v_template=torch.tensor([[0.0, 0, 0], [0, 1, 0], [0, 2, 0], [1, 2, 0]]),
        shapedirs=torch.tensor([[0.0, 0, 0], [0, 0, 0], [0, 0, 0], [1, 0, 0]])[..., None],  # vertex 3 along x
        exprdirs=torch.tensor([[0.0, 0, 0], [0, 0, 0], [0, 1, 0], [0, 0, 1]])[..., None],  # vertex 2 up, 3 along z
        posedirs=posedirs,
        joint_regressor=torch.eye(3, 4),
        parents=torch.tensor([-1, 0, 1]),
        lbs_weights=torch.tensor([[1.0, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0.5, 0.5]]),
        faces=torch.tensor([[0, 1, 2], [1, 2, 3]]),
    )


def test_lbs_matches_hand_computed_chain():
    # Expression 1: vertex 2 -> (0, 3, 0) (so joint 2 too), vertex 3 -> (1, 2, 1).
    # Joint 1 turns 90 degrees about z ((x, y, z) -> (-y, x, z)), joint 2 90 degrees about x ((x, y, z) -> (x, -z, y)).
    pose = torch.tensor([[[0.0, 0, 0], [0, 0, math.pi / 2], [math.pi / 2, 0, 0]]])
    result = pose_head(chain_model(), torch.ones(1, 1), pose)

    # Joint 1 stays at (0, 1, 0); joint 2 = joint 1 + Rz (0, 2, 0) = (-2, 1, 0).
    expected_joints = [[0.0, 0, 0], [0, 1, 0], [-2, 1, 0]]
    # Vertex 3 gets the corrective 0.5 * (cos 90 - 1) = -0.5 in z: rest (1, 2, 0.5).
    # By joint 1: Rz (1, 1, 0.5) + (0, 1, 0) = (-1, 2, 0.5).
    # By joint 2: Rz Rx (1, -1, 0.5) + (-2, 1, 0) = Rz (1, -0.5, -1) + (-2, 1, 0) = (-1.5, 2, -1).
    # Half each: (-1.25, 2, -0.25).
    expected_vertices = [[0.0, 0, 0], [0, 1, 0], [-2, 1, 0], [-1.25, 2, -0.25]]
    torch.testing.assert_close(result.joints[0], torch.tensor(expected_joints), atol=1e-6, rtol=0)
    torch.testing.assert_close(result.vertices[0], torch.tensor(expected_vertices), atol=1e-6, rtol=0)
    # Joint 1's rest -> posed transform: rotate by Rz, then move so that the joint stays put: t = J1 - Rz J1.
    expected_transform = [[0.0, -1, 0, 1], [1, 0, 0, 1], [0, 0, 1, 0], [0, 0, 0, 1]]
    torch.testing.assert_close(result.transforms[0, 1], torch.tensor(expected_transform), atol=1e-6, rtol=0)


def random_model(seed: int = 0, num_vertices: int = 30) -> HeadModel:
    """A FLAME-like model (5 joints) with random buffers."""
    g = torch.Generator().manual_seed(seed)
    regressor = torch.rand(5, num_vertices, generator=g)
    weights = torch.rand(num_vertices, 5, generator=g)
    return HeadModel(
        v_template=torch.randn(num_vertices, 3, generator=g),
        shapedirs=torch.randn(num_vertices, 3, 4, generator=g),
        exprdirs=torch.randn(num_vertices, 3, 3, generator=g),
        posedirs=0.1 * torch.randn(36, num_vertices * 3, generator=g),
        joint_regressor=regressor / regressor.sum(1, keepdim=True),
        parents=torch.tensor([-1, 0, 1, 1, 1]),
        lbs_weights=weights / weights.sum(1, keepdim=True),
        faces=torch.randint(0, num_vertices, (10, 3), generator=g),
        expression_names=("jaw_open", "smile", "blink"),
        landmarks={"mediapipe": LandmarkEmbedding(torch.tensor([0, 3, 9]), torch.rand(3, 3, generator=g)),
                   "flame68": LandmarkEmbedding(torch.tensor([1, 2]), torch.rand(2, 3, generator=g))},
    )


def test_zero_pose_gives_template_plus_blendshapes():
    model = random_model()
    expression, shape = torch.randn(2, 3), torch.randn(2, 4)
    result = pose_head(model, expression, torch.zeros(2, 5, 3), shape=shape)
    expected = (model.v_template + torch.einsum("vce,be->bvc", model.exprdirs, expression)
                + torch.einsum("vcs,bs->bvc", model.shapedirs, shape))
    torch.testing.assert_close(result.vertices, expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(result.joints, model.joint_regressor @ expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(result.transforms, torch.eye(4).expand(2, 5, 4, 4), atol=1e-6, rtol=0)


def test_global_rotation_rotates_everything_about_the_root_joint():
    model = random_model()
    expression = torch.randn(1, 3)
    pose = torch.zeros(1, 5, 3)
    pose[0, 0] = torch.tensor([0.0, math.pi / 2, 0])  # 90 degrees about y: (x, y, z) -> (z, y, -x)
    rotation = torch.tensor([[0.0, 0, 1], [0, 1, 0], [-1, 0, 0]])
    rest = pose_head(model, expression, torch.zeros(1, 5, 3))
    result = pose_head(model, expression, pose)
    root = rest.joints[0, 0]
    torch.testing.assert_close(result.vertices[0], (rest.vertices[0] - root) @ rotation.T + root, atol=1e-5, rtol=0)
    torch.testing.assert_close(result.joints[0], (rest.joints[0] - root) @ rotation.T + root, atol=1e-5, rtol=0)


def test_translation_moves_vertices_joints_and_transforms():
    model = random_model()
    expression, pose = torch.randn(2, 3), 0.3 * torch.randn(2, 5, 3)
    translation = torch.tensor([[1.0, -2, 3], [0.5, 0, 0]])
    plain = pose_head(model, expression, pose)
    moved = pose_head(model, expression, pose, translation)
    torch.testing.assert_close(moved.vertices, plain.vertices + translation[:, None])
    torch.testing.assert_close(moved.joints, plain.joints + translation[:, None])
    torch.testing.assert_close(moved.transforms[..., :3, 3], plain.transforms[..., :3, 3] + translation[:, None])
    torch.testing.assert_close(moved.transforms[..., :3, :3], plain.transforms[..., :3, :3])


def test_with_shape_equals_passing_the_shape():
    model = random_model()
    shape, expression, pose = torch.randn(4), torch.randn(2, 3), 0.3 * torch.randn(2, 5, 3)
    baked = pose_head(model.with_shape(shape), expression, pose)
    passed = pose_head(model, expression, pose, shape=shape.expand(2, 4))
    torch.testing.assert_close(baked.vertices, passed.vertices, atol=1e-5, rtol=0)
    torch.testing.assert_close(baked.joints, passed.joints, atol=1e-5, rtol=0)


# ---------------------------------------------------------------------------------------------------------------
# FLAME .pkl files (written here, synthetic: real FLAME files must never be committed)


@contextmanager
def fake_chumpy():
    """A class that pickle records as `chumpy.ch.Ch`; chumpy is importable only inside this block."""
    package, module = types.ModuleType("chumpy"), types.ModuleType("chumpy.ch")

    class Ch:
        pass

    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    module.Ch, package.ch = Ch, module
    with mock.patch.dict(sys.modules, {"chumpy": package, "chumpy.ch": module}):
        yield Ch


def flame_arrays(num_expressions: int = 100, root_parent: int = -1, num_vertices: int = 20) -> dict:
    """The keys and layouts of a FLAME pickle, with random values."""
    rng = np.random.default_rng(0)
    regressor = rng.random((5, num_vertices)) * (rng.random((5, num_vertices)) < 0.3)  # sparse, like FLAME's
    regressor[:, 0] += 0.1
    weights = rng.random((num_vertices, 5))
    return {
        "v_template": rng.standard_normal((num_vertices, 3)),
        "shapedirs": rng.standard_normal((num_vertices, 3, 300 + num_expressions)),
        "posedirs": rng.standard_normal((num_vertices, 3, 36)),
        "J_regressor": scipy.sparse.csc_matrix(regressor / regressor.sum(1, keepdims=True)),
        "weights": weights / weights.sum(1, keepdims=True),
        "kintree_table": np.array([[root_parent, 0, 1, 1, 1], [0, 1, 2, 3, 4]]),
        "f": rng.integers(0, num_vertices, (10, 3)).astype(np.uint32),
        "J": rng.standard_normal((5, 3)),
        "bs_style": "lbs",
        "bs_type": "lrotmin",
    }


def write_flame_pkl(path: Path, arrays: dict, chumpy: bool) -> None:
    """As FLAME 2020 (chumpy arrays, protocol 2) or FLAME 2023 (plain arrays) would store it."""
    with fake_chumpy() as Ch:
        data = dict(arrays)
        if chumpy:
            for key in {"v_template", "shapedirs", "posedirs", "weights", "J"} & arrays.keys():
                data[key] = Ch()
                # What chumpy keeps: the value in 'x' and bookkeeping around it.
                data[key].__dict__.update(x=arrays[key], _dirty_vars=set(), _itr=None, label=None,
                                          _depends_on_deps={}, _cache_info={})
        path.write_bytes(pickle.dumps(data, protocol=2))


@pytest.mark.parametrize("chumpy, root_parent", [(True, 4294967295), (False, -1)], ids=["flame2020", "flame2023"])
def test_flame_pkl_loads_without_chumpy(tmp_path, chumpy, root_parent):
    arrays = flame_arrays(root_parent=root_parent)
    path = tmp_path / "generic_model.pkl"
    write_flame_pkl(path, arrays, chumpy)
    if chumpy:
        assert b"cchumpy.ch\nCh\n" in path.read_bytes()
    assert "chumpy" not in sys.modules and importlib.util.find_spec("chumpy") is None

    model = load_head_model(path)
    assert "chumpy" not in sys.modules
    tensors = [model.v_template, model.shapedirs, model.exprdirs, model.posedirs, model.joint_regressor,
               model.lbs_weights]
    assert all(t.dtype == torch.float32 and t.device.type == "cpu" for t in tensors)
    np.testing.assert_allclose(model.v_template, arrays["v_template"], rtol=1e-6)
    np.testing.assert_allclose(model.shapedirs, arrays["shapedirs"][:, :, :300], rtol=1e-6)
    np.testing.assert_allclose(model.exprdirs, arrays["shapedirs"][:, :, 300:], rtol=1e-6)
    np.testing.assert_allclose(model.joint_regressor, arrays["J_regressor"].toarray(), rtol=1e-6)
    np.testing.assert_allclose(model.lbs_weights, arrays["weights"], rtol=1e-6)
    assert model.parents.tolist() == [-1, 0, 1, 1, 1] and model.parents.dtype == torch.int64
    assert model.faces.tolist() == arrays["f"].tolist() and model.faces.dtype == torch.int64
    assert (model.num_shape, model.num_expressions, model.num_joints) == (300, 100, 5)
    # The pose corrective of every vertex is pose_feature . posedirs[v, c, :] in the file's (V, 3, P) layout.
    feature = torch.randn(36)
    expected = np.einsum("vcp,p->vc", arrays["posedirs"], feature.numpy())
    np.testing.assert_allclose((feature @ model.posedirs).reshape(-1, 3), expected, rtol=1e-4, atol=1e-4)

    expression = torch.randn(2, 100)
    rest = pose_head(model, expression, torch.zeros(2, 5, 3))
    expected_rest = model.v_template + torch.einsum("vce,be->bvc", model.exprdirs, expression)
    torch.testing.assert_close(rest.vertices, expected_rest, atol=1e-4, rtol=0)
    posed = pose_head(model, expression, 0.2 * torch.randn(2, 5, 3), torch.randn(2, 3), torch.randn(2, 300))
    assert posed.vertices.shape == (2, 20, 3) and torch.isfinite(posed.vertices).all()


def test_flame_component_counts_are_options_clamped_to_the_file(tmp_path):
    arrays = flame_arrays(num_expressions=50)
    path = tmp_path / "flame.pkl"
    write_flame_pkl(path, arrays, chumpy=True)
    small = load_head_model(path, num_shape=10, num_expressions=5)
    np.testing.assert_allclose(small.shapedirs, arrays["shapedirs"][:, :, :10], rtol=1e-6)
    np.testing.assert_allclose(small.exprdirs, arrays["shapedirs"][:, :, 300:305], rtol=1e-6)
    assert small.shapedirs.is_contiguous() and small.exprdirs.is_contiguous()
    everything = load_head_model(path, num_shape=1000, num_expressions=1000)
    assert (everything.num_shape, everything.num_expressions) == (300, 50)


def test_pkl_that_would_run_code_is_refused_by_the_loader(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    path = tmp_path / "flame.pkl"
    path.write_bytes(pickle.dumps({**flame_arrays(), "f": Payload()}, protocol=2))
    with pytest.raises(UnsafePickleError, match="system"):
        load_head_model(path)
    assert not marker.exists()


# ---------------------------------------------------------------------------------------------------------------
# livehead's own .npz


def test_npz_round_trip(tmp_path):
    model = random_model()
    path = tmp_path / "head.npz"
    save_head_model(model, path)
    assert path.exists() and not (tmp_path / "head.npz.npz").exists()
    loaded = load_head_model(path)
    for key in ("v_template", "shapedirs", "exprdirs", "posedirs", "joint_regressor", "parents", "lbs_weights",
                "faces"):
        original, read = getattr(model, key), getattr(loaded, key)
        assert read.dtype == original.dtype and torch.equal(read, original), key
    assert loaded.expression_names == ("jaw_open", "smile", "blink")
    assert loaded.landmarks.keys() == model.landmarks.keys()
    for name, landmark in model.landmarks.items():
        assert torch.equal(loaded.landmarks[name].face_ids, landmark.face_ids)
        assert torch.equal(loaded.landmarks[name].bary, landmark.bary)


def test_npz_round_trip_of_a_loaded_flame_model(tmp_path):
    write_flame_pkl(tmp_path / "flame.pkl", flame_arrays(), chumpy=True)
    model = load_head_model(tmp_path / "flame.pkl", num_shape=100, num_expressions=50)
    save_head_model(model, tmp_path / "head.npz")
    loaded = load_head_model(tmp_path / "head.npz")
    assert torch.equal(loaded.shapedirs, model.shapedirs) and torch.equal(loaded.exprdirs, model.exprdirs)
    assert loaded.expression_names == () and loaded.landmarks == {}


def rewrite_npz(source: Path, path: Path, **changes) -> Path:
    """A copy of the .npz at `source` with keys replaced (or removed, given None)."""
    with np.load(source) as npz:
        arrays = {key: npz[key] for key in npz.files}
    arrays.update(changes)
    np.savez(path, **{key: value for key, value in arrays.items() if value is not None})
    return path


def write_bad_file(kind: str, tmp_path: Path) -> Path:
    good_npz = tmp_path / "good.npz"
    save_head_model(random_model(), good_npz)
    bad = tmp_path / "bad.npz"
    if kind == "missing file":
        return tmp_path / "missing.pkl"
    if kind == "random bytes pkl":
        (tmp_path / "random.pkl").write_bytes(np.random.default_rng(0).bytes(1000))
        return tmp_path / "random.pkl"
    if kind == "pickle of a list":
        (tmp_path / "list.pkl").write_bytes(pickle.dumps([1, 2, 3]))
        return tmp_path / "list.pkl"
    if kind == "pkl missing posedirs":
        arrays = flame_arrays()
        del arrays["posedirs"]
        write_flame_pkl(tmp_path / "flame.pkl", arrays, chumpy=True)
        return tmp_path / "flame.pkl"
    if kind == "pkl posedirs wrong shape":
        arrays = flame_arrays()
        arrays["posedirs"] = arrays["posedirs"][:, :, :35]
        write_flame_pkl(tmp_path / "flame.pkl", arrays, chumpy=False)
        return tmp_path / "flame.pkl"
    if kind == "pkl string template":
        write_flame_pkl(tmp_path / "flame.pkl", {**flame_arrays(), "v_template": "template"}, chumpy=False)
        return tmp_path / "flame.pkl"
    if kind == "unknown suffix":
        (tmp_path / "head.obj").write_text("v 0 0 0\n")
        return tmp_path / "head.obj"
    if kind == "random bytes npz":
        bad.write_bytes(np.random.default_rng(0).bytes(1000))
        return bad
    if kind == "npz missing lbs_weights":
        return rewrite_npz(good_npz, bad, lbs_weights=None)
    if kind == "npz without version":
        return rewrite_npz(good_npz, bad, livehead_head_model_version=None)
    if kind == "npz exprdirs wrong shape":
        return rewrite_npz(good_npz, bad, exprdirs=np.zeros((29, 3, 3), np.float32))
    if kind == "npz posedirs wrong shape":
        return rewrite_npz(good_npz, bad, posedirs=np.zeros((27, 90), np.float32))
    if kind == "npz landmark bary wrong shape":
        return rewrite_npz(good_npz, bad, **{"landmarks/mediapipe/bary": np.zeros((3, 2), np.float32)})
    if kind == "npz faces out of range":
        return rewrite_npz(good_npz, bad, faces=np.full((10, 3), 30))
    if kind == "npz parents out of order":
        return rewrite_npz(good_npz, bad, parents=np.array([-1, 2, 0, 1, 1]))
    if kind == "npz with a pickled object array":
        return rewrite_npz(good_npz, bad, v_template=np.array([{"a": 1}] * 3, dtype=object))
    raise AssertionError(kind)


@pytest.mark.parametrize("kind, message", [
    ("missing file", "no such file"),
    ("random bytes pkl", "not a readable pickle"),
    ("pickle of a list", "holds a list, not a FLAME model dict"),
    ("pkl missing posedirs", "missing 'posedirs'"),
    ("pkl posedirs wrong shape", r"'posedirs' has shape \(20, 3, 35\), expected \(20, 3, 36\)"),
    ("pkl string template", "'v_template' is not a numeric array"),
    ("unknown suffix", "unknown head model format '.obj'"),
    ("random bytes npz", "not an .npz archive"),
    ("npz missing lbs_weights", "missing 'lbs_weights'"),
    ("npz without version", "not a livehead head model"),
    ("npz exprdirs wrong shape", r"'exprdirs' has shape \(29, 3, 3\), expected \(30, 3, any\)"),
    ("npz posedirs wrong shape", r"'posedirs' has shape \(27, 90\), expected \(36, 90\)"),
    ("npz landmark bary wrong shape", r"'landmarks/mediapipe/bary' has shape \(3, 2\), expected \(3, 3\)"),
    ("npz faces out of range", "faces refer to vertices outside 0..29"),
    ("npz parents out of order", "parents before children"),
    ("npz with a pickled object array", "not a readable .npz"),
])
def test_bad_files_give_one_clear_line(tmp_path, kind, message):
    path = write_bad_file(kind, tmp_path)
    with pytest.raises(HeadModelError, match=message) as error:
        load_head_model(path)
    text = str(error.value)
    assert text.startswith(f"{path}: ") and "\n" not in text
