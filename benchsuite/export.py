"""Export a benchsuite run to other tools' formats: pytest-benchmark JSON, CSV, parquet.

The pytest-benchmark file has the layout of a real ``--benchmark-json`` file
(``machine_info``, ``commit_info``, ``benchmarks[]``, ``datetime``, ``version``), one
benchmark per measured case, the raw block times as its rounds (``data``: each block's
per-step time; ``iterations``: its steps) and every statistic
computed by pytest-benchmark's own :class:`pytest_benchmark.stats.Stats`, so that
``pytest-benchmark compare`` and ``--benchmark-compare`` read it like their own.
Benchmark names match the suite in ``benchmarks/test_workloads.py``, so an exported run
is a baseline for ``pytest benchmarks/ --benchmark-compare=FILE``. Never imports torch.
"""

from __future__ import annotations

import importlib.util
import io
import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from benchsuite import files
from benchsuite import metrics as metrics_mod
from benchsuite import record as record_mod
from benchsuite import results

FORMATS = ("pytest-benchmark", "csv", "parquet", "times-csv", "times-parquet")
#: Formats that write the raw step times in long form (`benchsuite.results.times`), one row per step.
TIMES_FORMATS = ("times-csv", "times-parquet")
#: pytest node of the live suite; exported names use it so the two compare with each other.
SUITE_MODULE = "benchmarks/test_workloads.py"
SUITE_TEST = "test_workload"
#: the extra that provides parquet support (pyproject.toml [project.optional-dependencies]).
PARQUET_HINT = "pip install 'benchsuite[parquet]'  (or: pip install pyarrow)"
# Telemetry summary fields copied into extra_info (scalars; the rest stays in results.jsonl).
_TELEMETRY_FIELDS = ("energy_j", "energy_method", "power_mean_w", "power_max_w", "idle_power_w",
                     "active_energy_j", "window_s", "quality_flags", "telemetry_note")


class ExportError(ValueError):
    """An export that cannot be made; the message says why and what to do."""


def benchmark_name(case_id: str) -> str:
    """The pytest test name of a case in the live suite: ``test_workload[<case id>]``."""
    return f"{SUITE_TEST}[{case_id}]"


def benchmark_fullname(case_id: str) -> str:
    """The node id pytest-benchmark matches on when it compares runs."""
    return f"{SUITE_MODULE}::{benchmark_name(case_id)}"


def energy_fields(energy_j: float | None, rounds: float | None, iterations: int,
                  samples_per_call: float | None) -> dict[str, float | None]:
    """Joules per round and samples per joule from a window's energy over ``rounds`` rounds.

    A round is ``iterations`` calls of the benchmarked function; ``samples_per_call`` is
    how many samples one call processes (None: not stated, no samples/J). ``rounds``: the
    rounds the window holds (fractional: `benchsuite.metrics.window_samples`;
    `benchsuite.metrics.round_energy`).
    """
    return metrics_mod.round_energy(energy_j, rounds, samples_per_call * iterations if samples_per_call else None)


def _stats(block_times_s: list[float], steps_per_block: int = 1) -> dict[str, Any]:
    """pytest-benchmark's own statistics of the raw times, with ``data`` and ``iterations``.

    A benchsuite block is a pytest-benchmark round of ``steps_per_block`` iterations, and
    pytest-benchmark keeps per-iteration times: each block's seconds ÷ its steps (so its
    ``total`` is the blocks' seconds ÷ steps per block)."""
    from pytest_benchmark.stats import Stats

    stats = Stats()
    data = [float(t) / steps_per_block for t in block_times_s]
    for t in data:
        stats.update(t)
    out = stats.as_dict()
    out["data"] = data
    out["iterations"] = steps_per_block
    return out


def _machine_info(header: dict) -> dict[str, Any]:
    """The run's machine in pytest-benchmark's ``machine_info`` keys.

    Exported on the machine the run was made on (same host name, OS release and Python),
    it is what pytest-benchmark itself records, so comparing the export with a live run
    there raises no "machine_info is different" warning; elsewhere it is built from the
    run header.
    """
    import platform

    host = header.get("host") or {}
    system, _, release = (host.get("os") or "").partition(" ")
    if (host.get("hostname"), host.get("python"), release) == (platform.node(), platform.python_version(),
                                                               platform.release()):
        from pytest_benchmark.plugin import pytest_benchmark_generate_machine_info

        return pytest_benchmark_generate_machine_info()
    return {
        "node": host.get("hostname"),
        "processor": host.get("cpu_model"),
        "machine": None,
        "python_compiler": None,
        "python_implementation": "CPython",
        "python_implementation_version": host.get("python"),
        "python_version": host.get("python"),
        "python_build": None,
        "release": release or None,
        "system": system or None,
        "cpu": {"brand_raw": host.get("cpu_model"), "count": host.get("cpu_cores_logical")},
    }


def _commit_info(header: dict) -> dict[str, Any]:
    """pytest-benchmark's ``commit_info``; benchsuite records no commit of the measured code,
    so it says so as pytest-benchmark does, and adds the run's own facts under ``benchsuite``."""
    host = header.get("host") or {}
    return {
        "id": "unversioned", "time": None, "author_time": None, "dirty": False,
        "project": "benchsuite", "branch": "(unknown)",
        "benchsuite": {
            "run_id": header.get("run_id"),
            "tag": header.get("tag"),
            "version": header.get("benchsuite"),
            "command": header.get("command"),
            "torch": host.get("torch"),
            "cuda_runtime": host.get("cuda_runtime"),
            "driver": host.get("driver"),
            "threads": header.get("threads"),
            "devices": [{k: d.get(k) for k in ("id", "name", "memory_bytes", "compute_capability")}
                        for d in header.get("devices") or []],
        },
    }


def _options(case: dict, timing: dict) -> dict[str, Any]:
    return {
        "disable_gc": False,
        "timer": timing.get("method"),
        "min_rounds": timing.get("min_iters"),
        "max_time": None,
        "min_time": timing.get("min_time_s"),
        "precision": None,
        "confidence": None,
        "warmup": timing.get("warmup_iters"),
    }


def _extra_info(case: dict, run: results.Run) -> dict[str, Any]:
    metrics = case.get("metrics") or {}
    telemetry = case.get("telemetry") or {}
    timing = case.get("timing") or {}
    extra: dict[str, Any] = {
        "case_id": case["id"],
        "benchsuite_run_id": run.header.get("run_id"),
        "workload": case.get("workload"),
        "mode": case.get("mode"),
        "device": case.get("device"),
        "device_name": case.get("device_name"),
        "precision": case.get("precision"),
        "batch_size": case.get("batch_size"),
        "params": case.get("params") or {},
        "notes": case.get("notes") or [],
        "timing_method": timing.get("method"),
        "warmup_iters": timing.get("warmup_iters"),
        "samples": metrics.get("samples_per_step"),
    }
    extra.update({k: v for k, v in metrics.items() if k != "samples_per_step"})
    if telemetry:
        extra.update({k: telemetry.get(k) for k in _TELEMETRY_FIELDS})
        blocks, per_block = record_mod.blocks_of(timing)
        rounds = metrics_mod.window_samples(1, len(blocks), timing.get("span_s"), telemetry.get("window_s"))
        extra.update(energy_fields(telemetry.get("energy_j"), rounds, per_block, metrics.get("samples_per_step")))
    else:
        extra["telemetry_note"] = "no telemetry recorded for this case"
    extra["energy_measured"] = extra.get("energy_per_round_j") is not None  # as the pytest plugin writes it
    return extra


@dataclass
class PytestBenchmarkExport:
    """The JSON document and the cases left out of it (with why)."""

    document: dict[str, Any]
    left_out: list[tuple[str, str]] = field(default_factory=list)


def to_pytest_benchmark(run_path: str | Path) -> PytestBenchmarkExport:
    """One run (a run directory or its results.jsonl) as a pytest-benchmark JSON document.

    Only cases with status ``ok`` and step times become benchmarks; the others are listed
    in ``left_out`` (pytest-benchmark has no way to hold a skipped or failed benchmark).
    """
    from pytest_benchmark import __version__ as pb_version

    run = results.read_run(run_path)
    benchmarks, left_out = [], []
    for case in run.cases:
        timing = case.get("timing") or {}
        times, per_block = record_mod.blocks_of(timing)
        if case.get("status") != "ok" or not times:
            left_out.append((case.get("id", "?"), f"{case.get('status')}: {case.get('reason') or 'no step times'}"))
            continue
        benchmarks.append({
            "group": case.get("workload"),
            "name": benchmark_name(case["id"]),
            "fullname": benchmark_fullname(case["id"]),
            "params": {"case_id": case["id"]},
            "param": case["id"],
            "extra_info": _extra_info(case, run),
            "options": _options(case, timing),
            "stats": _stats(times, per_block),
        })
    document = {
        "machine_info": _machine_info(run.header),
        "commit_info": _commit_info(run.header),
        "benchmarks": benchmarks,
        "datetime": run.header.get("started_at") or datetime.now(timezone.utc).isoformat(),
        "version": pb_version,
    }
    return PytestBenchmarkExport(document, left_out)


def _cell(value: Any) -> Any:
    """A table cell for CSV/parquet: lists and dicts as JSON text, NaN as empty."""
    if isinstance(value, (list, dict, tuple)):
        return json.dumps(value, default=str)
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def integer_columns() -> tuple[str, ...]:
    """The case table's columns that hold counts: the record's integer fields (batch size,
    world size, rank, warm-up steps) and the metrics declared ``integer`` (steps, bytes)."""
    declared = [f.name for section in (record_mod.IDENTITY, record_mod.TIMING) for f in section.values()
                if f.type is int]
    renamed = [record_mod.TIMING_COLUMNS.get(name, name) for name in declared]
    return tuple(dict.fromkeys([*renamed, *(m.name for m in metrics_mod.METRICS.values() if m.integer),
                                "device_memory_bytes"]))


def _whole(column: pd.Series) -> bool:
    """Numbers only, every one a whole number (a parameter given as an integer)."""
    values = [v for v in column if v is not None and v == v]
    return bool(values) and all(isinstance(v, (int, float)) and not isinstance(v, bool) and float(v).is_integer()
                                for v in values)


def case_table(run_path: str | Path) -> pd.DataFrame:
    """The run's case table (`benchsuite.results.load`: statistics, not raw step times), every
    cell a scalar, counts and integer parameters as integers (a batch size reads ``1024``, not
    ``1024.0``, also where another case has none)."""
    df = results.load(results.results_path(run_path))
    if df.empty:
        return df
    df = df.apply(lambda column: column.map(_cell))
    whole_params = [c for c in df.columns  # m=1024 and 972161024 bytes, not 1024.0
                    if (c.startswith("param_") or c.endswith("_bytes")) and _whole(df[c])]
    for name in [*integer_columns(), *whole_params]:
        if name in df.columns:
            try:
                df[name] = pd.array([None if v is None or v != v else int(v) for v in df[name]], dtype="Int64")
            except (TypeError, ValueError):  # not a whole number after all: leave the column as it is
                pass
    return df


def export(run_path: str | Path, fmt: str, out: str | Path) -> dict[str, Any]:
    """Write ``run_path`` as ``fmt`` to ``out``; return what was written (path, counts, left out)."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; allowed: {', '.join(FORMATS)}")
    out = files.expand(out)
    if out.is_dir():
        raise ExportError(f"-o {str(out)!r} is a directory; give a file name")
    if fmt.endswith("parquet") and importlib.util.find_spec("pyarrow") is None:
        raise ExportError(f"--format parquet needs pyarrow, which is not installed: {PARQUET_HINT}")
    if fmt == "pytest-benchmark":
        made = to_pytest_benchmark(run_path)
        files.write_text(out, json.dumps(made.document, indent=4, allow_nan=False, default=str) + "\n")
        return {"path": out, "written": len(made.document["benchmarks"]), "left_out": made.left_out}
    table = results.times(results.results_path(run_path)) if fmt in TIMES_FORMATS else case_table(run_path)
    if fmt in ("csv", "times-csv"):
        files.write_text(out, table.to_csv(index=False))
    else:
        buffer = io.BytesIO()
        table.to_parquet(buffer, index=False, engine="pyarrow")
        files.write_bytes(out, buffer.getvalue())
    return {"path": out, "written": len(table), "left_out": []}
