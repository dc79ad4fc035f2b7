"""The records of a results file, typed in one place: the header, each case (identity,
timing, metrics and telemetry sections) and the end.

A case record is a plain dict, written as one JSON line (`benchsuite.results.RunStore`);
this module names its fields and their types (`Field`), builds its sections in file order
(`timing_section`, `numbers`, `build_case`, `rank_entry`), checks a record read back
(`validate_header`, `validate_case`, `validate_end`: a wrong type is a `RecordError` naming
the field) and flattens a case into one table row (`flatten`). The metric fields are the
ones `benchsuite.metrics` declares; the telemetry fields those of
`benchsuite.telemetry.window`. A field that is not declared is allowed (a newer optional
field, a workload's own metric) and kept; a declared one must have its type.
Torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from benchsuite import metrics
from benchsuite.telemetry.window import GPU_SUMMARY_FIELDS, HOST_SUMMARY_FIELDS

NUMBER = float  # a JSON number: int or float, never bool
_TYPE_NAMES = {NUMBER: "a number", int: "an integer", str: "a string", bool: "true or false",
               list: "a list", dict: "an object"}


class RecordError(ValueError):
    """A record field with a value of the wrong type; ``field`` is its dotted path."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"field {field!r} {message}")
        self.field = field


@dataclass(frozen=True)
class Field:
    """One field of a record: its JSON type (`NUMBER`, int, str, bool, list, dict), whether
    it must be there, whether null is allowed, and for lists the type of each item."""

    name: str
    type: type
    description: str = ""
    required: bool = False
    nullable: bool = True
    items: type | None = None


def _fields(*fields: Field) -> dict[str, Field]:
    return {f.name: f for f in fields}


#: The first line of a results file (`benchsuite.runner.run_header` and `results.RunStore`).
HEADER = _fields(
    Field("record", str, "'header'", required=True, nullable=False),
    Field("schema", int, "results schema version, a positive integer", required=True, nullable=False),
    Field("run_id", str, "sortable and unique: 20261125-183000-4f2a"),
    Field("started_at", str, "ISO 8601, UTC"),
    Field("benchsuite", str, "version that wrote the file"),
    Field("tag", str, "the user's label of the run"),
    Field("command", str, "the command line"),
    Field("options", dict, "the command's options"),
    Field("host", dict, "host name, OS, Python, torch, CPU, driver"),
    Field("devices", list, "one record per device (`benchsuite.devices.record`)", items=dict),
    Field("threads", int, "torch CPU threads"),
    Field("settings", dict, "timing per device type, sampling rate, cool-down, idle time"),
    Field("telemetry", dict, "the telemetry's static facts"),
    Field("calibrations", dict, "device id -> calibration record used for % of achievable"),
    Field("distributed", dict, "world size, backend and ranks of a torchrun launch"),
    Field("planned", list, "the planned case ids, in order (a run cut short: `results.not_run`); "
                           "missing in runs written before it", items=str),
    Field("compacted", dict, "how the file was made smaller after it was written (the shipped reference runs: "
                             "benchmarks/selfcheck/compact_reference.py): what changed, by which script, the "
                             "original file's size and sha256; missing in a file as written"),
)

#: A case's identity and outcome (the top level of a case record), in file order after the
#: measured sections.
IDENTITY = _fields(
    Field("record", str, "'case'", required=True, nullable=False),
    Field("started_at", str, "ISO 8601, UTC"),
    Field("auto_batch_probes", list, "the batch sizes `--batch-size auto` tried", items=dict),
    Field("best_batch_probes", list, "the batch sizes `--batch-size best` tried, with step time and "
                                     "samples/s", items=dict),
    Field("node_telemetry", dict, "telemetry id -> window summary of this node's other ranks' devices"),
    Field("traceback", str, "the last frames of an error"),
    Field("id", str, "printable case id, e.g. cnn/train/cuda:0/fp16/bs128", required=True, nullable=False),
    Field("workload", str),
    Field("mode", str, "train or infer"),
    Field("device", str, "torch device id: cpu, cuda:0"),
    Field("precision", str),
    Field("batch_size", int, "per rank; null: no batch axis"),
    Field("auto_batch", bool, "the batch size was found by --batch-size auto"),
    Field("best_batch", bool, "the batch size was found by --batch-size best (missing: false)"),
    Field("world_size", int, "ranks that ran the case together (missing: 1)"),
    Field("exec", str, "execution mode (missing: eager)"),
    Field("params", dict, "workload parameters: scalars or lists of scalars"),
    Field("notes", list, "remarks on the case (e.g. not native on this CPU)", items=str),
    Field("device_name", str, "the device's model name"),
    Field("status", str, "ok, skipped, oom or error", required=True, nullable=False),
    Field("reason", str, "why a case did not run or failed"),
    Field("ended_at", str, "ISO 8601, UTC"),
    Field("rank", int, "the rank that measured it (torchrun)"),
    Field("hostname", str, "the host of that rank"),
    Field("telemetry_device", str, "telemetry id of the rank's device"),
    Field("ranks", list, "each rank's own figures (`rank_entry`)", items=dict),
)

#: How the steps were timed (`benchsuite.timing.Timings` and `TimingSettings` attributes).
TIMING = _fields(
    Field("method", str, "cuda-event or perf_counter"),
    Field("warmup_iters", int, "warm-up steps"),
    Field("warmup_s", NUMBER, "warm-up time, s"),
    Field("warmup_settled", bool, "the steady-state rule found it steady (false: the cap; null: not judged)"),
    Field("warmup_rule", str, "what ended warm-up: trend, noisy, cap or 'not judged (<why>)' (schema 2)"),
    Field("warmup_drift_pct", NUMBER, "the last judgement's fitted drift of mean step time over 4 s, %"),
    Field("warmup_rough_pct", NUMBER, "and its span-to-span roughness, %"),
    Field("warmup_temp_start_c", NUMBER, "the device's temperature as warm-up began, °C"),
    Field("warmup_note", str, "why warm-up was not judged or not steady"),
    Field("cache_state", str, "warm-l2 or flushed"),
    Field("times_s", list, "every timed step, s (schema 1 files)", items=NUMBER),
    Field("block_times_s", list, "each timed block of steps_per_block steps, s (schema 2)", items=NUMBER),
    Field("steps_per_block", int, "steps in each timed block (1: every step timed on its own)"),
    Field("step_s_q1", NUMBER, "25th percentile of every step's time, kept when the steps were summed into "
                               "blocks after the run (a compacted file: header `compacted`), s"),
    Field("step_s_q3", NUMBER, "and the 75th percentile, s"),
    Field("span_s", NUMBER, "from the first timed block's start to the last one's end, s"),
    Field("burst", dict, "the burst blocks before warm-up: block_times_s, steps_per_block, idle_s, warmup_steps "
                         "(`benchsuite.timing.measure_burst`; missing before issue 16)"),
    Field("latency_times_s", list, "a latency case's single steps, timed after the blocks and outside the "
                                   "telemetry window (`benchsuite.timing.latency_pass`), s; missing in other "
                                   "cases and in latency cases written before the pass (their steps were timed "
                                   "one by one)", items=NUMBER),
    Field("min_time_s", NUMBER, "the timing rule: at least this long, s"),
    Field("min_iters", int, "and at least this many steps"),
)

#: The metrics section: every `benchsuite.metrics` figure (a number), and these words.
METRICS = _fields(
    *(Field(m.name, NUMBER, f"{m.description} ({m.unit})") for m in metrics.METRICS.values()),
    *(Field(name, bool, description) for name, description in metrics.FLAGS.items()),
    Field("sample_unit", str, "what one sample is: image, product, token"),
    Field("calibration", str, "id of the calibration record used"),
    Field("cache_state", str, "warm-l2 or flushed"),
    Field("warmup_settled", bool),
    Field("throttled", bool, "the window's throttled share passed the threshold"),
    Field("collective_op", str),
    Field("collective_call", str),
    Field("backend", str, "the process group's backend"),
    Field("data_parallel", str, "DistributedDataParallel when the model was wrapped"),
)

_TELEMETRY_TYPES: dict[str, type] = {
    "device": str, "case_id": str, "energy_method": str, "energy_edges": str, "power_source": str,
    "telemetry_note": str,
    "throttle_reasons": list, "throttle_slowing_reasons": list, "other_pids": list, "quality_flags": list,
    "not_measured": dict, "samples": int,
}
#: A telemetry window's summary (`benchsuite.telemetry.window`): the rest are numbers.
TELEMETRY = _fields(*(Field(name, _TELEMETRY_TYPES.get(name, NUMBER))
                      for name in dict.fromkeys(GPU_SUMMARY_FIELDS + HOST_SUMMARY_FIELDS)))

#: The numerics check (`benchsuite.numerics`): optional, missing in records before issue 16.
NUMERICS = _fields(
    Field("status", str, "ok, flagged, not checked, not applicable or error"),
    Field("errors", dict, "quantity (output, loss, grad) -> norm-wise relative error against fp32 eager"),
    Field("tolerances", dict, "quantity -> the tolerance of the case's precision"),
    Field("rows", int, "rows of the batch the check ran on"),
    Field("seconds", NUMBER, "what the check cost, s (before timing, outside the window)"),
    Field("reference", str, "what the case was compared with"),
    Field("note", str, "why flagged, not checked or failed"),
)

#: How a compiled or captured step was prepared (`benchsuite.exec_modes.Prepared.report`):
#: optional, only on cases whose exec is not eager.
COMPILE = _fields(
    Field("recipe", str, "how the step was built in its exec mode"),
    Field("backend", str, "torch.compile backend (inductor; eager under the test knob)"),
    Field("mode", str, "torch.compile mode"),
    Field("compile_s", NUMBER, "the first, compiling call, s (never inside the timed window)"),
    Field("capture_s", NUMBER, "side-stream warm-up and CUDA graph capture, s"),
    Field("graphs", int, "FX graphs dynamo compiled for the step"),
    Field("graph_breaks", int, "graph breaks (0: the whole step is one graph)"),
    Field("fxgraph_cache_hits", int, "inductor FX-graph cache hits (a hit makes the compile short)"),
    Field("fxgraph_cache_misses", int, "inductor FX-graph cache misses"),
    Field("autograd_cache_hits", int, "AOTAutograd cache hits"),
    Field("autograd_cache_misses", int, "AOTAutograd cache misses"),
    Field("recompiles", int, "graphs compiled after the step was prepared (in warm-up or the timed window)"),
)

#: The measured sections of a case record.
SECTIONS: dict[str, dict[str, Field]] = {"timing": TIMING, "metrics": METRICS, "telemetry": TELEMETRY,
                                         "numerics": NUMERICS, "compile": COMPILE}

#: The figures each rank keeps in a merged record's ``ranks`` list.
RANK_FIGURES = ("samples_per_s", "step_s_median", "step_s_iqr", "samples_per_step", "tflop_per_s",
                "algbw_gbps", "busbw_gbps", "mem_peak_bytes")
#: One entry of a merged record's ``ranks`` list (`benchsuite.ranks`, `rank_entry`).
RANK = _fields(
    Field("rank", int), Field("hostname", str), Field("device", str), Field("device_name", str),
    Field("status", str), Field("reason", str), *(METRICS[name] for name in RANK_FIGURES),
    Field("telemetry", dict, "the rank's window summary"),
)

#: The last line of a complete results file.
END = _fields(
    Field("record", str, "'end'", required=True, nullable=False),
    Field("status", str, "completed, interrupted or failed"),
    Field("ended_at", str),
    Field("cases", int, "case records written"),
    Field("reason", str, "why the run ended early"),
    Field("telemetry", dict, "the telemetry's facts at the end"),
)


# ----------------------------------------------------------------------------------------
# Building

def clean_number(value: Any) -> Any:
    """NaN and infinity are not JSON: store them as null (not measured)."""
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    return value


def numbers(section: Mapping[str, Any]) -> dict[str, Any]:
    """A section with NaN and infinity as null."""
    return {k: clean_number(v) for k, v in section.items()}


def timing_section(timings: Any, settings: Any) -> dict[str, Any]:
    """The timing section, in `TIMING` order, from a `benchsuite.timing.Timings` and the
    `TimingSettings` it ran under (each field is an attribute of one of them)."""
    out = {}
    for name in TIMING:
        source = timings if hasattr(timings, name) else settings if hasattr(settings, name) else None
        if source is None:  # times_s: schema 1 only
            continue
        value = getattr(source, name)
        if value is None and name in OMITTED_WHEN_NONE:
            continue
        out[name] = list(value) if isinstance(value, tuple) else value
    return out


def latency_figures(case: Mapping[str, Any]) -> dict[str, Any]:
    """``latency_s_p50`` and ``latency_s_p99`` of a case record: those in its metrics section, else
    derived from ``timing.latency_times_s`` (`benchsuite.metrics.latency`); a latency case written
    before the latency pass (no such field) timed every step on its own, so its ``step_s_median``
    and ``step_s_p99`` are its figures. Empty for any other case."""
    own = case.get("metrics") or {}
    if any(own.get(name) is not None for name in metrics.LATENCY):
        return {name: own.get(name) for name in metrics.LATENCY}
    timing = case.get("timing") or {}
    if timing.get("latency_times_s"):
        return metrics.latency(timing["latency_times_s"])
    if metrics.is_latency(case.get("mode"), case.get("batch_size")) and "step_s_median" in own:
        return {"latency_s_p50": own.get("step_s_median"), "latency_s_p99": own.get("step_s_p99")}
    return {}


def blocks_of(timing: Mapping[str, Any]) -> tuple[list[float], int]:
    """(block seconds, steps per block) of a timing section: schema 2's blocks, or a schema-1
    record's step times as blocks of one step."""
    blocks = timing.get("block_times_s")
    if blocks is not None:
        return list(blocks), int(timing.get("steps_per_block") or 1)
    return list(timing.get("times_s") or []), 1


def timed_steps(record: Mapping[str, Any]) -> int:
    """Steps the stored times of a case record hold (blocks × steps per block)."""
    blocks, per_block = blocks_of(record.get("timing") or {})
    return len(blocks) * per_block


def migrate_1_to_2(record: dict[str, Any]) -> dict[str, Any]:
    """Schema 1 -> 2: a case's ``timing.times_s`` (every step) stays, and is also its blocks of
    one step (``block_times_s``, the same list; ``steps_per_block`` 1). Other records are as they were."""
    timing = record.get("timing")
    if record.get("record") == "case" and isinstance(timing, dict) and isinstance(timing.get("times_s"), list) \
            and "block_times_s" not in timing:
        record = {**record, "timing": {**timing, "block_times_s": timing["times_s"], "steps_per_block": 1}}
    return record


#: Timing fields left out of a record when not measured (rather than written as null).
OMITTED_WHEN_NONE = ("latency_times_s",)


#: The telemetry section of a case measured with telemetry off.
TELEMETRY_OFF = {"telemetry_note": "telemetry off (--no-telemetry)", "energy_j": None}


def build_case(measured: Mapping[str, Any], case: Mapping[str, Any], *, device_name: str | None,
               status: str, reason: str | None, ended_at: str) -> dict[str, Any]:
    """A case record in file order: what was measured (``started_at``, the sections), the
    case's identity (`benchsuite.plan.Case.to_dict`), then the outcome."""
    unknown = [k for k in (*measured, *case) if k not in IDENTITY and k not in SECTIONS]
    if unknown:
        raise ValueError(f"case record fields {unknown} are not declared in benchsuite.record.IDENTITY")
    return {**measured, **case, "device_name": device_name, "status": status, "reason": reason,
            "ended_at": ended_at}


def rank_entry(rank: int, record: Mapping[str, Any], telemetry: dict | None) -> dict[str, Any]:
    """One rank's entry in a merged record (`RANK`): who, where, its outcome, its own
    `RANK_FIGURES` (those it has) and its window summary."""
    own = record.get("metrics") or {}
    entry: dict[str, Any] = {"rank": rank, **{k: record.get(k) for k in ("hostname", "device", "device_name",
                                                                          "status", "reason")}}
    entry.update({k: own[k] for k in RANK_FIGURES if k in own})
    entry["telemetry"] = telemetry
    return entry


# ----------------------------------------------------------------------------------------
# Checking what was read back

def _type_ok(value: Any, kind: type) -> bool:
    if kind is NUMBER:
        return metrics.is_number(value)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


#: The exact Python types a list item of each declared type may have (JSON null included).
_ITEM_TYPES = {NUMBER: {int, float, type(None)}, int: {int, type(None)}, str: {str, type(None)},
               bool: {bool, type(None)}, list: {list, type(None)}, dict: {dict, type(None)}}


def _describe(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


def _check(values: Mapping[str, Any], fields: Mapping[str, Field], prefix: str = "") -> None:
    for f in fields.values():
        if f.name not in values:
            if f.required:
                raise RecordError(prefix + f.name, "is missing")
            continue
        value = values[f.name]
        if value is None:
            if not f.nullable:
                raise RecordError(prefix + f.name, f"is null; expected {_TYPE_NAMES[f.type]}")
            continue
        if not _type_ok(value, f.type):
            raise RecordError(prefix + f.name, f"is {_describe(value)}; expected {_TYPE_NAMES[f.type]}")
        if f.items is not None and not set(map(type, value)) <= _ITEM_TYPES[f.items]:  # fast: 100,000s of steps
            for i, item in enumerate(value):
                if item is not None and not _type_ok(item, f.items):
                    raise RecordError(f"{prefix}{f.name}[{i}]",
                                      f"is {_describe(item)}; expected {_TYPE_NAMES[f.items]}")


def schema_problem(schema: Any, newest: int) -> str | None:
    """What is wrong with a header's schema version (None: this code reads it): it must be a
    positive integer no newer than ``newest``."""
    if not _type_ok(schema, int) or schema < 1:
        return (f"header field 'schema' is {_describe(schema)}; a results schema version is a positive "
                f"integer (this benchsuite reads 1 to {newest}): not a benchsuite results file, or a damaged one")
    if schema > newest:
        return (f"written with results schema {schema}, newer than this benchsuite reads (up to {newest}); "
                "upgrade benchsuite to read it")
    return None


def validate_header(header: Mapping[str, Any]) -> None:
    """Raise `RecordError` for a header field of the wrong type (the schema is checked by
    `check_schema`)."""
    _check(header, {k: f for k, f in HEADER.items() if k != "schema"})


def validate_case(case: Mapping[str, Any]) -> None:
    """Raise `RecordError` for a case field of the wrong type, in any section, parameter or
    rank entry."""
    _check(case, IDENTITY)
    for key, value in (case.get("params") or {}).items():
        scalars = value if isinstance(value, list) else [value]
        if any(isinstance(v, (dict, list)) for v in scalars):
            raise RecordError(f"params.{key}", f"is {_describe(value)}; expected a scalar or a list of scalars")
    for name, fields in SECTIONS.items():
        section = case.get(name)
        if section is None:
            continue
        if not isinstance(section, dict):
            raise RecordError(name, f"is {_describe(section)}; expected an object")
        _check(section, fields, f"{name}.")
    for device, summary in (case.get("node_telemetry") or {}).items():
        if summary is not None and not isinstance(summary, dict):
            raise RecordError(f"node_telemetry.{device}", f"is {_describe(summary)}; expected an object")
        _check(summary or {}, TELEMETRY, f"node_telemetry.{device}.")
    for i, entry in enumerate(case.get("ranks") or []):
        _check(entry, RANK, f"ranks[{i}].")
        _check(entry.get("telemetry") or {}, TELEMETRY, f"ranks[{i}].telemetry.")


def validate_end(end: Mapping[str, Any]) -> None:
    """Raise `RecordError` for an end field of the wrong type."""
    _check(end, END)


# ----------------------------------------------------------------------------------------
# Reading

#: The timing fields a table row carries, under their row names. The raw step times stay in
#: results.jsonl (a case holds up to 100,000 of them): a row carries their statistics, and
#: ``benchsuite export --format times-csv`` writes them out in long form.
TIMING_COLUMNS = {"method": "timing_method", "warmup_iters": "warmup_iters", "warmup_s": "warmup_s",
                  "warmup_rule": "warmup_rule", "warmup_drift_pct": "warmup_drift_pct",
                  "warmup_rough_pct": "warmup_rough_pct", "warmup_temp_start_c": "warmup_temp_start_c",
                  "warmup_note": "warmup_note", "steps_per_block": "steps_per_block"}


def flatten(case: Mapping[str, Any], header: Mapping[str, Any]) -> dict[str, Any]:
    """One flat row of a case: the run (id, tag, host name), the identity, parameters as
    ``param_*`` (lists as ``4x2``), every metric, the telemetry (``telemetry_<name>`` where
    a name is taken: the window's ``device`` is NVML's number, never the case's) and the
    timing (`TIMING_COLUMNS`)."""
    row: dict[str, Any] = {
        "run_id": header.get("run_id"),
        "tag": header.get("tag"),
        "hostname": (header.get("host") or {}).get("hostname"),
    }
    for key, value in case.items():
        if key not in ("record", "params", *SECTIONS):
            row[key] = value
    for key, value in (case.get("params") or {}).items():
        row[f"param_{key}"] = "x".join(map(str, value)) if isinstance(value, list) else value
    row.update(case.get("metrics") or {})
    row.update(latency_figures(case))
    for key, value in (case.get("telemetry") or {}).items():
        row[f"telemetry_{key}" if key in row else key] = value
    timing = case.get("timing") or {}
    for key, column in TIMING_COLUMNS.items():
        row[column] = timing.get(key)
    row.update(quartiles(timing))
    memory = {d.get("id"): d.get("memory_bytes") for d in header.get("devices") or [] if isinstance(d, Mapping)}
    row["device_memory_bytes"] = memory.get(case.get("device"))
    row.update(_row_checks(case))
    return row


#: The compile fields a table row carries, under their row names.
COMPILE_COLUMNS = {"recipe": "compile_recipe", "backend": "compile_backend", "compile_s": "compile_s",
                   "capture_s": "capture_s", "recompiles": "recompiles", "fxgraph_cache_hits": "fxgraph_cache_hits"}


def _row_checks(case: Mapping[str, Any]) -> dict[str, Any]:
    """The numerics check (``numerics``: its status; ``numerics_<quantity>_err`` each error;
    ``numerics_note``) and the compile section (`COMPILE_COLUMNS`) of a case, where it has them."""
    row: dict[str, Any] = {}
    checked = case.get("numerics")
    if isinstance(checked, Mapping):
        row["numerics"] = checked.get("status")
        row["numerics_note"] = checked.get("note")
        for quantity, error in (checked.get("errors") or {}).items():
            row[f"numerics_{quantity}_err"] = error
    compiled = case.get("compile")
    if isinstance(compiled, Mapping):
        row.update({column: compiled.get(key) for key, column in COMPILE_COLUMNS.items()})
    return row


def quartiles(timing: Mapping[str, Any]) -> dict[str, float | None]:
    """``step_s_q1`` and ``step_s_q3``: the 25th and 75th percentiles of the recorded
    per-step times (a block's seconds ÷ its steps), in seconds; None without times. With the
    median they are what `benchsuite.compare` judges noise by. A compacted file (steps summed
    into blocks after the run) keeps its steps' own quartiles in the timing section: those."""
    kept = timing.get("step_s_q1"), timing.get("step_s_q3")
    if all(metrics.is_number(q) for q in kept):
        return {"step_s_q1": float(kept[0]), "step_s_q3": float(kept[1])}
    times, per_block = blocks_of(timing)
    if not times:
        return {"step_s_q1": None, "step_s_q3": None}
    q1, q3 = np.percentile(np.asarray(times, dtype=float) / per_block, [25, 75])
    return {"step_s_q1": float(q1), "step_s_q3": float(q3)}
