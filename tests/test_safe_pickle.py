import builtins
import collections
import io
import os
import pickle
import warnings
import zipfile

import numpy as np
import pytest
import scipy.sparse
import torch

from models.safe_pickle import (ALLOWED, TORCH_ALLOWED, TORCH_STORAGE_DTYPES, ChumpyStub, UnsafePickleError,
                                 safe_load, safe_torch_load, to_numpy)


class RunsShell:
    """Unpickling this would run a shell command."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


class RunsEval:
    def __init__(self, source: str):
        self.source = source

    def __reduce__(self):
        return builtins.eval, (self.source,)


def load_bytes(data: bytes, **kwargs):
    return safe_load(io.BytesIO(data), **kwargs)


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_arrays_sparse_matrices_and_builtins_load(protocol):
    data = {"array": np.arange(6, dtype=np.float32).reshape(2, 3), "csc": scipy.sparse.csc_matrix(np.eye(3)),
            "csr": scipy.sparse.csr_matrix(np.eye(2) * 2), "set": {1, 2}, "frozen": frozenset("ab"),
            "bytes": b"\xff\x00", "scalar": np.float64(0.5), "text": "lbs"}
    loaded = load_bytes(pickle.dumps(data, protocol=protocol))
    np.testing.assert_array_equal(loaded["array"], data["array"])
    assert loaded["array"].dtype == np.float32
    assert isinstance(loaded["csc"], scipy.sparse.csc_matrix)
    np.testing.assert_array_equal(loaded["csc"].toarray(), np.eye(3))
    np.testing.assert_array_equal(loaded["csr"].toarray(), np.eye(2) * 2)
    assert (loaded["set"], loaded["frozen"], loaded["bytes"]) == ({1, 2}, frozenset("ab"), b"\xff\x00")
    assert loaded["scalar"] == np.float64(0.5) and loaded["text"] == "lbs"


def test_old_module_paths_load_without_deprecation_warnings():
    """Files written by older numpy / scipy name numpy.core and the deprecated scipy.sparse.csc module."""
    data = pickle.dumps({"a": np.arange(3.0), "j": scipy.sparse.csc_matrix(np.eye(2))}, protocol=2)
    data = data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    data = data.replace(b"scipy.sparse._csc", b"scipy.sparse.csc")
    assert b"cnumpy.core.multiarray\n" in data and b"cscipy.sparse.csc\n" in data
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = load_bytes(data)
    np.testing.assert_array_equal(loaded["a"], [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(loaded["j"].toarray(), np.eye(2))


def test_python2_array_pickle_loads():
    """Python 2 pickles hold an array's bytes as a str; they only load when decoded as latin-1."""
    raw = np.array([1.0, -2.5, 3.0], dtype="<f8").tobytes()  # 1.0 contains the byte 0xf0
    data = (b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"  # _reconstruct(ndarray, (0,), 'b')
            b"K\x00\x85U\x01b\x87R"
            b"(K\x01K\x03\x85"  # array state: (1, (3,), dtype, False, data)
            b"cnumpy\ndtype\nU\x02f8K\x00K\x01\x87R(K\x03U\x01<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
            b"\x89U\x18" + raw + b"tb.")
    with pytest.raises(UnicodeDecodeError):
        pickle.loads(data)
    np.testing.assert_array_equal(load_bytes(data), [1.0, -2.5, 3.0])


def test_chumpy_objects_become_stubs_holding_their_state():
    # NEWOBJ of chumpy.ch.Ch, then BUILD with a chumpy-like state dict (written by pickle without its header/STOP).
    state = {"x": np.array([[1.0, 2.0]]), "_dirty_vars": set(), "label": None}
    data = b"\x80\x02cchumpy.ch\nCh\n)\x81" + pickle.dumps(state, protocol=2)[2:-1] + b"b."
    loaded = load_bytes(data)
    assert isinstance(loaded, ChumpyStub)
    assert loaded.state["_dirty_vars"] == set()
    np.testing.assert_array_equal(loaded.x, [[1.0, 2.0]])
    np.testing.assert_array_equal(np.asarray(loaded), [[1.0, 2.0]])


def test_to_numpy_unwraps_stubs_and_densifies_only_when_asked():
    stub = ChumpyStub()
    stub.__setstate__({"x": np.ones(2)})
    sparse = scipy.sparse.csc_matrix(np.eye(2))
    data = {"ch": stub, "sparse": sparse, "text": "lbs"}
    plain = to_numpy(data)
    np.testing.assert_array_equal(plain["ch"], np.ones(2))
    assert plain["sparse"] is sparse and plain["text"] == "lbs"
    dense = to_numpy(data, densify=True)
    assert isinstance(dense["sparse"], np.ndarray)
    np.testing.assert_array_equal(dense["sparse"], np.eye(2))


def test_malformed_sparse_matrix_is_refused_before_densifying():
    matrix = scipy.sparse.csc_matrix(np.eye(3))
    matrix.indices[0] = 10**6  # a row far outside the matrix
    loaded = load_bytes(pickle.dumps(matrix, protocol=2))
    with pytest.raises(ValueError, match="indices"):
        to_numpy(loaded, densify=True)


def test_chumpy_expression_without_value_is_a_clear_error():
    stub = ChumpyStub()
    stub.__setstate__({"a": 1, "b": 2})  # e.g. a pickled chumpy sum keeps its operands
    with pytest.raises(ValueError, match="without an 'x' array"):
        to_numpy(stub)


@pytest.mark.parametrize("payload, callable_name", [
    (lambda marker: RunsShell(f"touch {marker}"), "system"),
    (lambda marker: RunsEval(f"open({str(marker)!r}, 'w').close()"), "eval"),
])
@pytest.mark.parametrize("protocol", [0, 2, 4])
def test_pickle_that_would_run_code_is_refused_and_does_not_run(tmp_path, payload, callable_name, protocol):
    marker = tmp_path / "pwned"
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps({"v_template": np.zeros(3), "evil": payload(marker)}, protocol=protocol))
    with pytest.raises(UnsafePickleError) as error:
        safe_load(path)
    message = str(error.value)
    assert f".{callable_name}" in message and str(path) in message and "could run code" in message
    assert not marker.exists()


@pytest.mark.parametrize("module, name", [
    ("posix", "system"), ("os", "system"), ("nt", "system"), ("subprocess", "Popen"), ("subprocess", "check_output"),
    ("builtins", "eval"), ("builtins", "exec"), ("builtins", "getattr"), ("__builtin__", "__import__"),
    ("numpy", "load"), ("numpy.testing._private.utils", "runstring"), ("torch", "load"), ("chumpyx", "system"),
    ("copyreg", "add_extension"), ("scipy.sparse", "load_npz"),
])
def test_hand_written_global_opcodes_are_refused(module, name):
    def short_unicode(text: str) -> bytes:
        return b"\x8c" + bytes([len(text)]) + text.encode()

    for data in (f"c{module}\n{name}\n.".encode(),  # protocol 0 GLOBAL
                 b"\x80\x04" + short_unicode(module) + short_unicode(name) + b"\x93."):  # protocol 4 STACK_GLOBAL
        with pytest.raises(UnsafePickleError, match=f"refused to load {module}.{name}: .*could run code"):
            load_bytes(data)


def test_refusal_happens_before_the_call(tmp_path):
    marker = tmp_path / "pwned"
    data = f"cposix\nsystem\n(S'touch {marker}'\ntR.".encode()  # posix.system('touch ...')
    with pytest.raises(UnsafePickleError, match="posix.system"):
        load_bytes(data)
    assert not marker.exists()


def test_refused_error_names_the_file(tmp_path):
    path = tmp_path / "flame.pkl"
    path.write_bytes(b"cbuiltins\ngetattr\n.")
    with open(path, "rb") as file, pytest.raises(UnsafePickleError, match=f"{path}: refused to load builtins.getattr"):
        safe_load(file)
    assert issubclass(UnsafePickleError, pickle.UnpicklingError)


def test_extra_allowed_extends_the_allowlist():
    data = pickle.dumps(collections.OrderedDict(a=1), protocol=2)
    with pytest.raises(UnsafePickleError, match="collections.OrderedDict"):
        load_bytes(data)
    loaded = load_bytes(data, extra_allowed={("collections", "OrderedDict"): collections.OrderedDict})
    assert loaded == collections.OrderedDict(a=1)


def test_the_allowlist_is_exactly_what_model_files_contain():
    """Pinned: a name added to the allowlist (say builtins.open) must be added here too, on purpose."""
    cores = ("numpy.core", "numpy._core")
    expected = {
        *((f"{core}.multiarray", name) for core in cores for name in ("_reconstruct", "scalar")),
        *((f"{core}.numeric", "_frombuffer") for core in cores),
        ("numpy", "ndarray"), ("numpy", "dtype"),
        *((module, "csc_matrix") for module in ("scipy.sparse", "scipy.sparse.csc", "scipy.sparse._csc")),
        *((module, "csr_matrix") for module in ("scipy.sparse", "scipy.sparse.csr", "scipy.sparse._csr")),
        *((module, name) for module in ("__builtin__", "builtins") for name in ("set", "frozenset", "object")),
        ("_codecs", "encode"), ("copy_reg", "_reconstructor"), ("copyreg", "_reconstructor"),
    }
    assert set(ALLOWED) == expected
    assert ALLOWED[("builtins", "object")] is object and ALLOWED[("__builtin__", "set")] is set
    assert ALLOWED[("scipy.sparse.csc", "csc_matrix")] is scipy.sparse.csc_matrix
    assert set(TORCH_ALLOWED) == {("torch._utils", "_rebuild_tensor_v2"), ("collections", "OrderedDict"),
                                  *(("torch", name) for name in TORCH_STORAGE_DTYPES)}
    assert all(isinstance(dtype, torch.dtype) for key, dtype in TORCH_ALLOWED.items() if key[0] == "torch")
    assert {TORCH_ALLOWED[("torch", name)] for name in ("FloatStorage", "LongStorage")} == {torch.float32,
                                                                                           torch.int64}


# torch.save files made by hand, to reach every refusal of safe_torch_load.


class Stored:
    """Pickled as the persistent id `saved_id` (what torch.save writes for a tensor's storage)."""

    def __init__(self, *saved_id):
        self.saved_id = saved_id


class Tensor1D:
    """Pickled as torch.save pickles a 1-D tensor over `storage`."""

    def __init__(self, storage: Stored, size: int):
        self.storage, self.size = storage, size

    def __reduce__(self):
        return torch._utils._rebuild_tensor_v2, (self.storage, 0, (self.size,), (1,), False, collections.OrderedDict())


def torch_file(path, content, storages: dict[str, bytes], byteorder: bytes = b"little", pickles: int = 1):
    """A zip laid out as torch.save's: archive/data.pkl (`content`, its Stored objects as persistent ids),
    archive/data/KEY per storage, archive/byteorder."""
    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            return obj.saved_id if isinstance(obj, Stored) else None

    data = io.BytesIO()
    Pickler(data, protocol=2).dump(content)
    with zipfile.ZipFile(path, "w") as archive:
        for k in range(pickles):
            archive.writestr(f"archive{k or ''}/data.pkl", data.getvalue())
        archive.writestr("archive/byteorder", byteorder)
        for key, values in storages.items():
            archive.writestr(f"archive/data/{key}", values)
    return path


FOUR_FLOATS = {"0": np.arange(4, dtype="<f4").tobytes()}


def test_a_hand_made_torch_file_loads_on_the_cpu_whatever_its_device(tmp_path):
    storage = Stored("storage", torch.FloatStorage, "0", "cuda:0", 4)
    path = torch_file(tmp_path / "ok.ptk", {"a": Tensor1D(storage, 4), "b": np.ones(2)}, FOUR_FLOATS)
    loaded = safe_torch_load(path)
    assert loaded["a"].device.type == "cpu" and loaded["a"].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert loaded["b"].tolist() == [1.0, 1.0]


@pytest.mark.parametrize("case, error, message", [
    ("no data.pkl", pickle.UnpicklingError, "not a torch.save file"),
    ("two data.pkl", pickle.UnpicklingError, "not a torch.save file"),
    ("big-endian", pickle.UnpicklingError, "big-endian"),
    ("not a storage", UnsafePickleError, "refused a persistent object 'module'"),
    ("dtype not a torch dtype", UnsafePickleError, "refused a persistent object 'storage'"),
    ("storage of another size", pickle.UnpicklingError, "storage 0 holds 4 values, not 5"),
    ("code in the pickle", UnsafePickleError, "refused to load posix.system"),
])
def test_every_malformed_torch_file_is_refused(tmp_path, case, error, message):
    path, marker = tmp_path / "bad.ptk", tmp_path / "pwned"
    tensor = Tensor1D(Stored("storage", torch.FloatStorage, "0", "cpu", 4), 4)
    if case == "no data.pkl":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("archive/data/0", FOUR_FLOATS["0"])
    elif case == "two data.pkl":
        torch_file(path, tensor, FOUR_FLOATS, pickles=2)
    elif case == "big-endian":
        torch_file(path, tensor, FOUR_FLOATS, byteorder=b"big")
    elif case == "not a storage":
        torch_file(path, Stored("module", torch.FloatStorage, "0", "cpu", 4), FOUR_FLOATS)
    elif case == "dtype not a torch dtype":
        torch_file(path, Stored("storage", "FloatStorage", "0", "cpu", 4), FOUR_FLOATS)
    elif case == "storage of another size":
        torch_file(path, Tensor1D(Stored("storage", torch.FloatStorage, "0", "cpu", 5), 5), FOUR_FLOATS)
    else:
        torch_file(path, {"a": tensor, "evil": RunsShell(f"touch {marker}")}, FOUR_FLOATS)
    with pytest.raises(error, match=message) as raised:
        safe_torch_load(path)
    assert str(path) in str(raised.value) and not marker.exists()


def test_a_file_that_is_not_a_zip_is_refused(tmp_path):
    path = tmp_path / "old.ptk"
    path.write_bytes(pickle.dumps({"a": 1}))  # torch's legacy (non-zip) format, or anything else
    with pytest.raises(zipfile.BadZipFile):
        safe_torch_load(path)
