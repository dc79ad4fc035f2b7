"""benchmarks/selfcheck/compact_reference.py: a schema-1 run's step times become blocks, nothing else moves."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from benchsuite import record, results

ROOT = Path(__file__).resolve().parents[1]


def _script():
    path = ROOT / "benchmarks" / "selfcheck" / "compact_reference.py"
    spec = importlib.util.spec_from_file_location("compact_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write_run(folder: Path, steps: list[float], *, end: bool = True) -> Path:
    """A schema-1 run: one case with ``steps`` step times, one of three steps, one skipped; samples.csv beside."""
    folder.mkdir(parents=True)
    header = {"record": "header", "schema": 1, "run_id": folder.name, "command": "benchsuite run"}
    metrics = {"iters": len(steps), "step_s_median": float(np.median(steps)), "samples_per_s": 123.4}
    cases = [
        {"record": "case", "timing": {"method": "cuda-event", "warmup_iters": 4, "times_s": steps, "cache_state": "warm-l2"},
         "metrics": metrics, "telemetry": {"energy_j": 5.5}, "id": "mlp/infer/cuda:0/fp32/bs8", "status": "ok"},
        {"record": "case", "timing": {"method": "cuda-event", "times_s": [0.1, 0.2, 0.3]},
         "metrics": {"iters": 3}, "id": "mlp/train/cuda:0/fp32/bs8", "status": "ok"},
        {"record": "case", "id": "cnn/train/cuda:0/fp8/bs8", "status": "skipped", "reason": "no fp8 here"},
    ]
    lines = [header, *cases] + ([{"record": "end", "status": "completed", "cases": 3}] if end else [])
    (folder / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    (folder / "samples.csv").write_text("t_s,device,case_id\n0.0,cuda:0,\n")
    return folder


def test_steps_become_at_most_1024_blocks_and_every_other_field_stays(tmp_path):
    module = _script()
    rng = np.random.default_rng(0)
    steps = [float(x) for x in rng.uniform(0.001, 0.002, 5003)]
    source = _write_run(tmp_path / "src" / "20261125-000000-abcd", steps)
    target = module.compact_run(source, tmp_path / "out")
    assert target == tmp_path / "out" / "20261125-000000-abcd"
    assert (target / "samples.csv").read_text() == (source / "samples.csv").read_text()  # copied unchanged

    run = results.read_run(target)
    assert run.header["schema"] == 2 and run.end == {"record": "end", "status": "completed", "cases": 3}
    note = run.header["compacted"]
    assert note["by"] == "benchmarks/selfcheck/compact_reference.py" and note["max_blocks"] == 1024
    original = (source / "results.jsonl").read_bytes()
    assert note["original"]["bytes"] == len(original) and len(note["original"]["sha256"]) == 64
    big, small, skipped = run.cases
    timing = big["timing"]
    # 5003 steps -> halved three times: 625 blocks of 8 (the odd blocks dropped: 3 steps)
    assert timing["steps_per_block"] == 8 and len(timing["block_times_s"]) == 625
    assert note["cases_in_blocks"] == 1 and note["most_steps_left_out"] == 3
    assert timing["block_times_s"][1] == pytest.approx(sum(steps[8:16]), rel=1e-12)
    assert list(timing) == ["method", "warmup_iters", "block_times_s", "steps_per_block", "step_s_q1", "step_s_q3",
                            "cache_state"]
    # every step's quartiles are kept, and a table row reads them (compare judges noise by them)
    q1, q3 = np.percentile(steps, [25, 75])
    assert (timing["step_s_q1"], timing["step_s_q3"]) == (q1, q3)
    row = results.load(target).iloc[0]
    assert (row["step_s_q1"], row["step_s_q3"]) == (q1, q3) and row["steps_per_block"] == 8
    # the metrics, telemetry and identity as recorded; a short case keeps every step; a skip is untouched
    assert big["metrics"] == {"iters": 5003, "step_s_median": float(np.median(steps)), "samples_per_s": 123.4}
    assert big["telemetry"] == {"energy_j": 5.5}
    assert small["timing"]["block_times_s"] == [0.1, 0.2, 0.3] and small["timing"]["steps_per_block"] == 1
    assert skipped == {"record": "case", "id": "cnn/train/cuda:0/fp8/bs8", "status": "skipped", "reason": "no fp8 here"}


def test_a_run_without_an_end_record_stays_without_one(tmp_path):
    source = _write_run(tmp_path / "src" / "20261125-000000-cut0", [0.001] * 10, end=False)
    run = results.read_run(_script().compact_run(source, tmp_path / "out"))
    assert run.end is None and run.cut_short == "cut short after 3 cases; the planned list was not recorded"


def test_a_compacted_or_block_timed_file_is_refused(tmp_path, capsys):
    module = _script()
    source = _write_run(tmp_path / "src" / "20261125-000000-twice", [0.001] * 10)
    target = module.compact_run(source, tmp_path / "out")
    assert module.main([str(target), "--out", str(tmp_path / "again")]) == 2
    assert "already compacted" in capsys.readouterr().err
    records = module.read_records(target / "results.jsonl")
    del records[0]["compacted"]
    with pytest.raises(module.CompactError, match="only schema-1 files"):
        module.compact_records(records, target / "results.jsonl")


def test_the_check_catches_a_changed_figure(tmp_path):
    module = _script()
    source = _write_run(tmp_path / "src" / "20261125-000000-chk0", [0.001] * 2000)
    original = module.read_records(source / "results.jsonl")
    compacted = module.compact_records(original, source / "results.jsonl")
    module.check(original, compacted)
    compacted[1]["metrics"] = {**compacted[1]["metrics"], "samples_per_s": 1.0}
    with pytest.raises(AssertionError, match="changed"):
        module.check(original, compacted)


def test_the_shipped_h100_references_are_compacted_by_it():
    """Each shipped H100 run says how it was compacted and from which file; the CPU runs are as written."""
    for path in sorted(results.reference_dir().glob("*/results.jsonl")):
        run = results.read_run(path)
        if not any(d.get("type") == "cuda" for d in run.header.get("devices") or []):
            assert "compacted" not in run.header  # measured on the 2-core CPU box: small as written
            continue
        assert run.header["compacted"]["by"] == "benchmarks/selfcheck/compact_reference.py"
        for case in run.cases:
            timing = case.get("timing") or {}
            assert "times_s" not in timing and len(timing.get("block_times_s") or []) <= 1024
            assert record.timed_steps(case) <= (case.get("metrics") or {}).get("iters", 0)
