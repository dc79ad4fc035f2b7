"""One claims run: the cases the claims need and the training check, judged and written.

A claims run is a normal run directory (``results.jsonl``, ``samples.csv``, measured through
`benchsuite.session.run_plan` like any run) plus the files of `benchsuite.claims.store`.
Cases that the runs given with ``--run`` already hold are reused, not measured again
(`benchsuite.claims.planning.reusable`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from benchsuite import keys, peaks, results, session
from benchsuite.claims import planning, store, training, verdicts
from benchsuite.claims.planning import ClaimsSettings
from benchsuite.devices import Device
from benchsuite.settings import RunOptions
from benchsuite.workload import Registry

#: Datasheets always shown for claim 5: one data-centre part per generation (Volta, Ampere, Hopper).
GENERATION_LADDER = ("V100 SXM2", "A100 80GB SXM", "H100 SXM", "H200 SXM")


@dataclass
class ClaimsRun:
    """Where a claims measurement landed and what it found."""

    dir: Path
    results_path: Path
    claims: list[dict]
    evidence: dict
    measured: int = 0
    reused: int = 0
    files: dict[str, Path] = field(default_factory=dict)


def _datasheets(names: list[str]) -> list[dict]:
    """Datasheets of the measured GPUs, then of one part per generation (oldest first), without repeats."""
    by_model = {s.model: s for s in peaks.DATASHEETS}
    sheets = [peaks.lookup(n) for n in names] + [by_model.get(m) for m in GENERATION_LADDER]
    seen, out = set(), []
    for sheet in sheets:
        if sheet is not None and sheet.model not in seen:
            seen.add(sheet.model)
            out.append(sheet.to_dict())
    return out


def _gpu_note(devices: list[Device]) -> str | None:
    if any(d.type == "cuda" for d in devices):
        return None
    import torch

    if torch.version.cuda is None:
        return "no CUDA GPU (this torch is a CPU-only build)"
    return "no CUDA GPU among the devices measured" if torch.cuda.is_available() else "no CUDA GPU visible to torch"


def measure(devices: list[Device], registry: Registry, settings: ClaimsSettings, out_dir: Path,
            options: RunOptions, *, given: list[dict] = (), given_runs: list[str | Path] = (),
            header_options: dict | None = None, use_reference: bool = True,
            on_start=None, on_end=None, on_epoch=None, on_stage: Callable[[str], None] | None = None) -> ClaimsRun:
    """Run the missing cases (through `benchsuite.session.run_plan`, like any run) and the training
    check, judge every claim, write the files.

    ``options``: how the cases are measured; ``given`` holds the records of the ``--run`` runs
    (`benchsuite.claims.planning.read_records`), ``given_runs`` their paths; ``header_options`` the
    user's options, for the header. Ctrl-C raises `benchsuite.session.RunInterrupted`.
    """
    given = list(given)
    cases = planning.plan_cases(devices, registry, settings)
    by_id = {d.id: d for d in devices}
    reused = {c: r for c in cases if (r := planning.reusable(c, by_id[c.device], given)) is not None}
    to_run = [c for c in cases if c not in reused]
    trained: list[dict] = []

    def on_ready(run: session.Run) -> None:
        if on_stage:
            on_stage(f"{len(to_run)} cases to measure, {len(reused)} reused from --run -> {run.results_path}")

    def train(telemetry) -> None:
        if not settings.data:
            return
        for device in devices:
            if on_stage:
                on_stage(f"training check on {device.id}: {settings.epochs} epoch(s), batch "
                         f"{settings.train_batch_size}")
            trained.append(_train_safely(settings.data, device, registry, settings, telemetry, on_epoch))

    done = session.run_plan(
        session.Plan(to_run, devices, registry), options, out_dir, tag="claims", header_options=header_options,
        header_settings={"claims": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(settings).items()}},
        on_ready=on_ready, on_start=on_start, on_end=on_end, then=train)
    measured_now = [planning.flat_record(c, done.header, "measured now") for c in done.records]
    planned = {keys.text(c.to_dict()) for c in cases}
    reference = _reference_records() if use_reference else []
    gpu_results = [r for r in measured_now + given + reference if verdicts.is_gpu(r)]
    names = list(dict.fromkeys(r["device_name"] for r in gpu_results if r.get("device_name")))
    # On a machine without a GPU (and no GPU run given) the shipped reference GPUs stand in for claims 1-3
    stand_in = planning.reference_gpu_cases(measured_now, given, reference, planned)
    evidence = {
        "run_id": done.run_id, "status": done.status,
        "cases": planning.evidence_cases(measured_now, given, planned, stand_in),
        "gpu_results": gpu_results,
        "training": trained,
        "training_note": None if settings.data else "CIFAR-10 not provided",
        "cpu_watts": settings.cpu_watts, "gpu_note": _gpu_note(devices),
        "datasheets": _datasheets(names), "settings": done.header["settings"]["claims"],
        "given_runs": [str(p) for p in given_runs],
    }
    claims = verdicts.evaluate(evidence)
    files = {"results": done.results_path, **store.write(done.dir, done.run_id, claims, evidence)}
    if done.samples_path is not None:
        files["samples"] = done.samples_path
    return ClaimsRun(done.dir, done.results_path, claims, evidence, measured=len(to_run), reused=len(reused),
                     files=files)


def _train_safely(data, device, registry, settings, telemetry, on_epoch) -> dict:
    """The training check; a failure is a result (status error with the reason), like a case."""
    try:
        return training.train_check(data, device, registry, settings, telemetry, on_epoch)
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        return {"device": device.id, "device_name": device.name, "status": "error",
                "reason": f"{type(exc).__name__}: {exc}".strip()}


def _reference_records() -> list[dict]:
    """The shipped reference runs' flat records (`benchsuite.claims.planning.reference_records`);
    none when the folder holds no readable run."""
    try:
        return planning.reference_records(results.reference_dir())
    except results.ResultsError:
        return []
