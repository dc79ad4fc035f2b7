"""CIFAR-10 batches: found, read in the real files' layout, and never a way to run code."""

import os
import pickle
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from benchsuite import cifar, plan
from benchsuite.cli import main
from benchsuite.workload import registry
from tests.fakes import cifar_files


def test_find_accepts_the_folder_or_its_parent(tmp_path):
    folder = cifar_files.write(tmp_path, per_batch=4)
    assert cifar.find(tmp_path) == folder
    assert cifar.find(folder) == folder


def test_missing_batches_name_what_is_expected(tmp_path):
    (tmp_path / "data_batch_1").write_bytes(b"")
    with pytest.raises(ValueError, match="data_batch_1..data_batch_5 and test_batch"):
        cifar.find(tmp_path)


@pytest.mark.parametrize("bytes_keys", [True, False])
def test_load_splits_and_normalise(tmp_path, bytes_keys):
    cifar_files.write(tmp_path, per_batch=6, bytes_keys=bytes_keys)
    x, y = cifar.load(tmp_path, train=True)
    assert x.shape == (30, 3, 32, 32) and x.dtype == np.uint8 and y.shape == (30,) and y.dtype == np.int64
    tx, ty = cifar.load(tmp_path, train=False, limit=4)
    assert tx.shape == (4, 3, 32, 32) and len(ty) == 4
    t = cifar.normalise(x)
    assert float(t.min()) >= -1.0 and float(t.max()) <= 1.0


# -- the fake files are the real layout ----------------------------------------------------
def test_fake_batches_are_python2_protocol2_pickles_in_the_real_layout(tmp_path):
    folder = cifar_files.write(tmp_path, per_batch=3)
    raw = (folder / "data_batch_2").read_bytes()
    assert raw.startswith(b"\x80\x02}")  # PROTO 2, EMPTY_DICT
    assert b"cnumpy.core.multiarray\n_reconstruct\n" in raw and b"cnumpy\ndtype\n" in raw
    assert b"_codecs" not in raw and b"numpy._core" not in raw  # what Python 3 would have written
    batch = pickle.loads(raw, encoding="bytes")  # the CIFAR-10 page's way to read them
    assert list(batch) == [b"batch_label", b"labels", b"data", b"filenames"]
    assert batch[b"batch_label"] == b"training batch 2 of 5"
    assert batch[b"data"].shape == (3, 3072) and batch[b"data"].dtype == np.uint8
    assert all(type(v) is int for v in batch[b"labels"])
    assert all(n.endswith(b".png") for n in batch[b"filenames"])
    latin1 = pickle.loads(raw, encoding="latin1")  # torchvision's way
    assert np.array_equal(latin1["data"], batch[b"data"])


def test_fake_batches_with_more_than_a_thousand_labels_batch_their_appends(tmp_path):
    folder = cifar_files.write(tmp_path, per_batch=1001)
    x, y = cifar._read(folder / "test_batch")
    assert x.shape == (1001, 3, 32, 32) and len(y) == 1001


@pytest.mark.parametrize("protocol", [2, 3, 4, pickle.DEFAULT_PROTOCOL])
@pytest.mark.parametrize("bytes_keys", [True, False])
def test_batches_pickled_by_python3_and_this_numpy_load(tmp_path, protocol, bytes_keys):
    data = np.arange(2 * 3072, dtype=np.uint8).reshape(2, 3072)
    key = (lambda k: k.encode()) if bytes_keys else (lambda k: k)
    path = tmp_path / "data_batch_1"
    with path.open("wb") as fh:
        pickle.dump({key("batch_label"): key("training batch 1 of 5"), key("labels"): [3, 9], key("data"): data,
                     key("filenames"): [key("a.png"), key("b.png")]}, fh, protocol=protocol)
    x, y = cifar._read(path)
    assert np.array_equal(x.reshape(2, -1), data) and y.tolist() == [3, 9]


# -- nothing in a batch runs -----------------------------------------------------------------
class RunsCommand:
    """Unpickling this with plain pickle runs a shell command that creates ``marker``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _plant(folder, name, content: bytes):
    (folder / name).write_bytes(content)
    return folder / name


def _gadget(module: str, name: str, *args: str) -> bytes:
    """A protocol-0 pickle calling ``module.name(*args)``, for globals this Python may not have."""
    return (f"c{module}\n{name}\n(" + "".join(f"V{a}\n" for a in args) + "tR.").encode()


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_a_pickle_that_runs_a_command_is_refused_and_nothing_runs(tmp_path, protocol):
    folder = cifar_files.write(tmp_path, per_batch=2)
    marker = tmp_path / "ran"
    path = _plant(folder, "data_batch_3", pickle.dumps({b"data": RunsCommand(marker)}, protocol=protocol))
    with pytest.raises(cifar.CifarError) as err:
        cifar.check(str(tmp_path))
    message = str(err.value)
    assert str(path) in message and f"'{os.system.__module__}.system'" in message
    assert "not CIFAR-10 batches" in message and "\n" not in message
    assert not marker.exists()
    with pytest.raises(cifar.CifarError, match="refused to load the global"):
        cifar.load(tmp_path)
    assert not marker.exists()


@pytest.mark.parametrize("module, name, args", [
    ("builtins", "eval", ("__import__('os').system('touch {marker}')",)),
    ("__builtin__", "exec", ("open('{marker}', 'w')",)),
    ("subprocess", "call", ("touch {marker}",)),
    ("numpy.testing._private.utils", "runstring", ("open('{marker}', 'w')", "{{}}")),
    ("numpy", "load", ("{marker}",)),
    ("numpy.core.multiarray", "scalar", ()),
    ("_codecs", "decode", ("x", "latin1")),
    ("torch", "load", ("{marker}",)),
])
def test_every_other_global_is_refused_by_name(tmp_path, module, name, args):
    marker = tmp_path / "ran"
    path = _plant(tmp_path, "data_batch_1", _gadget(module, name, *(a.format(marker=marker) for a in args)))
    with pytest.raises(cifar.CifarError, match=f"{path}: refused to load the global '{module}.{name}'"):
        cifar._read(path)
    assert not marker.exists()


def test_a_refused_module_is_never_imported(tmp_path, monkeypatch):
    marker = tmp_path / "imported"
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "cifar_gadget.py").write_text(f"open({str(marker)!r}, 'w').close()\nrun = print\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    path = _plant(tmp_path, "data_batch_1", _gadget("cifar_gadget", "run", "x"))
    with pytest.raises(cifar.CifarError, match="'cifar_gadget.run'"):
        cifar._read(path)
    assert "cifar_gadget" not in sys.modules and not marker.exists()


def test_a_command_inside_an_otherwise_real_batch_is_refused(tmp_path):
    marker = tmp_path / "ran"
    good = pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [RunsCommand(marker)]}, protocol=2)
    path = _plant(tmp_path, "test_batch", good)
    with pytest.raises(cifar.CifarError, match="refused to load the global"):
        cifar._read(path)
    assert not marker.exists()


def test_inst_opcode_goes_through_the_same_check(tmp_path):
    marker = tmp_path / "ran"
    path = _plant(tmp_path, "data_batch_1", f"(S'touch {marker}'\nios\nsystem\n.".encode())
    with pytest.raises(cifar.CifarError, match="'os.system'"):
        cifar._read(path)
    assert not marker.exists()


def test_codecs_encode_only_as_python3_writes_bytes(tmp_path):
    path = _plant(tmp_path, "data_batch_1", _gadget("_codecs", "encode", "abc", "rot13"))
    with pytest.raises(cifar.CifarError, match=f"{path}: not a CIFAR-10 python batch.*encode\\(str, 'latin1'\\)"):
        cifar._read(path)


def test_control_characters_in_a_refused_name_are_escaped(tmp_path):
    path = _plant(tmp_path, "data_batch_1", b"\x80\x04\x8c\x06os\x1b[2J\x8c\x06system\x93.")
    with pytest.raises(cifar.CifarError) as err:
        cifar._read(path)
    assert "\x1b" not in str(err.value) and "os\\x1b[2J.system" in str(err.value)


@pytest.mark.parametrize("dtype", [object, [("a", np.uint8), ("b", object)]])
def test_an_object_array_is_refused(tmp_path, dtype):
    data = np.zeros(2, dtype=dtype)
    path = _plant(tmp_path, "data_batch_1", pickle.dumps({b"data": data, b"labels": [0, 1]}, protocol=2))
    with pytest.raises(cifar.CifarError, match=f"{path}: refused a numpy array of Python objects"):
        cifar._read(path)


# -- damaged files name the file ---------------------------------------------------------------
def _truncated(tmp_path):
    raw = (cifar_files.write(tmp_path / "real", per_batch=2) / "data_batch_1").read_bytes()
    return raw[:len(raw) // 2]


@pytest.mark.parametrize("content, why", [
    (b"", "EOFError"),
    (b"\x00\x01 garbage", "UnpicklingError: invalid load key"),
    (b"GIF89a garbage \x00\x01", "does not unpickle"),
    (_truncated, "does not unpickle"),
    (b"\x80\x09.", "unsupported pickle protocol"),
    (pickle.dumps([1, 2], protocol=2), "holds a list, expected a dict"),
    (pickle.dumps({b"labels": [1]}, protocol=2), "no 'data' key .it has b'labels'"),
    (pickle.dumps({b"data": np.zeros((1, 3072), np.uint8)}, protocol=2), "no 'labels' key"),
    (pickle.dumps({b"data": np.zeros((1, 100), np.uint8), b"labels": [1]}, protocol=2),
     "'data' is a uint8 array of shape \\(1, 100\\), expected a uint8 array of N x 3072"),
    (pickle.dumps({b"data": np.zeros((1, 3072), np.float32), b"labels": [1]}, protocol=2), "'data' is a float32"),
    (pickle.dumps({b"data": [0] * 3072, b"labels": [1]}, protocol=2), "'data' is a list"),
    (pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [10]}, protocol=2), "integers 0..9"),
    (pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [b"cat"]}, protocol=2), "integers 0..9"),
    (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1]}, protocol=2), "2 images but 1 labels"),
    (b"\x80\x02Q.", "UnpicklingError"),  # a persistent id
])
def test_a_bad_batch_names_the_file(tmp_path, content, why):
    path = _plant(tmp_path, "data_batch_1", content(tmp_path) if callable(content) else content)
    with pytest.raises(cifar.CifarError, match=why) as err:
        cifar._read(path)
    assert str(err.value).startswith(f"{path}: ") and "\n" not in str(err.value)


def test_an_unreadable_batch_names_the_file(tmp_path):
    path = tmp_path / "data_batch_1"
    path.mkdir()
    with pytest.raises(cifar.CifarError, match=f"{path}: cannot read"):
        cifar._read(path)


# -- the two ways in from the command line ----------------------------------------------------
def _malicious_data(tmp_path):
    folder = cifar_files.write(tmp_path / "data", per_batch=2)
    marker = tmp_path / "ran"
    path = _plant(folder, "data_batch_5", pickle.dumps({b"data": RunsCommand(marker)}, protocol=2))
    return tmp_path / "data", path, marker


def _error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1, output
    return lines[0]


def test_data_param_refuses_a_malicious_batch_before_anything_runs(tmp_path):
    data, path, marker = _malicious_data(tmp_path)
    with pytest.raises(plan.PlanError, match=f"data=.*{path}: refused to load the global"):
        plan.parse_params([f"data={data}"], ["cnn"], registry())
    r = CliRunner().invoke(main, ["run", "--workload", "cnn", "--device", "cpu", "--param", f"data={data}",
                                  "--out", str(tmp_path / "runs")])
    assert r.exit_code == 2, r.output
    line = _error_line(r.output)
    assert str(path) in line and f"{os.system.__module__}.system" in line and "not CIFAR-10 batches" in line
    assert "Traceback" not in r.output and not marker.exists() and not (tmp_path / "runs").exists()


def test_claims_data_refuses_a_malicious_batch_before_anything_runs(tmp_path):
    data, path, marker = _malicious_data(tmp_path)
    r = CliRunner().invoke(main, ["claims", "--data", str(data), "--device", "cpu", "--out", str(tmp_path / "runs")])
    assert r.exit_code == 2, r.output
    line = _error_line(r.output)
    assert str(path) in line and f"{os.system.__module__}.system" in line and "not CIFAR-10 batches" in line
    assert "Traceback" not in r.output and not marker.exists() and not (tmp_path / "runs").exists()
