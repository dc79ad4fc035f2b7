"""Every case, and the cases that did not run (benchsuite.report.cases), against golden files."""

from __future__ import annotations

import re

from benchsuite import results
from benchsuite.report import cases
from benchsuite.report.markup import markdown
from tests.fakes.golden import check_golden


def test_cases_golden(runs):
    df = results.load([runs[0], runs[2]])
    notes = "".join(f"\n{marker} {text}" for marker, text in cases.footnotes(df))
    check_golden("cases.md", markdown(cases.cases(df)) + notes + "\n")
    check_golden("not_run.md", markdown(cases.not_run(df)))


def test_cells_carry_three_significant_figures_and_si_units(runs):
    """As in the terminal: ``16.7 k sample/s``, ``22.8 mJ/sample``, ``1.92 ms``, human headers."""
    shown = cases.cases(results.load(runs[0]))
    assert list(shown.columns) == ["case", "device", "status", "throughput", "TFLOP/s", "% peak", "step median",
                                   "p99", "power", "energy/sample", "samples/J", "peak memory", "notes"]
    ok = shown[shown["status"] == "ok"]
    assert ok["throughput"].str.fullmatch(r"\d[\d.]* [kM]? ?sample/s").all()
    assert ok["energy/sample"].str.fullmatch(r"\d[\d.]* [mµ]J/sample").all()
    assert ok["step median"].str.fullmatch(r"\d[\d.]* [mµ]?s").all()
    assert ok["power"].str.fullmatch(r"\d[\d.]* W").all()
    for column in ("throughput", "TFLOP/s", "energy/sample", "samples/J"):  # never more than 3 figures
        digits = [len(re.sub(r"\D", "", v.split(" ")[0]).lstrip("0")) for v in ok[column]]
        assert max(digits) <= 3, (column, list(ok[column]))
    assert not shown["case"].str.contains(r"lr=|momentum=|/cuda:0/").any()  # defaults left out; device apart


def test_reasons_and_flags_are_footnotes_not_prose(runs):
    df = results.load([runs[0], runs[2]])
    df["quality_flags"] = [["noisy", "short-window"] if i == 0 else [] for i in range(len(df))]
    shown = cases.cases(df)
    notes = dict(cases.footnotes(df))
    assert shown["notes"].str.fullmatch(r"(\[[a-z]+\])?").all()  # markers only: a row stays one line
    first = shown["notes"].iloc[0].strip("[]")
    assert [notes[m].split(":")[0] for m in first] == ["noisy", "short-window"]
    oom = shown[shown["status"] == "oom"]["notes"].iloc[0].strip("[]")
    assert notes[oom] == "CUDA out of memory at batch 128"
    assert len(notes) == len(set(notes.values()))  # each text once, however many rows share it
    frame, listed = cases.table(df)  # the report's one pass gives the same rows and footnotes
    assert frame.equals(shown) and listed == cases.footnotes(df)


def _compiled_run(tmp_path):
    """One eager and one compiled case with a burst, its power and SM clock (issue 16's fields)."""
    from tests.fakes import report_runs

    store = results.RunStore(tmp_path, report_runs.header(), run_id="20261126-000000-comp")
    for exec_, compile_s in (("eager", None), ("compile", 31.0)):
        record = {"id": f"mlp/train/cuda:0/bf16/bs256{'' if exec_ == 'eager' else '/compile'}", "workload": "mlp",
                  "mode": "train", "device": "cuda:0", "device_name": "NVIDIA H100 80GB HBM3", "precision": "bf16",
                  "batch_size": 256, "exec": exec_, "params": {}, "notes": [], "status": "ok", "reason": None,
                  "metrics": {"samples_per_s": 2.0e5, "burst_samples_per_s": 2.2e5, "burst_power_w": 652.3,
                              "burst_sm_clock_mhz": 1980.0, "step_s_median": 256 / 2.0e5, "sample_unit": "sample"}}
        if compile_s is not None:
            record["compile"] = {"recipe": "torch.compile", "compile_s": compile_s}
        store.append(record)
    store.close("completed")
    return store.dir


def test_burst_power_clock_and_compile_time_are_shown_where_measured(tmp_path, runs):
    """The burst's power and SM clock and a compiled case's compile time are in the records; the
    case table shows them, only when some case has them (review B1, B7)."""
    shown = cases.cases(results.load(_compiled_run(tmp_path))).set_index("case")
    assert {"burst", "burst power", "burst MHz", "compile"} <= set(shown.columns)
    compiled = shown.loc["mlp/train/bf16/bs256/compile"]
    assert (compiled["burst power"], compiled["burst MHz"], compiled["compile"]) == ("652 W", "1,980", "31.0 s")
    assert shown.loc["mlp/train/bf16/bs256", "compile"] == "—"  # eager: nothing compiled
    before = cases.cases(results.load(runs[0]))  # runs before issue 16: none of these columns
    assert not {"burst", "burst power", "burst MHz", "compile"} & set(before.columns)
