"""Gaussians as the PLY files of 3D Gaussian Splatting (Kerbl et al. 2023), which its viewers and tools read.

The layout is the one INRIA's `save_ply` writes: binary little endian, one `vertex` element of 62 float32
properties each, in this order: x y z, nx ny nz (zeros), f_dc_0..2, f_rest_0..44 (spherical harmonics of degree
3: channel c's coefficient 0 is f_dc_c, its coefficient k + 1 is f_rest_{15 c + k}), opacity, scale_0..2, rot_0..3.
The values are stored before activation, as 3DGS trains them: opacity as a logit, scales as logs, a fixed colour as
the DC coefficient ((rgb - 0.5) / C0) with the rest zero, and rotation as a quaternion w, x, y, z (written unit
length).

Gaussians given by covariances, or by quaternions that are not unit length (which 3DGS viewers would normalise,
drawing something else than we draw), are written through their covariances: each is eigen-decomposed into
R diag(s^2) R^T with R a proper rotation, so the file draws what `Gaussians.covariances()` gives.
"""
from __future__ import annotations

from os import PathLike
from pathlib import Path

import numpy as np
import torch

from avatar.splatting.gaussians import (SCALE_FLOOR, SH_C0, SH_COEFFICIENTS, Gaussians, decompose_covariances,
                                        quaternion_to_matrix)
from models.atomic_file import replaced_atomically

REST_COEFFICIENTS = 3 * (SH_COEFFICIENTS - 1)  # 15 higher-order coefficients of degree 3, times 3 colour channels
PROPERTIES = (
    "x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2",
    *(f"f_rest_{k}" for k in range(REST_COEFFICIENTS)),
    "opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3",
)
REQUIRED = ("x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2", "opacity", "scale_0", "scale_1", "scale_2",
            "rot_0", "rot_1", "rot_2", "rot_3")
OPACITY_EPS = 1e-6  # opacities are clamped into [eps, 1 - eps] before the logit
UNIT_TOLERANCE = 1e-5  # quaternions with |q|^2 this close to 1 are written as they are (normalised)

_PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1", "short": "i2", "int16": "i2",
    "ushort": "u2", "uint16": "u2", "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}
_MAX_HEADER_LINES = 10_000
_MAX_LINE = 4096  # bytes; a longer header line is not PLY (and a binary file is not read whole as one line)


def save_3dgs_ply(path: str | PathLike, gaussians: Gaussians) -> None:
    """Write `gaussians` as a 3DGS PLY (see the module's docstring), atomically: a temporary file beside `path`
    is renamed to it only once complete."""
    means = gaussians.means.detach().cpu().double()
    opacities = gaussians.opacities.detach().cpu().double()
    quats, scales = _rotations_and_scales(gaussians)

    vertices = np.zeros(len(gaussians), dtype=[(name, "<f4") for name in PROPERTIES])
    for axis, name in enumerate("xyz"):
        vertices[name] = means[:, axis].numpy()
    if gaussians.sh is None:
        dc = (gaussians.colors.detach().cpu().double() - 0.5) / SH_C0
    else:
        sh = gaussians.sh.detach().cpu().double()
        dc = sh[:, 0]
        for channel in range(3):
            for k in range(SH_COEFFICIENTS - 1):
                vertices[f"f_rest_{(SH_COEFFICIENTS - 1) * channel + k}"] = sh[:, k + 1, channel].numpy()
    alpha = opacities.clamp(OPACITY_EPS, 1 - OPACITY_EPS)
    logit = torch.log(alpha) - torch.log1p(-alpha)
    log_scales = torch.log(scales)
    for k in range(3):
        vertices[f"f_dc_{k}"] = dc[:, k].numpy()
        vertices[f"scale_{k}"] = log_scales[:, k].numpy()
    vertices["opacity"] = logit.numpy()
    for k in range(4):
        vertices[f"rot_{k}"] = quats[:, k].numpy()

    header = "".join(["ply\n", "format binary_little_endian 1.0\n", f"element vertex {len(vertices)}\n",
                      *(f"property float {name}\n" for name in PROPERTIES), "end_header\n"])
    with replaced_atomically(path) as temporary, open(temporary, "wb") as file:
        file.write(header.encode("ascii"))
        file.write(vertices.tobytes())


def load_3dgs_ply(path: str | PathLike) -> Gaussians:
    """Read a 3DGS PLY into Gaussians with activated attributes, as 3DGS activates them: sigmoid opacities,
    exp scales, normalised quaternions (w first), and the spherical harmonics (`sh`) where any higher coefficient
    is not zero; else fixed colours from the DC coefficient (0.5 + C0 f_dc, clamped at 0 like 3DGS's
    rasterizer).

    A file that is not a binary PLY with a `vertex` element holding those properties raises a one-line
    ValueError naming the file."""
    return gaussians_of(read_vertices(path))


def vertex_properties(path: str | PathLike) -> list[str]:
    """The names of a PLY's vertex properties, from its header alone."""
    path = Path(path)
    with open(path, "rb") as file:
        elements, _ = _read_header(path, file)
    return [prop for name, _, properties in elements if name == "vertex" for prop, _ in properties]


def read_vertices(path: str | PathLike) -> np.ndarray:
    """The `vertex` element of a 3DGS PLY, a structured array of its properties (3DGS's, and any others, such as
    GaussianAvatars' `binding_0`); a one-line ValueError for a file that is not one."""
    path = Path(path)
    with open(path, "rb") as file:
        elements, byte_order = _read_header(path, file)
        vertex = None
        for name, count, properties in elements:
            if any(kind is None for _, kind in properties):  # variable size: cannot be read past
                raise ValueError(f"{path}: element '{name}' has list properties; a 3DGS PLY's vertices have none "
                                 "and come first")
            dtype = np.dtype([(prop, byte_order + kind) for prop, kind in properties])
            data = file.read(count * dtype.itemsize)
            if len(data) != count * dtype.itemsize:
                raise ValueError(f"{path}: the file ends inside element '{name}' ({len(data)} of "
                                 f"{count * dtype.itemsize} bytes); it is truncated")
            if name == "vertex":
                vertex = np.frombuffer(data, dtype=dtype, count=count)
                break
    if vertex is None:
        raise ValueError(f"{path}: no 'vertex' element; not a 3D Gaussian Splatting PLY")
    missing = [name for name in REQUIRED if name not in vertex.dtype.names]
    if missing:
        raise ValueError(f"{path}: not a 3D Gaussian Splatting PLY: the vertex element has no "
                         f"{', '.join(missing)}")
    return vertex


def gaussians_of(vertex: np.ndarray) -> Gaussians:
    """Gaussians from a 3DGS PLY's vertex table (see load_3dgs_ply)."""
    def columns(*names: str) -> torch.Tensor:
        return torch.from_numpy(np.stack([vertex[name].astype(np.float32) for name in names], axis=-1))

    quats = columns("rot_0", "rot_1", "rot_2", "rot_3")
    dc = columns("f_dc_0", "f_dc_1", "f_dc_2")
    rest_names = [f"f_rest_{k}" for k in range(REST_COEFFICIENTS)]
    rest = columns(*rest_names) if all(name in vertex.dtype.names for name in rest_names) else None
    sh = None
    if rest is not None and bool(rest.any()):  # channel-major in the file: (N, 3, 15) -> (N, 15, 3)
        sh = torch.cat([dc[:, None, :], rest.reshape(-1, 3, SH_COEFFICIENTS - 1).transpose(1, 2)], dim=1)
    return Gaussians(
        means=columns("x", "y", "z"),
        opacities=torch.sigmoid(columns("opacity")[:, 0]),
        colors=(dc * SH_C0 + 0.5).clamp(min=0.0) if sh is None else None,
        quats=quats / quats.norm(dim=1, keepdim=True).clamp(min=1e-12),
        scales=torch.exp(columns("scale_0", "scale_1", "scale_2")),
        sh=sh,
    )


def _rotations_and_scales(gaussians: Gaussians) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 4) unit quaternions w, x, y, z and (N, 3) positive scales (float64) drawing `gaussians`' shapes."""
    if gaussians.covars is None:
        quats = gaussians.quats.detach().cpu().double()
        scales = gaussians.scales.detach().cpu().double()
        if bool(((quats * quats).sum(dim=1) - 1).abs().le(UNIT_TOLERANCE).all()):
            return quats / quats.norm(dim=1, keepdim=True), scales.abs().clamp(min=SCALE_FLOOR)
        rs = quaternion_to_matrix(quats) * scales[:, None, :]  # Gaussians.covariances(), in float64
        covariances = rs @ rs.transpose(1, 2)
    else:
        covariances = gaussians.covars.detach().cpu().double()
    return decompose_covariances(covariances)


def _read_header(path: Path, file) -> tuple[list[tuple[str, int, list[tuple[str, str | None]]]], str]:
    """The elements (name, count, [(property, numpy type or None for a list)]) and numpy byte order."""
    if file.readline(_MAX_LINE).rstrip(b"\r\n") != b"ply":
        raise ValueError(f"{path}: not a PLY file (it does not start with 'ply')")
    elements: list[tuple[str, int, list[tuple[str, str | None]]]] = []
    byte_order = None
    for _ in range(_MAX_HEADER_LINES):
        raw = file.readline(_MAX_LINE)
        if not raw:
            raise ValueError(f"{path}: the PLY header has no 'end_header'")
        try:
            words = raw.decode("ascii").split()
        except UnicodeDecodeError:
            raise ValueError(f"{path}: the PLY header holds bytes that are not text") from None
        if not words or words[0] in ("comment", "obj_info"):
            continue
        if words[0] == "end_header":
            break
        if words[0] == "format":
            if len(words) != 3 or words[1] not in ("binary_little_endian", "binary_big_endian"):
                raise ValueError(f"{path}: PLY format '{' '.join(words[1:])}' is not read here; 3DGS files are "
                                 "binary_little_endian")
            byte_order = "<" if words[1] == "binary_little_endian" else ">"
        elif words[0] == "element":
            if len(words) != 3 or not words[2].isdecimal():
                raise ValueError(f"{path}: bad PLY header line '{' '.join(words)}'")
            elements.append((words[1], int(words[2]), []))
        elif words[0] == "property":
            if not elements:
                raise ValueError(f"{path}: a PLY property comes before any element")
            if len(words) == 3 and words[1] in _PLY_TYPES:
                elements[-1][2].append((words[2], _PLY_TYPES[words[1]]))
            elif len(words) == 5 and words[1] == "list":
                elements[-1][2].append((words[4], None))
            else:
                raise ValueError(f"{path}: bad PLY header line '{' '.join(words)}'")
        else:
            raise ValueError(f"{path}: bad PLY header line '{' '.join(words)}'")
    else:
        raise ValueError(f"{path}: the PLY header has no 'end_header'")
    if byte_order is None:
        raise ValueError(f"{path}: the PLY header has no 'format' line")
    for name, _, properties in elements:
        names = [prop for prop, _ in properties]
        if len(set(names)) != len(names):
            raise ValueError(f"{path}: element '{name}' names a property twice")
    return elements, byte_order
