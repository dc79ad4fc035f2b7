"""Ctrl-C and SIGTERM in a real process: finished cases stay on disk, the end record says
interrupted (and why), exit 130 after Ctrl-C and 143 after SIGTERM, at any moment."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchsuite import results

MLP = ["-w", "mlp", "--precision", "fp32", "--param", "widths=64x64x10", "--batch-size", "1,2,3,4,5,6,7,8",
       "--min-time", "0.5", "--min-iters", "2"]


def _start(args, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "benchsuite", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, **kw)


def _after_first_case(proc: subprocess.Popen, out: Path) -> Path:
    """Wait (polling the disk) until a case is written; return the results file."""
    deadline = time.monotonic() + 120  # three processes importing torch on a busy 2-core box
    while time.monotonic() < deadline and proc.poll() is None:
        found = list(out.glob("*/results.jsonl"))
        if found and len(results.read_run(found[0]).cases) >= 1:
            return found[0]
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("no case finished in time")


def _finish(proc: subprocess.Popen) -> tuple[int, str]:
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, err.decode()


def test_sigint_mid_run_keeps_finished_cases(tmp_path):
    proc = _start(["run", *MLP, "--out", str(tmp_path)])
    path = _after_first_case(proc, tmp_path)
    proc.send_signal(signal.SIGINT)
    code, err = _finish(proc)
    assert code == 130, err
    run = results.read_run(path)
    assert run.status == "interrupted" and 1 <= len(run.cases) < 16
    assert all(c["status"] == "ok" for c in run.cases)
    assert len(results.load(path)) == len(run.cases)


def test_sigterm_mid_run_ends_like_ctrl_c_with_its_own_exit_code(tmp_path):
    """Issue 13, problem 8: SIGTERM (a batch scheduler's time limit) left no end record and no
    message at efef368."""
    proc = _start(["run", *MLP, "--out", str(tmp_path)])
    path = _after_first_case(proc, tmp_path)
    proc.send_signal(signal.SIGTERM)
    code, err = _finish(proc)
    assert code == 143, err
    assert "Interrupted by SIGTERM: the cases finished before it are kept." in err and "Traceback" not in err
    run = results.read_run(path)
    assert run.status == "interrupted" and run.end["reason"] == "terminated (SIGTERM)"
    assert len(run.cases) >= 1 and all(c["status"] == "ok" for c in run.cases)


def _importing_torch(pid: int) -> bool:
    try:
        return "/torch/" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc to see torch being imported")
def test_ctrl_c_at_start_up_exits_130(tmp_path):
    """Issue 13, problem 8: Ctrl-C in the first seconds (torch being imported) printed click's
    "Aborted!" and exited 1 at efef368."""
    proc = _start(["run", *MLP, "--out", str(tmp_path)])
    deadline = time.monotonic() + 30
    while not _importing_torch(proc.pid) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.005)
    proc.send_signal(signal.SIGINT)
    code, err = _finish(proc)
    assert code == 130, err
    assert "Interrupted by Ctrl-C." in err and "Aborted!" not in err and "Traceback" not in err
    assert not list(tmp_path.iterdir())  # nothing was measured, no run directory


@pytest.mark.slow
def test_ctrl_c_under_nproc_exits_130_and_keeps_the_cases(tmp_path):
    """Issue 13, problem 8: Ctrl-C under --nproc 2 printed torchrun's SignalException traceback
    and exited 1 at efef368. The terminal sends SIGINT to the whole process group."""
    proc = _start(["run", "--nproc", "2", "-d", "cpu", *MLP, "--out", str(tmp_path)], start_new_session=True)
    path = _after_first_case(proc, tmp_path)
    os.killpg(proc.pid, signal.SIGINT)
    code, err = _finish(proc)
    assert code == 130, err
    assert "SignalException" not in err and "Traceback" not in err
    run = results.read_run(path)
    assert run.status == "interrupted" and len(run.cases) >= 1, err


def test_ctrl_c_while_the_command_line_loads_exits_130_without_a_traceback(monkeypatch, capsys):
    """The first second of `benchsuite` is spent importing the command line (pandas, rich,
    click); a Ctrl-C there ends like one later on: a message and 130, no traceback."""
    import types

    from benchsuite import __main__ as entry

    class Loading(types.ModuleType):
        def __getattr__(self, name):
            raise KeyboardInterrupt  # what Python raises in the importing thread on SIGINT

    monkeypatch.setitem(sys.modules, "benchsuite.cli", Loading("benchsuite.cli"))
    with pytest.raises(SystemExit) as stop:
        entry.main()
    assert stop.value.code == 130
    err = capsys.readouterr().err
    assert "Interrupted by Ctrl-C." in err and "Traceback" not in err


def test_the_console_script_starts_through_the_guarded_entry_point():
    pyproject = (Path(__file__).parents[1] / "pyproject.toml").read_text()
    assert 'benchsuite = "benchsuite.__main__:main"' in pyproject
