"""What the claims measure, and the flat records they judge (torch-free).

The claims need the same case keys on every device (`plan_cases`). Cases that the runs
given with ``--run`` already hold (same key on the same device) are reused, not measured
again (`reusable`); the verdicts read one flat record per case (`flat_record`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchsuite import keys, plan, record, results
from benchsuite.claims import verdicts
from benchsuite.devices import Device
from benchsuite.workload import Registry


class ClaimsError(ValueError):
    """A claims option with a value that is not allowed; the message names both."""


@dataclass(frozen=True)
class ClaimsSettings:
    """What the claims measure; the defaults are the article's recipe and shapes both devices can do."""

    matmul_size: int = 2048  # M = N = K of the matmul case
    batch_size: int = 128  # the common batch size of the MLP/CNN throughput cases
    precision: str = "fp32"  # the same precision on every device
    data: str | None = None  # CIFAR-10 python batches, as the cnn workload's data=
    epochs: int = verdicts.ARTICLE_EPOCHS
    subset: tuple[int, int] | None = None  # (train images, validation images)
    train_batch_size: int = 4  # the article's batch size
    probe_batch_size: int = 128  # the larger batch the GPU idle share is compared with
    lr: float = 0.001
    momentum: float = 0.9
    workers: int = 0  # DataLoader worker processes
    cpu_watts: float | None = None  # assumed CPU power where RAPL cannot be read
    seed: int = 0


def parse_subset(text: str | None) -> tuple[int, int] | None:
    """``6000/1000`` -> (6000, 1000); None or empty -> None (the full sets)."""
    if not text:
        return None
    train, sep, val = text.partition("/")
    try:
        pair = (int(train), int(val))
    except ValueError:
        pair = (0, 0)
    if not sep or min(pair) <= 0:
        raise ClaimsError(f"--subset {text!r}: expected TRAIN/VAL image counts, positive integers, e.g. 6000/1000")
    return pair


def plan_cases(devices: list[Device], registry: Registry, settings: ClaimsSettings) -> list[plan.Case]:
    """The cases claims 1-4a need: the same keys on every device."""
    n, prec = settings.matmul_size, [settings.precision]
    sweeps = [
        plan.Sweep(["matmul"], devices, prec, None, ["infer"], {"matmul": {"m": [n], "n": [n], "k": [n]}}),
        plan.Sweep(["mlp", "cnn"], devices, prec, [settings.batch_size], ["train", "infer"], {}),
        plan.Sweep(["mlp", "cnn"], devices, prec, [1], ["infer"], {}),
        plan.Sweep(["cnn"], devices[:1], prec, [settings.train_batch_size], ["train"],
                   {"cnn": {"variant": ["article"]}}),
    ]
    cases: dict[tuple, plan.Case] = {}
    for sweep in sweeps:
        for case in plan.expand(sweep, registry):
            cases.setdefault((case.key(), case.device), case)
    return list(cases.values())


#: The fields of a claims record, in order: ``key`` (the case less its device, `benchsuite.keys.text`:
#: what joins results across runs), ``params``, ``compute_capability`` and ``source`` are its own,
#: the rest come from the case's flat row (`benchsuite.record.flatten`).
FLAT_FIELDS = ("id", "key", "workload", "mode", "device", "device_name", "precision", "batch_size", "params",
               "status", "reason", "samples_per_s", "sample_unit", "step_s_median", "step_s_p99", "latency_s_p50",
               "latency_s_p99", "tflop_per_s",
               "samples_per_j", "energy_j", "energy_method", "power_mean_w", "telemetry_note", "hostname", "run_id",
               "compute_capability", "source")


def flat_record(case: dict, header: dict, source: str) -> dict[str, Any]:
    """The fields the verdicts use (`FLAT_FIELDS`), from one case record of a results file."""
    device = next((d for d in header.get("devices") or [] if d.get("id") == case.get("device")), {})
    own = {"key": keys.text(case), "params": case.get("params") or {},
           "compute_capability": device.get("compute_capability"), "source": source}
    row = record.flatten(case, header)
    return {k: own[k] if k in own else row.get(k) for k in FLAT_FIELDS}


def read_records(paths: list[str | Path], source: str) -> list[dict]:
    """Flat records of every case in the given runs (run directories, results files or folders),
    read record by record (`benchsuite.results.read_runs`): a DataFrame would turn a missing
    batch size into NaN and the others into floats, and the keys with them."""
    return [flat_record(c, run.header, f"{source} {run.path.parent}") for run in results.read_runs(paths)
            for c in run.cases]


def reference_records(folder: str | Path) -> list[dict]:
    """Flat records of the shipped reference runs under ``folder`` (``source`` "reference <run id>":
    the verdicts name the run beside each figure it gives),
    in the order the claims prefer them when several hold a case: a claims run's first (it measured
    exactly these cases), then full runs, then ``--quick`` ones (shorter windows), each by run id."""
    def rank(run: results.Run) -> tuple[int, str]:
        settings = run.header.get("settings") or {}
        kind = 0 if "claims" in settings else 2 if settings.get("quick") else 1
        return kind, str(run.header.get("run_id") or run.path.parent.name)

    runs = sorted(results.read_runs([folder]), key=rank)
    return [flat_record(c, run.header, verdicts.REFERENCE_SOURCE + rank(run)[1]) for run in runs for c in run.cases]


def reference_gpu_cases(measured: list[dict], given: list[dict], reference: list[dict], keys: set[str]) -> list[dict]:
    """The reference runs' GPU records of the planned keys, for claims 1-3, when neither the cases
    measured now nor the ``--run`` runs hold a GPU result of them (a CPU-only machine): they are
    then compared with this machine's CPU. Empty when a GPU of the user's own was measured or given."""
    own = [r for r in (*measured, *given) if r["key"] in keys and verdicts.is_gpu(r)]
    if own:
        return []
    return [r for r in reference if r["key"] in keys and verdicts.is_gpu(r)
            and r.get("status") == "ok"]


def reusable(case: plan.Case, device: Device, given: list[dict]) -> dict | None:
    """A given record of the same key on the same device (id and name) that finished (or, for the
    article's network, failed as it must)."""
    key = keys.text(case.to_dict())
    wanted = ("ok", "error") if case.param_dict.get("variant") == "article" else ("ok",)
    return next((r for r in given if r["key"] == key and r["device"] == case.device
                 and r["device_name"] == device.name and r["status"] in wanted), None)


def evidence_cases(measured: list[dict], given: list[dict], keys: set[str], reference: list[dict] = ()) -> list[dict]:
    """The records claims 1-4a judge: those measured now, then given ones of the planned keys
    (any device: a GPU run passed with --run counts on a CPU-only machine), then the shipped
    reference GPU records `reference_gpu_cases` picks, one per (key, device, host), measured now first."""
    out, seen = [], set()
    for rec in [*measured, *(r for r in [*given, *reference] if r["key"] in keys)]:
        ident = (rec["key"], rec["device"], rec.get("device_name"), rec.get("hostname"))
        if ident not in seen:
            seen.add(ident)
            out.append(rec)
    return out
