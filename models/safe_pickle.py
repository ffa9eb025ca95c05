"""Loading model pickles (FLAME `.pkl`, GEM `.ptk`) without letting them run code.

A pickle can call any importable function while it loads, so a downloaded model file could run code. This
unpickler resolves only the classes that such files contain; everything else is refused before it is called.
chumpy (which FLAME 2020 pickles reference) is never imported: its arrays become `ChumpyStub`s.
"""
from __future__ import annotations

import builtins
import codecs
import collections
import copyreg
import pickle
import zipfile
from collections.abc import Mapping
from os import PathLike
from typing import Any, BinaryIO

import numpy as np
import scipy.sparse
import torch
from torch import Tensor


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle refers to something outside the allowlist."""


class ChumpyStub:
    """Stands in for a pickled chumpy object: keeps the pickled state; its value is the state's `x` array."""

    state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state

    @property
    def x(self) -> np.ndarray:
        if not isinstance(self.state, dict) or "x" not in self.state:
            # Derived chumpy expressions (sums, products...) keep operands, not a value.
            raise ValueError("a chumpy object without an 'x' array cannot be read without chumpy")
        return np.asarray(self.state["x"])

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        return np.asarray(self.x, dtype=dtype)


NUMPY_CORE = ("numpy.core", "numpy._core")  # numpy 1 and numpy 2 write different module paths

# (module, name) as written in the pickle -> what to hand back. The deprecated `scipy.sparse.csc`/`.csr` paths of
# old files are mapped to `scipy.sparse` so they stay loadable.
ALLOWED: dict[tuple[str, str], Any] = {
    **{(f"{core}.multiarray", "_reconstruct"): np._core.multiarray._reconstruct for core in NUMPY_CORE},
    **{(f"{core}.multiarray", "scalar"): np._core.multiarray.scalar for core in NUMPY_CORE},
    # Pickles written with protocol 5 rebuild arrays from a buffer.
    **{(f"{core}.numeric", "_frombuffer"): np._core.numeric._frombuffer for core in NUMPY_CORE},
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    **{(module, "csc_matrix"): scipy.sparse.csc_matrix
       for module in ("scipy.sparse", "scipy.sparse.csc", "scipy.sparse._csc")},
    **{(module, "csr_matrix"): scipy.sparse.csr_matrix
       for module in ("scipy.sparse", "scipy.sparse.csr", "scipy.sparse._csr")},
    # Python 2 pickles name the builtins module `__builtin__` and `copy_reg`; protocol 2 writes bytes via _codecs.
    **{(module, name): getattr(builtins, name)
       for module in ("__builtin__", "builtins") for name in ("set", "frozenset", "object")},
    ("_codecs", "encode"): codecs.encode,
    **{(module, "_reconstructor"): copyreg._reconstructor for module in ("copy_reg", "copyreg")},
}


class SafeUnpickler(pickle.Unpickler):
    """An Unpickler that resolves only ALLOWED (plus `extra_allowed`) names and any `chumpy.*` class."""

    def __init__(self, file: BinaryIO, source: str, extra_allowed: Mapping[tuple[str, str], Any] = {}):
        # FLAME pickles come from Python 2: their str objects (numpy data among them) are raw bytes.
        super().__init__(file, encoding="latin1")
        self.source = source
        self.allowed = {**ALLOWED, **extra_allowed}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self.allowed:
            return self.allowed[(module, name)]
        if module == "chumpy" or module.startswith("chumpy."):
            return ChumpyStub
        raise UnsafePickleError(
            f"{self.source}: refused to load {module}.{name}: the file is refused because loading it could run "
            "code (model pickles may only contain numpy arrays, scipy sparse matrices and chumpy arrays)")


def safe_load(path_or_file: str | PathLike | BinaryIO, extra_allowed: Mapping[tuple[str, str], Any] = {}) -> Any:
    """Unpickle a file that may only contain ALLOWED names, `chumpy.*` classes and `extra_allowed`
    ((module, name) -> object, for formats that need more, such as torch tensors)."""
    if hasattr(path_or_file, "read"):
        source = str(getattr(path_or_file, "name", "<stream>"))
        return SafeUnpickler(path_or_file, source, extra_allowed).load()
    with open(path_or_file, "rb") as file:
        return SafeUnpickler(file, str(path_or_file), extra_allowed).load()


# torch.save pickles: tensors are rebuilt from storages kept beside the pickle in the zip (see safe_torch_load).
TORCH_STORAGE_DTYPES = {
    "FloatStorage": torch.float32, "DoubleStorage": torch.float64, "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8, "BoolStorage": torch.bool,
}


def _rebuild_tensor(storage: Tensor, offset: int, size, stride, requires_grad, backward_hooks, metadata=None) -> Tensor:
    """Stands in for torch._utils._rebuild_tensor_v2: a view of the (flat, CPU) storage; torch checks the bounds."""
    return storage.as_strided(tuple(size), tuple(stride), offset)


TORCH_ALLOWED: dict[tuple[str, str], Any] = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("collections", "OrderedDict"): collections.OrderedDict,  # a tensor's (empty) backward hooks
    **{("torch", name): dtype for name, dtype in TORCH_STORAGE_DTYPES.items()},
}


def safe_torch_load(path: str | PathLike) -> Any:
    """Read a `torch.save` file (zip format) through the restricted unpickler, every tensor on the CPU whatever
    device it was saved from: for files that mix tensors with numpy arrays (GEM's `.ptk`), which
    torch.load(weights_only=True) refuses. Raises pickle.UnpicklingError (or zipfile.BadZipFile) on a bad file."""
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pickles = [name for name in names if name.count("/") == 1 and name.endswith("/data.pkl")]
        if len(pickles) != 1:
            raise pickle.UnpicklingError(f"{path}: not a torch.save file (no data.pkl in the archive)")
        prefix = pickles[0][: -len("data.pkl")]  # the archive's folder, named after the file when it was saved
        if f"{prefix}byteorder" in names and archive.read(f"{prefix}byteorder") != b"little":
            raise pickle.UnpicklingError(f"{path}: saved big-endian, which is not supported")
        storages: dict[str, Tensor] = {}

        def persistent_load(saved_id) -> Tensor:
            kind, dtype, key, _location, numel = saved_id  # _location (e.g. "cuda:0") is ignored: CPU
            if kind != "storage" or not isinstance(dtype, torch.dtype):
                raise UnsafePickleError(f"{path}: refused a persistent object {kind!r} that is not a tensor storage")
            if key not in storages:
                data = bytearray(archive.read(f"{prefix}data/{key}"))
                storage = torch.frombuffer(data, dtype=dtype) if data else torch.empty(0, dtype=dtype)
                if storage.numel() != numel:
                    raise pickle.UnpicklingError(f"{path}: storage {key} holds {storage.numel()} values, not {numel}")
                storages[key] = storage
            return storages[key]

        with archive.open(pickles[0]) as file:
            unpickler = SafeUnpickler(file, str(path), TORCH_ALLOWED)
            unpickler.persistent_load = persistent_load
            return unpickler.load()


def to_numpy(value: Any, densify: bool = False) -> Any:
    """Replace chumpy stubs by their arrays (inside dicts too) and, if `densify`, sparse matrices by dense
    arrays; anything else is returned unchanged."""
    if isinstance(value, dict):
        return {key: to_numpy(item, densify) for key, item in value.items()}
    if isinstance(value, ChumpyStub):
        return value.x
    if densify and scipy.sparse.issparse(value):
        # scipy's densify trusts the index arrays; a crafted file could make it write out of bounds.
        value.check_format(full_check=True)
        return value.toarray()
    return value
