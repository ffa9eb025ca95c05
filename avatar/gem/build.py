"""Build a GEM from any avatar livehead can evaluate: sample its FLAME range, PCA its Gaussians (spec §3).

    build = build_gem(load_avatar(), {"geometry": 32, "opacity": 0, "scales": 16, "rotation": 16}, samples=128)
    build.avatar  # a GemAvatar, driven by FLAME parameters through a mapper fitted on the same samples

The original distils its CNN teacher the same way (§2.6, §3): activated attributes per frame, one PCA per attribute
(and part), colours of one frame kept static. Here the teacher is whatever `avatar.gaussians(params)` is.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import torch
from numba import njit
from scipy.spatial import cKDTree
from torch import Tensor
from tqdm import tqdm

from avatar import Avatar
from avatar.gem.avatar import GemAvatar
from avatar.gem.mapper import EigenMapper
from avatar.gem.model import ATTRIBUTES, CHANNELS, EigenBasis, GemModel
from avatar.splatting.gaussians import SCALE_FLOOR, decompose_covariances, quaternion_to_matrix
from models.head_model import HeadModel, pose_head
from models.params import JAW, JOINT_NAMES, LEFT_EYE, RIGHT_EYE, FlameSequence
from models.rotation import matrix_to_quaternion

ORIGINAL_COUNTS = {"geometry": 50, "opacity": 50, "scales": 40, "rotation": 40}  # pca_gauss.py's (spec §3.3)
# Ranges sampled, in radians: the window's jaw and eye sliders' (viewer/controls.py).
JAW_OPEN = (0.0, math.radians(25))
JAW_SIDE = math.radians(10)
EYES_TURN, EYES_UP = math.radians(25), math.radians(20)
EYES_APART = math.radians(3)  # each eye's own deviation from the shared gaze (vergence, tracking noise)
REGION_OF_JOINT = ("head", "head", "jaw", "eyes", "eyes")  # FLAME's joints: global, neck, jaw, left/right eye


@dataclass
class GemBuild:
    avatar: GemAvatar  # the GEM, its mapper fitted on `samples`
    samples: FlameSequence  # (S) the FLAME parameters drawn; sample 0 is the neutral face
    coefficients: Tensor  # (S, P, K) each sample's Gaussians projected onto the GEM, sigma units
    order: Tensor  # (N,) GEM Gaussian i is the avatar's Gaussian order[i] (parts are contiguous)
    explained: dict[str, float]  # attribute -> fraction of its sampled variance the kept components explain


def build_gem(avatar: Avatar, counts: dict[str, int] = ORIGINAL_COUNTS, samples: int = 256, regions: bool = False,
              seed: int = 0, progress: bool = True) -> GemBuild:
    """A GEM of `avatar` with `counts[attribute]` components per part (0 for an attribute that does not vary),
    from `samples` FLAME parameter sets; `regions`: one part per skinning region (`joint_regions`), else one
    part "full". Deterministic for a given seed."""
    if set(counts) != set(ATTRIBUTES) or min(counts.values()) < 0:
        raise ValueError(f"counts must give a number >= 0 for each of {', '.join(ATTRIBUTES)}; got {counts}")
    if samples <= max(counts.values()):
        raise ValueError(f"{max(counts.values())} components need more than that many samples; got {samples}")
    with torch.no_grad():
        params = sample_params(avatar, samples, seed)
        values, colors = sampled_attributes(avatar, params, progress)
        head = avatar.head
        rest_vertices = pose_head(head, torch.zeros(1, head.num_expressions), torch.zeros(1, head.num_joints, 3))
        tex_map = nearest_vertices(rest_vertices.vertices[0], values["geometry"][0])
        parts, part_of = joint_regions(head, tex_map) if regions else (("full",), torch.zeros_like(tex_map))
        order = torch.argsort(part_of, stable=True)  # parts contiguous, in `parts` order
        if regions:
            values = {attribute: value[:, order] for attribute, value in values.items()}
        ends = torch.bincount(part_of, minlength=len(parts)).cumsum(0).tolist()
        bounds = list(zip([0] + ends[:-1], ends))
        bases, coefficients, explained = {}, [], {}
        for attribute in tqdm(ATTRIBUTES, desc="eigen bases", disable=not progress, leave=False):
            fitted = [eigen_basis(values[attribute][:, start:end].flatten(1), counts[attribute])
                      for start, end in bounds]
            bases[attribute] = tuple(basis for basis, _, _ in fitted)
            coefficients.append(torch.stack([c for _, c, _ in fitted], dim=1))  # (S, P, K_attribute)
            total = sum(variance for _, _, variance in fitted)
            kept = sum(float(basis.sigma.square().sum()) for basis, _, _ in fitted)
            explained[attribute] = kept / total if total > 0 else 1.0
        model = GemModel(parts, bases, colors[order], tex_map[order])
        coefficients = torch.cat(coefficients, dim=2)  # (S, P, K): per part, attributes in ATTRIBUTES order
        mapper = EigenMapper.fit(params, coefficients)
        joints = head.joint_regressor[:2] @ head.v_template  # where FLAME's global and neck rotations turn
        gem = GemAvatar(model=model, head=head, default_camera=avatar.default_camera, mapper=mapper,
                        root_joint=joints[0].clone(), timeline=avatar.timeline,
                        expression_range=avatar.expression_range, neck_joint=joints[1].clone())
    return GemBuild(gem, params, coefficients, order, explained)


def sample_params(avatar: Avatar, count: int, seed: int = 0) -> FlameSequence:
    """`count` FLAME parameter sets over what drives the avatar: sample 0 the neutral face, then each expression
    coefficient uniform in the avatar's expression range times a per-sample intensity in [0, 1] (faint to strong
    faces), the jaw opening and turning sideways, and a gaze shared by both eyes plus a little of each eye's own.

    Global rotation, neck and translation stay zero: a GEM poses its Gaussians rigidly itself (root transform
    after reconstruction, §4.4), and the original removes the neck too (§3.1), so its bases hold the head in the
    head model's root-free canonical space; rigid motion in the samples would spend components on what the root
    transform does exactly.
    """
    generator = torch.Generator().manual_seed(seed)

    def uniform(low, high, *shape):
        return low + (high - low) * torch.rand(*shape, generator=generator)

    num_expressions = avatar.head.num_expressions
    low, high = avatar.expression_range
    expression = uniform(low, high, count, num_expressions) * torch.rand(count, 1, generator=generator)
    pose = torch.zeros(count, len(JOINT_NAMES), 3)
    pose[:, JAW, 0] = uniform(*JAW_OPEN, count)
    pose[:, JAW, 1] = uniform(-JAW_SIDE, JAW_SIDE, count)
    gaze = torch.stack([uniform(-EYES_UP, EYES_UP, count), uniform(-EYES_TURN, EYES_TURN, count)], dim=1)
    for eye in (LEFT_EYE, RIGHT_EYE):
        pose[:, eye, :2] = gaze + uniform(-EYES_APART, EYES_APART, count, 2)
    expression[0], pose[0] = 0, 0
    return FlameSequence(expression, pose, torch.zeros(count, 3), tuple(f"sample {i}" for i in range(count)))


def sampled_attributes(avatar: Avatar, params: FlameSequence, progress: bool = True
                       ) -> tuple[dict[str, Tensor], Tensor]:
    """Every sample's Gaussians as activated attributes, attribute -> (S, N, C), and the first sample's colours
    (N, 3): GEM keeps one frame's colours (§3.1).

    Rotations and scales come from each covariance's eigen-axes (what every avatar kind can give, whatever its
    quaternions are: MonoGaussianAvatar's are not unit), put in the same order and with the same signs as the
    first sample's axes of that Gaussian, and the quaternion on the same hemisphere as the first's: an
    eigen-decomposition is free to permute and flip axes, and a PCA over quaternions that jump between
    equivalent forms would spend its components on the jumps.
    """
    rest = avatar.gaussians(params.frame(0))
    rest_quats, _ = decompose_covariances(rest.covariances())
    n, count = len(rest), len(params)
    values = {attribute: torch.empty(count, n, CHANNELS[attribute]) for attribute in ATTRIBUTES}
    for s in tqdm(range(count), desc="sampling the avatar", unit="sample", disable=not progress, leave=False):
        gaussians = rest if s == 0 else avatar.gaussians(params.frame(s))
        values["rotation"][s], values["scales"][s] = aligned_decomposition(gaussians.covariances(), rest_quats)
        values["geometry"][s] = gaussians.means
        values["opacity"][s, :, 0] = gaussians.opacities
    return values, (rest.colors if rest.sh is None else rest.sh).clone()


def aligned_decomposition(covariances: Tensor, rest_quats: Tensor) -> tuple[Tensor, Tensor]:
    """(N, 3, 3) covariances -> unit quaternions (N, 4) and scales (N, 3), each Gaussian's eigen-axes ordered
    and signed to be nearest the rotation of its `rest_quats` (N, 4) R0: of the 24 rotations that are eigen-frames
    of a covariance (with distinct eigenvalues), the one with the largest trace(R0^T axes); the quaternion on
    the rest quaternion's hemisphere.

    Fast path (numba: Jacobi sweeps started from the rest axes); `aligned_decomposition_reference` is the
    direct form.
    """
    n = covariances.shape[0]
    quats, scales = torch.empty(n, 4), torch.empty(n, 3)
    _aligned_eigen(covariances.detach().cpu().numpy(), rest_quats.detach().cpu().numpy(), SCALE_FLOOR,
                   quats.numpy(), scales.numpy())
    return quats, scales


def aligned_decomposition_reference(covariances: Tensor, rest_quats: Tensor) -> tuple[Tensor, Tensor]:
    """`aligned_decomposition` by torch's eigen-solver and a search over the 24 proper signed permutations."""
    quats, scales = decompose_covariances(covariances)
    axes = quaternion_to_matrix(quats)
    overlap = quaternion_to_matrix(rest_quats).transpose(1, 2) @ axes  # (N, 3, 3)
    best = SIGNED_PERMUTATIONS[torch.einsum("nij,gji->ng", overlap, SIGNED_PERMUTATIONS).argmax(1)]  # (N, 3, 3)
    quats = matrix_to_quaternion(axes @ best)
    quats = torch.where((quats * rest_quats).sum(1, keepdim=True) < 0, -quats, quats)
    return quats, (scales[:, None, :] @ best.abs())[:, 0]


SIGNED_PERMUTATIONS = torch.stack([  # the 24 signed permutation matrices that are rotations
    matrix for matrix in (torch.eye(3)[list(order)] * torch.tensor(signs)
                          for order in itertools.permutations(range(3))
                          for signs in itertools.product((1.0, -1.0), repeat=3))
    if torch.linalg.det(matrix) > 0])

_PERMUTATIONS = np.array(list(itertools.permutations(range(3))), dtype=np.int64)
_PERMUTATION_SIGNS = np.array([np.linalg.det(np.eye(3)[list(p)]) for p in _PERMUTATIONS])


@njit(cache=True, nogil=True)
def _aligned_eigen(covariances, rest_quats, floor, quats_out, scales_out):
    """Per Gaussian: A = R0^T C R0 diagonalised by cyclic Jacobi rotations accumulated in Q (A is nearly
    diagonal already where the Gaussian turned little, so this converges in a sweep or two), then the signed
    permutation G of Q's columns nearest the identity: the eigen-frame W = R0 Q G nearest R0."""
    a, q, rest, w = np.empty((3, 3)), np.empty((3, 3)), np.empty((3, 3)), np.empty((3, 3))
    signs, best_signs = np.empty(3), np.empty(3)
    pairs = ((0, 1), (0, 2), (1, 2))
    for i in range(covariances.shape[0]):
        _rotation(rest_quats[i], rest)
        for k in range(3):  # w = C R0
            for c in range(3):
                w[k, c] = covariances[i, k, 0] * rest[0, c] + covariances[i, k, 1] * rest[1, c] \
                    + covariances[i, k, 2] * rest[2, c]
        for r in range(3):  # A = R0^T w, symmetric up to round-off (kept exactly so)
            for c in range(r, 3):
                a[r, c] = a[c, r] = rest[0, r] * w[0, c] + rest[1, r] * w[1, c] + rest[2, r] * w[2, c]
        q[:] = 0.0
        q[0, 0] = q[1, 1] = q[2, 2] = 1.0
        for _ in range(16):
            off = a[0, 1] ** 2 + a[0, 2] ** 2 + a[1, 2] ** 2
            if off == 0.0 or off <= 1e-30 * (a[0, 0] ** 2 + a[1, 1] ** 2 + a[2, 2] ** 2):
                break
            for u, v in pairs:
                if a[u, v] == 0.0:
                    continue
                theta = (a[v, v] - a[u, u]) / (2.0 * a[u, v])
                t = (1.0 if theta >= 0 else -1.0) / (abs(theta) + np.sqrt(theta * theta + 1.0))
                cos = 1.0 / np.sqrt(t * t + 1.0)
                sin = t * cos
                for k in range(3):  # A <- A J and Q <- Q J: columns u, v
                    ku, kv = a[k, u], a[k, v]
                    a[k, u], a[k, v] = cos * ku - sin * kv, sin * ku + cos * kv
                    ku, kv = q[k, u], q[k, v]
                    q[k, u], q[k, v] = cos * ku - sin * kv, sin * ku + cos * kv
                for k in range(3):  # A <- J^T A: rows u, v
                    uk, vk = a[u, k], a[v, k]
                    a[u, k], a[v, k] = cos * uk - sin * vk, sin * uk + cos * vk
        # Slot j takes Q's column perm[j], signed to agree with axis j; where that makes a reflection, the slot
        # that agrees least is flipped instead.
        best_score, best = -1.0, 0
        for p in range(6):
            score, weakest, parity = 0.0, 0, _PERMUTATION_SIGNS[p]
            for j in range(3):
                value = q[j, _PERMUTATIONS[p, j]]
                signs[j] = 1.0 if value >= 0 else -1.0
                parity *= signs[j]
                score += abs(value)
                if abs(value) < abs(q[weakest, _PERMUTATIONS[p, weakest]]):
                    weakest = j
            if parity < 0:
                score -= 2 * abs(q[weakest, _PERMUTATIONS[p, weakest]])
                signs[weakest] = -signs[weakest]
            if score > best_score:
                best_score, best = score, p
                best_signs[:] = signs
        for j in range(3):
            column = _PERMUTATIONS[best, j]
            scales_out[i, j] = np.sqrt(max(a[column, column], floor * floor))
            for r in range(3):
                w[r, j] = best_signs[j] * (rest[r, 0] * q[0, column] + rest[r, 1] * q[1, column]
                                           + rest[r, 2] * q[2, column])
        _quaternion(w, quats_out[i])
        if (quats_out[i, 0] * rest_quats[i, 0] + quats_out[i, 1] * rest_quats[i, 1]
                + quats_out[i, 2] * rest_quats[i, 2] + quats_out[i, 3] * rest_quats[i, 3]) < 0:
            quats_out[i] *= -1.0


@njit(cache=True)
def _rotation(quat, out):
    """Unit quaternion (w, x, y, z) -> rotation matrix, written to `out` (3, 3)."""
    w, x, y, z = quat[0], quat[1], quat[2], quat[3]
    out[0, 0], out[0, 1], out[0, 2] = 1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)
    out[1, 0], out[1, 1], out[1, 2] = 2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)
    out[2, 0], out[2, 1], out[2, 2] = 2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)


@njit(cache=True)
def _quaternion(m, out):
    """Rotation matrix (3, 3) -> unit quaternion (w, x, y, z) in `out`, computed from its largest component
    (Shepperd's method), as models.rotation.matrix_to_quaternion."""
    squares4 = (1 + m[0, 0] + m[1, 1] + m[2, 2], 1 + m[0, 0] - m[1, 1] - m[2, 2],
                1 - m[0, 0] + m[1, 1] - m[2, 2], 1 - m[0, 0] - m[1, 1] + m[2, 2])  # 4 w^2, 4 x^2, 4 y^2, 4 z^2
    largest = 0
    for k in range(1, 4):
        if squares4[k] > squares4[largest]:
            largest = k
    if largest == 0:
        out[0], out[1], out[2], out[3] = squares4[0], m[2, 1] - m[1, 2], m[0, 2] - m[2, 0], m[1, 0] - m[0, 1]
    elif largest == 1:
        out[0], out[1], out[2], out[3] = m[2, 1] - m[1, 2], squares4[1], m[1, 0] + m[0, 1], m[0, 2] + m[2, 0]
    elif largest == 2:
        out[0], out[1], out[2], out[3] = m[0, 2] - m[2, 0], m[1, 0] + m[0, 1], squares4[2], m[2, 1] + m[1, 2]
    else:
        out[0], out[1], out[2], out[3] = m[1, 0] - m[0, 1], m[0, 2] + m[2, 0], m[2, 1] + m[1, 2], squares4[3]
    norm = np.sqrt(out[0] ** 2 + out[1] ** 2 + out[2] ** 2 + out[3] ** 2)
    for k in range(4):
        out[k] /= norm


def nearest_vertices(vertices: Tensor, points: Tensor) -> Tensor:
    """(N,) int64: the vertex of (V, 3) `vertices` nearest each of (N, 3) `points` (GEM's tex_map)."""
    _, index = cKDTree(vertices.numpy()).query(points.numpy())
    return torch.from_numpy(index.astype(np.int64))


def joint_regions(head: HeadModel, tex_map: Tensor) -> tuple[tuple[str, ...], Tensor]:
    """Parts for a GEM with regions: each Gaussian joins the region of the joint that weighs most in its nearest
    vertex's skinning, FLAME's root and neck making one "head" (what turns with the head), the jaw, the two eyes
    one "eyes"; a head model's further joints get one each. The original uses FLAME's ten region masks, which
    are licensed with FLAME and not ours to ship; skinning regions exist for any head model and separate what
    moves differently. Returns the region names (non-empty ones, in joint order) and each Gaussian's region."""
    dominant = head.lbs_weights[tex_map].argmax(1)
    names = [REGION_OF_JOINT[j] if j < len(REGION_OF_JOINT) else f"joint {j}" for j in range(head.num_joints)]
    present = set(dominant.tolist())
    parts = tuple(dict.fromkeys(names[j] for j in range(head.num_joints) if j in present))
    part_of_joint = torch.tensor([parts.index(name) if name in parts else -1 for name in names])
    return parts, part_of_joint[dominant]


def eigen_basis(values: Tensor, count: int) -> tuple[EigenBasis, Tensor, float]:
    """PCA of (S, M) samples keeping `count` components, as sklearn's PCA (centred, orthonormal rows, variance
    with ddof 1); the samples' coefficients (S, count) in sigma units; the samples' total variance.

    Through the S x S Gram matrix in float64 (S is much smaller than M: ~10x faster than an SVD of the data).
    Components the samples do not span (no variance left) are zero rows with sigma 0: they change nothing.
    """
    samples = values.shape[0]
    values = values.double()  # a float64 mean is exact for an attribute that does not vary: its variance is 0
    mean = values.mean(0)
    centred = values - mean
    eigenvalues, vectors = torch.linalg.eigh(centred @ centred.T)  # ascending
    total = float(eigenvalues.clamp(min=0).sum())
    eigenvalues, vectors = eigenvalues.flip(0)[:count], vectors.flip(1)[:, :count]
    significant = eigenvalues > 1e-12 * max(total, 1e-300)
    singular = eigenvalues.clamp(min=0).sqrt()
    components = (vectors.T @ centred) / torch.where(significant, singular, 1.0)[:, None]
    components[~significant] = 0
    # A deterministic sign per component: its largest entry positive.
    largest = components.gather(1, components.abs().argmax(1, keepdim=True))
    signs = torch.where(largest < 0, -1.0, 1.0).to(components)
    sigma = torch.where(significant, singular / math.sqrt(samples - 1), 0.0)
    coefficients = torch.where(significant, vectors * math.sqrt(samples - 1), 0.0) * signs.T  # (S, count)
    return (EigenBasis((components * signs).float(), sigma.float(), mean.float()), coefficients.float(),
            total / (samples - 1))


def project(model: GemModel, attributes: dict[str, Tensor]) -> Tensor:
    """(P, K) coefficients (sigma units) of the Gaussians `attributes` (attribute -> (N, C), GEM order and
    activated as the GEM holds them): c = (x - mean) B^T / sigma per part and attribute (spec §4.7); 0 along
    components of sigma 0."""
    rows = []
    for p, size in enumerate(model.part_sizes):
        start = sum(model.part_sizes[:p])
        row = []
        for attribute in ATTRIBUTES:
            basis = model.bases[attribute][p]
            x = attributes[attribute][start:start + size].reshape(-1)
            c = basis.components @ (x - basis.mean)
            row.append(torch.where(basis.sigma > 0, c / basis.sigma.clamp(min=1e-30), 0.0))
        rows.append(torch.cat(row))
    return torch.stack(rows)
