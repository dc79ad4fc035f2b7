import pytest

from benchsuite import workload
from benchsuite.workload import Param


def test_third_party_entry_point_is_found_like_the_builtins(third_party):
    reg = workload.registry()
    assert "tiny" in reg and {"matmul", "mlp", "cnn"} <= set(reg.names())
    assert reg["tiny"].describe()["params"][0] == {"name": "size", "type": "a positive integer", "default": "16",
                                                   "unit": "elements", "help": "vector length"}


def test_broken_plugin_is_reported_not_fatal(tmp_path, monkeypatch):
    info = tmp_path / "broken-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[benchsuite.workloads]\nbroken = no_such_module:Thing\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = workload.registry()
    assert "broken" not in reg and "no_such_module" in reg.errors["broken"]
    assert "matmul" in reg


def test_param_parsing_and_defaults():
    p = Param("m", "int", {"cpu": 1024, "cuda": 8192})
    assert p.parse("64") == 64 and p.default_for("cuda") == 8192 and p.default_for("cpu") == 1024
    assert Param("w", "ints", (1, 2)).parse("3x4") == (3, 4)
    assert Param("v", "choice", "a", choices=("a", "b")).parse("b") == "b"
    with pytest.raises(ValueError, match="one of a, b"):
        Param("v", "choice", "a", choices=("a", "b")).parse("c")
    with pytest.raises(ValueError, match="positive integer"):
        p.parse("-3")
