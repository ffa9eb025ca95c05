"""Gaussians written as 3D Gaussian Splatting PLY files and read back."""
import math

import numpy as np
import pytest
import torch

from avatar.splatting.gaussians import Gaussians, quaternion_to_matrix
from avatar.splatting.ply import PROPERTIES, SH_C0, load_3dgs_ply, save_3dgs_ply
from models.rotation import matrix_to_quaternion

BYTES_PER_GAUSSIAN = 62 * 4


def random_gaussians(n: int, seed: int = 0, unit: bool = True) -> Gaussians:
    generator = torch.Generator().manual_seed(seed)
    quats = torch.randn(n, 4, generator=generator)
    if unit:
        quats = quats / quats.norm(dim=1, keepdim=True)
    else:
        quats = quats * (0.5 + torch.rand(n, 1, generator=generator))  # lengths 0.5 .. 1.5 times |randn|
    return Gaussians(
        means=torch.randn(n, 3, generator=generator),
        opacities=torch.rand(n, generator=generator) * 0.98 + 0.01,
        colors=torch.rand(n, 3, generator=generator),
        quats=quats,
        scales=torch.exp(torch.rand(n, 3, generator=generator) * 4 - 6),  # 0.0025 .. 0.14
    )


def header_of(path) -> list[str]:
    data = path.read_bytes()
    return data[:data.index(b"end_header\n") + len(b"end_header\n")].decode("ascii").splitlines()


def assert_close(actual, expected, tolerance=1e-5):
    assert torch.allclose(actual, expected, rtol=tolerance, atol=tolerance), (actual - expected).abs().max()


def test_unit_quaternions_round_trip(tmp_path):
    gaussians = random_gaussians(500)
    save_3dgs_ply(tmp_path / "a.ply", gaussians)
    loaded = load_3dgs_ply(tmp_path / "a.ply")
    assert len(loaded) == 500 and loaded.covars is None
    assert_close(loaded.means, gaussians.means)
    assert_close(loaded.opacities, gaussians.opacities)
    assert_close(loaded.colors, gaussians.colors)
    assert_close(loaded.covariances(), gaussians.covariances(), 1e-6)
    # Unit quaternions are written as they are, not re-derived: the same axes (up to the quaternion's sign).
    signs = torch.sign((loaded.quats * gaussians.quats).sum(dim=1, keepdim=True))
    assert_close(loaded.quats * signs, gaussians.quats)
    assert_close(loaded.scales, gaussians.scales)


def test_covariances_round_trip(tmp_path):
    shapes = random_gaussians(400, seed=1)
    covars = shapes.covariances()
    covars[:50] = covars[:50] * torch.tensor([1.0, -1.0, 1.0])[:, None] * torch.tensor([1.0, -1.0, 1.0])  # mirrored
    covars[50:60] = torch.eye(3) * 0.01  # equal eigenvalues: any rotation will do
    gaussians = Gaussians(shapes.means, shapes.opacities, shapes.colors, covars=covars)
    save_3dgs_ply(tmp_path / "c.ply", gaussians)
    loaded = load_3dgs_ply(tmp_path / "c.ply")
    assert_close(loaded.covariances(), covars, 1e-6)
    assert_close(loaded.means, gaussians.means)
    assert_close(loaded.opacities, gaussians.opacities)
    assert_close(loaded.colors, gaussians.colors)
    assert_close(loaded.quats.norm(dim=1), torch.ones(400), 1e-6)


def test_non_unit_quaternions_are_written_as_what_we_draw(tmp_path):
    gaussians = random_gaussians(400, seed=2, unit=False)
    save_3dgs_ply(tmp_path / "n.ply", gaussians)
    loaded = load_3dgs_ply(tmp_path / "n.ply")
    assert_close(loaded.covariances(), gaussians.covariances(), 1e-6)
    # Not what a viewer that normalises the quaternions would draw from the originals:
    unit = Gaussians(gaussians.means, gaussians.opacities, gaussians.colors,
                     gaussians.quats / gaussians.quats.norm(dim=1, keepdim=True), gaussians.scales)
    assert not torch.allclose(loaded.covariances(), unit.covariances(), atol=1e-4)


def test_degenerate_shapes_and_opacities_stay_finite(tmp_path):
    covars = torch.zeros(3, 3, 3)
    covars[1] = torch.diag(torch.tensor([1e-4, 1e-4, 0.0]))  # a flat surfel
    covars[2] = torch.diag(torch.tensor([1e-4, 1e-4, -1e-12]))  # rounding made it slightly indefinite
    gaussians = Gaussians(torch.zeros(3, 3), torch.tensor([0.0, 1.0, 0.5]), torch.full((3, 3), 0.5), covars=covars)
    save_3dgs_ply(tmp_path / "d.ply", gaussians)
    loaded = load_3dgs_ply(tmp_path / "d.ply")
    for name in ("means", "opacities", "colors", "quats", "scales"):
        assert torch.isfinite(getattr(loaded, name)).all(), name
    assert_close(loaded.covariances(), covars, 1e-6)
    assert 0 < loaded.opacities[0] < 1e-5 and 1 - 1e-5 < loaded.opacities[1] < 1


def test_header_is_the_inria_layout_and_the_size_is_exact(tmp_path):
    gaussians = random_gaussians(37)
    save_3dgs_ply(tmp_path / "h.ply", gaussians)
    header = header_of(tmp_path / "h.ply")
    expected = ["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]
    expected += [f"f_rest_{k}" for k in range(45)]
    expected += ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"]
    assert len(expected) == 62 == len(PROPERTIES)
    assert header == ["ply", "format binary_little_endian 1.0", "element vertex 37",
                      *(f"property float {name}" for name in expected), "end_header"]
    header_bytes = len("\n".join(header)) + 1
    assert (tmp_path / "h.ply").stat().st_size == header_bytes + 37 * BYTES_PER_GAUSSIAN


def test_stored_values_are_before_activation(tmp_path):
    quat = torch.tensor([[math.cos(0.3), 0.0, math.sin(0.3), 0.0]])
    gaussians = Gaussians(torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([0.25]), torch.tensor([[1.0, 0.5, 0.0]]),
                          quats=quat, scales=torch.tensor([[0.1, 0.2, 0.3]]))
    save_3dgs_ply(tmp_path / "v.ply", gaussians)
    data = (tmp_path / "v.ply").read_bytes()
    row = np.frombuffer(data[data.index(b"end_header\n") + 11:], dtype="<f4")
    values = dict(zip(PROPERTIES, row.tolist()))
    assert [values[k] for k in ("x", "y", "z", "nx", "ny", "nz")] == [1.0, 2.0, 3.0, 0.0, 0.0, 0.0]
    assert values["opacity"] == pytest.approx(math.log(0.25 / 0.75), abs=1e-6)
    assert [values[f"f_dc_{k}"] for k in range(3)] == pytest.approx([0.5 / SH_C0, 0.0, -0.5 / SH_C0], abs=1e-6)
    assert [values[f"scale_{k}"] for k in range(3)] == pytest.approx([math.log(s) for s in (0.1, 0.2, 0.3)])
    assert [values[f"rot_{k}"] for k in range(4)] == pytest.approx(quat[0].tolist(), abs=1e-7)
    assert all(values[f"f_rest_{k}"] == 0.0 for k in range(45))


def test_no_gaussians(tmp_path):
    empty = Gaussians(torch.zeros(0, 3), torch.zeros(0), torch.zeros(0, 3), covars=torch.zeros(0, 3, 3))
    save_3dgs_ply(tmp_path / "e.ply", empty)
    assert len(load_3dgs_ply(tmp_path / "e.ply")) == 0


def test_matrix_to_quaternion_inverts_the_3dgs_formula():
    quats = torch.randn(1000, 4, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    quats = quats / quats.norm(dim=1, keepdim=True)
    quats[:4] = torch.eye(4, dtype=torch.float64)  # identity and the half turns: w, x, y, z largest in turn
    back = matrix_to_quaternion(quaternion_to_matrix(quats))
    assert (back[:, 0] >= 0).all()
    assert torch.allclose(back * torch.sign((back * quats).sum(dim=1, keepdim=True)), quats, atol=1e-12)


def test_the_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "keep.ply"
    save_3dgs_ply(path, random_gaussians(5))
    before = path.read_bytes()

    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr("models.atomic_file.os.replace", fail)
    with pytest.raises(OSError):
        save_3dgs_ply(path, random_gaussians(50))
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["keep.ply"]


def ply(header_lines: list[str], body: bytes = b"") -> bytes:
    return ("\n".join(header_lines) + "\n").encode("ascii") + body


MALFORMED = {
    "not_ply": (b"hello\nworld\n", "not a PLY file"),
    "binary_junk": (bytes(range(256)) * 100, "not a PLY file"),
    "ascii": (ply(["ply", "format ascii 1.0", "element vertex 0", "property float x", "end_header"]), "ascii"),
    "no_end": (ply(["ply", "format binary_little_endian 1.0", "element vertex 1"]), "no 'end_header'"),
    "bad_count": (ply(["ply", "format binary_little_endian 1.0", "element vertex many", "end_header"]),
                  "bad PLY header line"),
    "point_cloud": (ply(["ply", "format binary_little_endian 1.0", "element vertex 1", "property float x",
                         "property float y", "property float z", "end_header"], bytes(12)),
                    "not a 3D Gaussian Splatting PLY: the vertex element has no f_dc_0, f_dc_1, f_dc_2, opacity"),
    "mesh_first": (ply(["ply", "format binary_little_endian 1.0", "element face 1",
                        "property list uchar int vertex_indices", "element vertex 1", "property float x",
                        "end_header"]), "list properties"),
    "no_vertices": (ply(["ply", "format binary_little_endian 1.0", "element face 0", "property float x",
                         "end_header"]), "no 'vertex' element"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_files_give_one_line(tmp_path, name):
    data, message = MALFORMED[name]
    (tmp_path / f"{name}.ply").write_bytes(data)
    with pytest.raises(ValueError, match=message) as error:
        load_3dgs_ply(tmp_path / f"{name}.ply")
    assert "\n" not in str(error.value) and f"{name}.ply" in str(error.value)


def test_a_truncated_file_gives_one_line(tmp_path):
    save_3dgs_ply(tmp_path / "t.ply", random_gaussians(10))
    data = (tmp_path / "t.ply").read_bytes()
    (tmp_path / "t.ply").write_bytes(data[:-100])
    with pytest.raises(ValueError, match="truncated") as error:
        load_3dgs_ply(tmp_path / "t.ply")
    assert "\n" not in str(error.value)


def test_other_tools_files_load_big_endian_doubles_and_extra_properties(tmp_path):
    # Another writer's choices: big endian, doubles, an extra property and a comment, SH degree 0 (no f_rest).
    names = ["x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2", "opacity", "scale_0", "scale_1", "scale_2",
             "rot_0", "rot_1", "rot_2", "rot_3", "filter_3D"]
    row = np.array([(0.1, 0.2, 0.3, 0.0, 0.0, 0.0, 0.0, -2.0, -3.0, -4.0, 2.0, 0.0, 0.0, 0.0, 7.0)],
                   dtype=[(n, ">f8") for n in names])
    header = ["ply", "format binary_big_endian 1.0", "comment made elsewhere", "element vertex 1",
              *(f"property double {n}" for n in names), "end_header"]
    (tmp_path / "o.ply").write_bytes(ply(header, row.tobytes()))
    loaded = load_3dgs_ply(tmp_path / "o.ply")
    assert loaded.means[0].tolist() == pytest.approx([0.1, 0.2, 0.3])
    assert loaded.opacities.tolist() == [0.5] and loaded.colors.tolist() == [[0.5, 0.5, 0.5]]
    assert loaded.quats.tolist() == [[1.0, 0.0, 0.0, 0.0]]  # normalised, as 3DGS does
    assert loaded.scales[0].tolist() == pytest.approx([math.exp(-2), math.exp(-3), math.exp(-4)])
