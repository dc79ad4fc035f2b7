"""Doctored copies of a real run: every step time scaled, for regression round trips."""

from __future__ import annotations

import json
from pathlib import Path

from benchsuite.results import RESULTS_FILE, results_path

_SLOWER = ("step_s_median", "step_s_mean", "step_s_std", "step_s_min", "step_s_max", "step_s_iqr",
           "step_s_p90", "step_s_p99", "step_s_total")
_FASTER = ("samples_per_s", "tflop_per_s", "pct_of_peak")


def scaled_run(source: str | Path, parent: str | Path, factor: float, suffix: str | None = None) -> Path:
    """Copy run ``source`` into ``parent/<run-id>-<suffix>/`` with step times x ``factor``.

    ``factor`` > 1 makes a run slower on purpose, < 1 faster; throughput metrics are
    divided by it so the record stays consistent. Returns the new run directory.
    """
    src = results_path(source)
    lines = [json.loads(line) for line in src.read_text(encoding="utf-8").splitlines() if line.strip()]
    header = lines[0]
    run_id = f"{header['run_id']}-{suffix or f'x{factor:g}'}"
    out = Path(parent) / run_id
    out.mkdir(parents=True)
    records = []
    for record in lines:
        record = dict(record)
        if record.get("record") == "header":
            record["run_id"] = run_id
            record["tag"] = f"step times x {factor:g} (doctored for a test)"
        if record.get("record") == "case" and record.get("timing"):
            timing = dict(record["timing"])
            for key in ("times_s", "block_times_s", "span_s"):  # schema 1 or 2
                if key in timing:
                    timing[key] = [t * factor for t in timing[key]] if isinstance(timing[key], list) \
                        else timing[key] * factor
            record["timing"] = timing
            metrics = dict(record.get("metrics") or {})
            for key in _SLOWER:
                if metrics.get(key) is not None:
                    metrics[key] *= factor
            for key in _FASTER:
                if metrics.get(key) is not None:
                    metrics[key] /= factor
            record["metrics"] = metrics
        records.append(record)
    (out / RESULTS_FILE).write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return out
