"""benchsuite.files: appends whole or cut back, whole files or none, errors naming the file."""

import errno
import json

import pytest

from benchsuite import files
from tests.fakes.faulty_disk import FaultyDisk


def test_an_append_that_fails_midway_is_cut_back_to_the_last_record(tmp_path, monkeypatch):
    path = tmp_path / "r.jsonl"
    out = files.Appender(path, new=True)
    out.append('{"a": 1}\n')
    disk = FaultyDisk(monkeypatch, writes=0)  # the next write lands half, the one after fails
    with pytest.raises(files.WriteError) as err:
        out.append('{"b": "' + "x" * 100 + '"}\n')
    assert path.read_text() == '{"a": 1}\n' and disk.failures == 1
    assert str(err.value) == f"could not write {path}: No space left on device"
    assert err.value.errno == errno.ENOSPC and not err.value.bad_path and err.value.exit_code == 3
    assert out.error is err.value
    out.close()
    out.close()  # closing twice, or after a failure, never raises


def test_appender_refuses_an_existing_file_when_new(tmp_path):
    (tmp_path / "r.jsonl").write_text("x\n")
    with pytest.raises(files.WriteError, match="could not create .*r.jsonl: File exists") as err:
        files.Appender(tmp_path / "r.jsonl", new=True)
    assert err.value.bad_path and err.value.exit_code == 2


def test_a_whole_file_that_fails_leaves_the_old_one_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "report.html"
    files.write_text(target, "old page")
    FaultyDisk(monkeypatch, room=10)
    with pytest.raises(files.WriteError, match="could not write .*report.html: No space left on device"):
        files.write_text(target, "a new page, longer than the room left on the disk")
    assert target.read_text() == "old page" and [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_read_only_file_system_is_a_write_failure_not_a_bad_path(tmp_path, monkeypatch):
    FaultyDisk(monkeypatch, read_only=True)
    with pytest.raises(files.WriteError, match="could not create folder .*new/run: Read-only file system") as err:
        files.make_dir(tmp_path / "new" / "run")
    assert err.value.exit_code == 3


@pytest.mark.parametrize("where, why", [
    ("/proc/forbidden/x", "No such file or directory"),
    ("{file}/sub", "is a file, not a folder"),
])
def test_a_bad_folder_is_a_bad_path(tmp_path, where, why):
    (tmp_path / "f").write_text("")
    with pytest.raises(files.WriteError, match=why) as err:
        files.make_dir(where.format(file=tmp_path / "f"))
    assert err.value.bad_path and err.value.exit_code == 2


def test_make_dir_keeps_an_existing_folder_unless_told(tmp_path):
    assert files.make_dir(tmp_path) == tmp_path
    with pytest.raises(files.WriteError, match="it already exists"):
        files.make_dir(tmp_path, exist_ok=False)


def test_stored_json_is_strict(tmp_path):
    """Issue 13, problem 2: `calibrate --budget inf` wrote ``Infinity`` into a JSON file."""
    path = files.write_json(tmp_path / "c.json", {"a": float("nan"), "b": [float("inf"), 1.5], "c": {"d": -float("inf")}})
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"a": None, "b": [None, 1.5], "c": {"d": None}}


def test_expand_takes_the_user_home(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert files.expand("~/x") == tmp_path / "x"
