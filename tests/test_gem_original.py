"""Original GEM files: what the original code reconstructs from them (shared fixture), the refined basis, safe and
one-line loading. `write_gem` makes small GEMs in the original on-disk layout for tests that need no fixture."""
from __future__ import annotations

import functools
import os
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch

from avatar import load_avatar
from avatar.gem.model import ATTRIBUTES, CHANNELS, eigen_gaussians, frozen_at_test_time
from avatar.gem.original_files import OriginalGem, coefficients_file_of, load_original_gem
from avatar.gem.reference import reference_gaussians
from models.errors import AvatarError
from models.rotation import axis_angle_to_matrix
from models.safe_pickle import safe_torch_load

FIXTURE = Path(__file__).parents[2] / "shared" / "fixtures" / "gem"
needs_fixture = pytest.mark.skipif(not FIXTURE.is_dir(), reason="the shared GEM fixture is absent")
FIXTURE_FILES = {"full": FIXTURE / "checkpoints/GAUSSIAN_PCA_256/SYNTH.ptk",
                 "parts": FIXTURE / "checkpoints/GAUSSIAN_PCA_256/SYNTH_parts.ptk"}
OUTPUTS = {"means3D": "means", "rotation": "quats", "scales": "scales", "opacity": "opacities"}

# The small GEMs of write_gem: two parts (or one "full"), fewer components than the file holds (config truncates).
PARTS, SIZES, FRAMES, FILE_COMPONENTS = ("face", "scalp"), (30, 20), 7, 6
COUNTS = {"geometry": 4, "opacity": 3, "scales": 2, "rotation": 2}


@functools.cache
def original_outputs() -> dict:
    return torch.load(FIXTURE / "orig_out.pt", map_location="cpu", weights_only=True)


@functools.cache
def fixture_gem(mode: str, refined: bool) -> OriginalGem:
    return load_original_gem(FIXTURE_FILES[mode], None if refined else False)


def assert_matches(actual: torch.Tensor, expected: torch.Tensor, name: str, rtol: float = 1e-5) -> None:
    """Equal to `rtol` relative to each value and to the tensor's largest magnitude (for values near zero)."""
    torch.testing.assert_close(actual.double(), expected.double(), rtol=rtol, atol=rtol * float(expected.abs().max()),
                               msg=lambda text: f"{name}: {text}")


def reconstruct(gem: OriginalGem, case: dict, path: str):
    model = gem.model
    coefficients = case["coeffs"].view(len(model.parts), -1)  # part-major, as the original's MLP output
    masking = case["masking"]
    if path == "reference":
        keys, mask = (masking["keys"], masking["mask"]) if masking else ((), None)
        return reference_gaussians(model, coefficients, case["root_RT"], keys, mask)
    frozen = frozen_at_test_time(model, masking["mask"], masking["keys"]) if masking else None
    return eigen_gaussians(model, coefficients, case["root_RT"], frozen)


@needs_fixture
def test_the_fixture_has_every_case():
    cases = original_outputs()["cases"]
    assert len(cases) == 32 and len({case["name"] for case in cases}) == 32
    assert {case["mode"] for case in cases} == {"full", "parts"}
    assert any(case["refined"] for case in cases) and any(case["masking"] for case in cases)


@needs_fixture
@pytest.mark.parametrize("path", ["reference", "fast"])
@pytest.mark.parametrize("index", range(32))
def test_reproduces_what_the_original_reconstructs(index, path):
    case = original_outputs()["cases"][index]
    gem = fixture_gem(case["mode"], case["refined"])
    gaussians = reconstruct(gem, case, path)
    for original_name, name in OUTPUTS.items():
        expected = case["out"][original_name]
        assert_matches(getattr(gaussians, name).reshape(expected.shape), expected, f"{case['name']} {original_name}")
    assert_matches(gem.model.colors, case["out"]["colors"], "colors")
    assert torch.equal(gem.model.tex_map, case["out"]["tex_map"].long())
    if case["gt_frame"] is not None:  # the coefficient track, divided by sigma, is what the original feeds back
        assert_matches(gem.track[case["gt_frame"]].reshape(-1), case["coeffs"], "track")


@needs_fixture
@pytest.mark.parametrize("mode", ["full", "parts"])
def test_the_refined_basis_is_found_and_the_ptk_basis_would_be_wrong(mode):
    refined, unrefined = fixture_gem(mode, True), fixture_gem(mode, False)
    assert refined.regressor == FIXTURE / original_outputs()["modes"][mode]["model_pth"]
    assert unrefined.regressor is None
    state = torch.load(refined.regressor, map_location="cpu", weights_only=True)[0][1][1]
    for attribute in ATTRIBUTES:
        for p, part in enumerate(refined.model.parts):
            assert torch.equal(refined.model.bases[attribute][p].components, state[f"components.{attribute}_{part}"])
    cases = [case for case in original_outputs()["cases"] if case["mode"] == mode and case["refined"]]
    assert len(cases) == 4
    for case in cases:
        expected = case["out"]["means3D"].double()
        means = reconstruct(unrefined, case, "fast").means.double()
        assert (means - expected).abs().max() > 1e-4 * expected.abs().max(), case["name"]  # well beyond round-off


@needs_fixture
def test_an_explicit_regressor_of_the_other_mode_is_refused():
    full_regressor = FIXTURE / "experiments/regressor/SYNTH/relative_gem_full/model.pth"
    message = fault(load_original_gem, FIXTURE_FILES["parts"], full_regressor)
    assert "relative_gem_full/model.pth" in message and "['full']" in message and "SYNTH_parts.ptk" in message
    explicit = load_original_gem(FIXTURE_FILES["full"], full_regressor)
    assert torch.equal(explicit.model.bases["geometry"][0].components,
                       fixture_gem("full", True).model.bases["geometry"][0].components)


@needs_fixture
def test_cuda_tagged_numpy1_files_load_on_the_cpu():
    with zipfile.ZipFile(FIXTURE_FILES["parts"]) as archive:
        pickled = archive.read("SYNTH_parts/data.pkl")
    assert b"cuda:0" in pickled and b"numpy.core.multiarray" in pickled  # as written on a GPU machine, numpy<2
    model = fixture_gem("parts", True).model
    assert model.colors.device.type == "cpu" and model.colors.dtype == torch.float32
    assert model.tex_map.dtype == torch.int64 and len(model) == 855
    assert model.part_sizes == tuple(original_outputs()["modes"]["parts"]["counts"].values())


# --- small GEMs in the original layout: no fixture needed ---


def write_gem(root: Path, parts: tuple[str, ...] = PARTS, sizes: tuple[int, ...] = SIZES, capture_id: str = "TEST",
              seed: int = 0) -> tuple[Path, torch.Tensor]:
    """{root}/checkpoints/GAUSSIAN_PCA_256/{id}{_parts}.ptk and its _coeffs track, as pca_gauss.py writes them
    (numpy arrays, tensors for colours and tex_map). Returns the eigen file and the track in sigma units."""
    rng = np.random.default_rng(seed)
    data = {"colors": {}, "tex_map": {}, **{attribute: {} for attribute in ATTRIBUTES}, "config": dict(COUNTS)}
    coefficients = {attribute: {} for attribute in ATTRIBUTES}
    track = np.zeros((FRAMES, len(parts), sum(COUNTS.values())), np.float32)
    for p, (part, size) in enumerate(zip(parts, sizes)):
        data["colors"][part] = torch.from_numpy(rng.uniform(0.1, 0.9, (size, 3)).astype(np.float32))
        data["tex_map"][part] = torch.from_numpy(rng.integers(0, 5023, size))
        direction = rng.normal(size=(size, 3))
        means = {"geometry": 0.1 * direction / np.linalg.norm(direction, axis=1, keepdims=True),
                 "opacity": np.full((size, 1), 0.8), "scales": np.full((size, 3), 0.015),
                 "rotation": rng.normal(size=(size, 4))}  # quaternions of either sign, as GEM's can be
        start = 0
        for attribute in ATTRIBUTES:
            n, channels = COUNTS[attribute], CHANNELS[attribute]
            rows = np.linalg.qr(rng.normal(size=(size * channels, FILE_COMPONENTS)))[0].T  # orthonormal rows
            variance = np.sort(rng.uniform(1e-5, 1e-3, FILE_COMPONENTS))[::-1].astype(np.float32)
            data[attribute][part] = {"components": rows.astype(np.float32), "variance": variance,
                                     "mean": means[attribute].reshape(-1).astype(np.float32), "channels": channels}
            raw = (rng.normal(size=(FRAMES, FILE_COMPONENTS)) * np.sqrt(variance)).astype(np.float32)  # raw units
            coefficients[attribute][part] = raw
            track[:, p, start:start + n] = raw[:, :n] / np.sqrt(variance[:n])
            start += n
    folder = root / "checkpoints" / "GAUSSIAN_PCA_256"
    folder.mkdir(parents=True, exist_ok=True)
    suffix = "_parts" if len(parts) > 1 else ""
    torch.save(data, folder / f"{capture_id}{suffix}.ptk")
    torch.save(coefficients, folder / f"{capture_id}_coeffs{suffix}.ptk")
    return folder / f"{capture_id}{suffix}.ptk", torch.from_numpy(track)


def write_regressor(root: Path, components: dict[str, torch.Tensor], capture_id: str = "TEST",
                    experiment: str = "relative_gem") -> Path:
    """A mapping-network checkpoint in the original layout ((optimisers, (resnet, apperance)), iteration)."""
    path = root / "experiments" / "regressor" / capture_id / experiment / "model.pth"
    path.parent.mkdir(parents=True, exist_ok=True)
    apperance = OrderedDict((f"components.{key}", value) for key, value in components.items())
    optimisers = ({}, OrderedDict(), {}, {})
    torch.save(((optimisers, (OrderedDict(), apperance)), 200_000), path)
    return path


def refined_components(path: Path, seed: int = 1) -> dict[str, torch.Tensor]:
    """The .ptk components (truncated as config says) moved a little, as training the mapping network does."""
    data, generator = safe_torch_load(path), torch.Generator().manual_seed(seed)
    return {f"{attribute}_{part}": (torch.from_numpy(entry["components"][:COUNTS[attribute]])
                                    + 0.05 * torch.randn(COUNTS[attribute], entry["mean"].shape[0],
                                                         generator=generator))
            for attribute in ATTRIBUTES for part, entry in data[attribute].items()}


def fault(call, *args) -> str:
    """The one-line message of the AvatarError `call(*args)` raises."""
    with pytest.raises(AvatarError) as info:
        call(*args)
    message = str(info.value)
    assert "\n" not in message, message
    return message


@pytest.mark.parametrize("parts, sizes", [(PARTS, SIZES), (("full",), (40,))])
def test_reference_and_fast_path_agree(tmp_path, parts, sizes):
    model = load_original_gem(write_gem(tmp_path, parts, sizes)[0]).model
    generator = torch.Generator().manual_seed(3)
    coefficients = 2 * torch.randn(len(parts), model.coefficients_per_part, generator=generator)
    root = torch.eye(4)
    root[:3, :3], root[:3, 3] = axis_angle_to_matrix(torch.tensor([0.3, -1.2, 2.0])), torch.tensor([0.1, -0.2, 0.3])
    hair = torch.rand(len(model), generator=generator) < 0.3
    for root_or_none in (None, root):
        for keys, mask in [((), None), (("scalp",), hair)]:
            reference = reference_gaussians(model, coefficients, root_or_none, keys, mask)
            fast = eigen_gaussians(model, coefficients, root_or_none, frozen_at_test_time(model, mask, keys))
            for name in OUTPUTS.values():
                assert_matches(getattr(fast, name), getattr(reference, name), name)
            if root_or_none is not None:
                assert (fast.quats[:, 0] >= 0).all()
    frozen = eigen_gaussians(model, coefficients, None, frozen_at_test_time(model, hair, ("scalp",)))
    held = hair if len(parts) == 1 else model.gaussians_of_parts(["scalp"])
    assert 0 < held.sum() < len(model)
    assert torch.equal(frozen.means[held], model.rest["geometry"][held])
    assert not torch.isclose(frozen.means[~held], model.rest["geometry"][~held]).all()


def test_the_track_is_read_in_sigma_units_and_the_config_truncates(tmp_path):
    path, track = write_gem(tmp_path)
    gem = load_original_gem(path)
    assert gem.regressor is None and gem.model.parts == PARTS and gem.model.counts == COUNTS
    assert gem.track.shape == (FRAMES, len(PARTS), sum(COUNTS.values()))
    assert_matches(gem.track, track, "track")
    (path.parent / "TEST_coeffs_parts.ptk").unlink()
    assert load_original_gem(path).track is None  # the track is optional


def test_the_refined_basis_is_found_beside_the_checkpoints_and_preferred(tmp_path):
    path, _ = write_gem(tmp_path)
    plain = load_original_gem(path).model
    write_regressor(tmp_path, {"geometry_full": torch.zeros(4, 3)}, experiment="relative_gem")  # other mode: skipped
    components = refined_components(path)
    regressor = write_regressor(tmp_path, components, experiment="relative_gem_local_pca")
    gem = load_original_gem(path)
    assert gem.regressor == regressor
    for attribute in ATTRIBUTES:
        for p, part in enumerate(PARTS):
            basis = gem.model.bases[attribute][p]
            assert torch.equal(basis.components, components[f"{attribute}_{part}"])
            assert torch.equal(basis.sigma, plain.bases[attribute][p].sigma)  # sigma and means stay the .ptk's
            assert torch.equal(basis.mean, plain.bases[attribute][p].mean)
    assert load_original_gem(path, False).regressor is None


def test_a_pickle_that_would_run_code_is_refused_and_does_not_run(tmp_path):
    marker = tmp_path / "pwned"

    class RunsShell:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    path = tmp_path / "evil.ptk"
    torch.save({"colors": {"full": torch.zeros(2, 3)}, "geometry": RunsShell()}, path)
    for load in (load_original_gem, load_avatar):
        message = fault(load, path)
        assert f"refused to load {os.system.__module__}.system" in message and str(path) in message
    assert not marker.exists()


def truncated(path: Path) -> Path:
    out = path.with_name("truncated.ptk")
    out.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return out


def wrong_shape(path: Path) -> Path:
    data = safe_torch_load(path)
    data["scales"]["scalp"]["mean"] = data["scales"]["scalp"]["mean"][:-3]
    torch.save(data, path.with_name("wrong.ptk"))
    return path.with_name("wrong.ptk")


@pytest.mark.parametrize("make, words", [
    (lambda path: path.with_name("missing.ptk"), "no such file"),
    (lambda path: (path.with_name("garbage.ptk").write_bytes(os.urandom(300)), path.with_name("garbage.ptk"))[1],
     "not a readable torch.save file"),
    (truncated, "not a readable torch.save file"),
    (lambda path: (torch.save({"colors": {}}, path.with_name("keys.ptk")), path.with_name("keys.ptk"))[1],
     "expected the keys colors, tex_map, geometry"),
    (wrong_shape, "scales/scalp has shapes"),
    (lambda path: path.with_name("TEST_coeffs_parts.ptk"), "GAUSSIAN_PCA_256/TEST_parts.ptk instead"),
])
def test_every_wrong_eigen_file_is_one_line(tmp_path, make, words):
    path, _ = write_gem(tmp_path)
    bad = make(path)
    message = fault(load_original_gem, bad)
    assert words in message and bad.name in message


def test_a_coefficient_track_under_another_name_is_recognised(tmp_path):
    path, _ = write_gem(tmp_path)
    renamed = tmp_path / "renamed.ptk"
    renamed.write_bytes((path.parent / "TEST_coeffs_parts.ptk").read_bytes())
    assert "a GEM coefficient track, not an eigen model" in fault(load_original_gem, renamed)


def test_wrong_regressors_are_one_line(tmp_path):
    path, _ = write_gem(tmp_path)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    assert "not a GEM regressor checkpoint" in fault(load_original_gem, path, garbage)
    other_mode = write_regressor(tmp_path, {"geometry_full": torch.zeros(4, 150)}, experiment="full")
    assert "has the parts ['full']" in fault(load_original_gem, path, other_mode)
    components = refined_components(path)
    components["rotation_face"] = components["rotation_face"][:, :-4]
    short = write_regressor(tmp_path, components, experiment="short")
    assert "components.rotation_face has the shape (2, 116)" in fault(load_original_gem, path, short)
    assert "no such file" in fault(load_original_gem, path, tmp_path / "none.pth")
    track = path.parent / "TEST_coeffs_parts.ptk"
    torch.save({attribute: {"face": np.zeros((3, 6), np.float32)} for attribute in ATTRIBUTES}, track)
    assert "not the coefficient track of TEST_parts.ptk" in fault(load_original_gem, path)


def test_a_direction_with_no_variance_has_coefficient_zero_in_the_track(tmp_path):
    """A part of lower rank than K (sigma 0 past it, as sklearn writes) must not turn the track into NaN."""
    eigen_path, track = write_gem(tmp_path)
    data, coefficients = torch.load(eigen_path, weights_only=False), torch.load(
        coefficients_file_of(eigen_path), weights_only=False)  # our own test files
    part, last = PARTS[0], COUNTS["geometry"] - 1
    data["geometry"][part]["variance"][last] = 0.0
    coefficients["geometry"][part][:, last] = 0.0
    torch.save(data, eigen_path)
    torch.save(coefficients, coefficients_file_of(eigen_path))
    loaded = load_original_gem(eigen_path, regressor=False).track
    assert torch.isfinite(loaded).all()
    assert torch.equal(loaded[:, 0, last], torch.zeros(len(loaded)))
