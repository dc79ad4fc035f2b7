"""Measures what the article's claims need: the cases (through the runner) and the training check.

A claims run is a normal run directory (``results.jsonl``, ``samples.csv``) plus
``claims.json`` (the evidence and one verdict row per claim) and ``claims.md``. Cases
that the runs given with ``--run`` already hold (same key on the same device) are reused,
not measured again. Verdicts come from `benchsuite.verdicts` (torch-free); rendering
from `benchsuite.report.claims`.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from benchsuite import cifar, keys, peaks, plan, record, results, session, verdicts
from benchsuite.devices import Device
from benchsuite.report import claims as render
from benchsuite.settings import RunOptions
from benchsuite.workload import Registry

CLAIMS_FILE = render.CLAIMS_FILE  # what `benchsuite.report.claims.read_claims` reads
CLAIMS_MARKDOWN = "claims.md"
CLAIMS_HTML = "claims.html"
#: Datasheets always shown for claim 5: one data-centre part per generation (Volta, Ampere, Hopper).
GENERATION_LADDER = ("V100 SXM2", "A100 80GB SXM", "H100 SXM", "H200 SXM")


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


# -- planning ------------------------------------------------------------------------------
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


def key_of(case: dict) -> str:
    """A case less its device, from a Case's or a result's dict: what joins results across runs
    (`benchsuite.keys.text` of the `~benchsuite.keys.ACROSS_DEVICES` key)."""
    return keys.text(case)


#: The fields of a claims record, in order: ``key``, ``params``, ``compute_capability`` and
#: ``source`` are its own, the rest come from the case's flat row (`benchsuite.record.flatten`).
FLAT_FIELDS = ("id", "key", "workload", "mode", "device", "device_name", "precision", "batch_size", "params",
               "status", "reason", "samples_per_s", "sample_unit", "step_s_median", "step_s_p99", "tflop_per_s",
               "samples_per_j", "energy_j", "energy_method", "power_mean_w", "telemetry_note", "hostname", "run_id",
               "compute_capability", "source")


def flat_record(case: dict, header: dict, source: str) -> dict[str, Any]:
    """The fields the verdicts use (`FLAT_FIELDS`), from one case record of a results file."""
    device = next((d for d in header.get("devices") or [] if d.get("id") == case.get("device")), {})
    own = {"key": key_of(case), "params": case.get("params") or {},
           "compute_capability": device.get("compute_capability"), "source": source}
    row = record.flatten(case, header)
    return {k: own[k] if k in own else row.get(k) for k in FLAT_FIELDS}


def load_runs(paths: list[str | Path], source: str) -> list[dict]:
    """Flat records of every case in the given runs (run directories, results files or folders)."""
    return [flat_record(c, run.header, f"{source} {run.path.parent}") for run in results.read_runs(paths)
            for c in run.cases]


def reusable(case: plan.Case, device: Device, given: list[dict]) -> dict | None:
    """A given record of the same key on the same device (id and name) that finished (or, for the
    article's network, failed as it must)."""
    key = key_of(case.to_dict())
    wanted = ("ok", "error") if case.param_dict.get("variant") == "article" else ("ok",)
    return next((r for r in given if r["key"] == key and r["device"] == case.device
                 and r["device_name"] == device.name and r["status"] in wanted), None)


def evidence_cases(measured: list[dict], given: list[dict], keys: set[str]) -> list[dict]:
    """The records claims 1-4a judge: those measured now, then given ones of the planned keys
    (any device: a GPU run passed with --run counts on a CPU-only machine), one per
    (key, device, host), measured now first."""
    out, seen = [], set()
    for rec in [*measured, *(r for r in given if r["key"] in keys)]:
        ident = (rec["key"], rec["device"], rec.get("device_name"), rec.get("hostname"))
        if ident not in seen:
            seen.add(ident)
            out.append(rec)
    return out


# -- the training check (claim 4b) -------------------------------------------------------
def _loaders(data: str, subset: tuple[int, int] | None, batch_size: int, workers: int, seed: int):
    """The article's pipeline: per-image ToTensor+Normalize((0.5,)*3, (0.5,)*3) in a shuffled DataLoader."""
    import torch
    from torch.utils.data import DataLoader, Dataset

    class Images(Dataset):
        def __init__(self, images, labels) -> None:
            self.images, self.labels = images, labels

        def __len__(self) -> int:
            return len(self.labels)

        def __getitem__(self, i):
            return cifar.normalise(self.images[i:i + 1])[0], int(self.labels[i])

    train = cifar.load(data, train=True, limit=subset[0] if subset else None)
    test = cifar.load(data, train=False, limit=subset[1] if subset else None)
    if subset and (len(train[1]) < subset[0] or len(test[1]) < subset[1]):
        raise ClaimsError(f"--subset {subset[0]}/{subset[1]}: {data} holds only {len(train[1])} training and "
                          f"{len(test[1])} test images")
    g = torch.Generator().manual_seed(seed)
    train_loader = DataLoader(Images(*train), batch_size=batch_size, shuffle=True, num_workers=workers, generator=g)
    test_x, test_y = cifar.normalise(test[0]), torch.from_numpy(test[1])
    return train_loader, (test_x, test_y), len(train[1])


def _epoch(model, optimizer, loader, device, window=None, max_steps: int | None = None) -> dict[str, Any]:
    """One pass over ``loader``; wall time, and on a GPU the device time of the steps (CUDA events)."""
    import contextlib

    import torch

    loss_fn = torch.nn.CrossEntropyLoss()
    cuda = device.type == "cuda"
    events: list = []
    model.train()
    if cuda:
        torch.cuda.synchronize(device)
    on_device = torch.cuda.device(device) if cuda else contextlib.nullcontext()  # events record on its stream
    with on_device, window if window is not None else contextlib.nullcontext():
        t0 = time.perf_counter()
        for step, (x, y) in enumerate(loader):
            if max_steps is not None and step >= max_steps:
                break
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            if cuda:
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(x), y).backward()
            optimizer.step()
            if cuda:
                end.record()
                events.append((start, end))
        if cuda:
            torch.cuda.synchronize(device)
        wall = time.perf_counter() - t0
    out: dict[str, Any] = {"wall_s": wall}
    if cuda:
        busy = sum(s.elapsed_time(e) for s, e in events) / 1e3
        out["busy_s"] = busy
        out["idle_share_events"] = max(0.0, 1.0 - busy / wall) if wall > 0 else None
    summary = getattr(window, "summary", None) if window is not None else None
    out["telemetry"] = summary
    return out


def _accuracy(model, test, device, batch: int = 1000) -> float:
    import torch

    model.eval()
    x, y = test
    correct = 0
    with torch.no_grad():
        for i in range(0, len(y), batch):
            out = model(x[i:i + batch].to(device))
            correct += int((out.argmax(1).cpu() == y[i:i + batch]).sum())
    return 100.0 * correct / len(y)


def _idle_nvml(summary: dict | None) -> tuple[float | None, str]:
    util = (summary or {}).get("util_gpu_mean_pct")
    if util is None:
        note = (summary or {}).get("telemetry_note") or "no telemetry"
        return None, f"GPU utilisation not measured: {note}"
    return max(0.0, 1.0 - util / 100.0), "1 − mean NVML GPU utilisation over the epoch"


EVENTS_NOTE = ("1 − (device time between CUDA events around each step) ÷ wall time; launch gaps inside a step "
               "count as busy, so this is a lower bound of the idle share")


def train_check(data: str, device: Device, registry: Registry, settings: ClaimsSettings, telemetry=None,
                on_epoch: Callable[[int, dict], None] | None = None) -> dict[str, Any]:
    """Train the fixed CNN with the article's recipe on CIFAR-10; test accuracy after each epoch.

    Returns plain data: accuracy (%), wall and cumulative seconds, energy per epoch (J, from a
    telemetry window per epoch where measured) and, on a GPU, the idle share at the
    article's batch and at ``settings.probe_batch_size``.
    """
    import torch

    torch.manual_seed(settings.seed)
    tdev = torch.device(device.id)
    loader, test, n_train = _loaders(data, settings.subset, settings.train_batch_size, settings.workers,
                                     settings.seed)
    model = registry["cnn"](variant="fixed").build_model().to(tdev)
    optimizer = torch.optim.SGD(model.parameters(), lr=settings.lr, momentum=settings.momentum)
    out: dict[str, Any] = {
        "device": device.id, "device_name": device.name, "status": "ok", "reason": None,
        "batch_size": settings.train_batch_size, "epochs": settings.epochs,
        "subset": list(settings.subset) if settings.subset else None, "train_images": n_train,
        "test_images": len(test[1]), "lr": settings.lr, "momentum": settings.momentum, "workers": settings.workers,
        "normalisation": list(cifar.MEAN), "accuracy_pct": [], "epoch_s": [], "cumulative_s": [],
        "energy_j": [], "cumulative_energy_j": [], "energy_method": None, "energy_note": None,
    }
    epochs = []
    for n in range(1, settings.epochs + 1):
        window = (telemetry.window_for(device, f"claims-train/{device.id}/bs{settings.train_batch_size}/epoch{n}")
                  if telemetry is not None else None)
        epoch = _epoch(model, optimizer, loader, tdev, window)
        accuracy = _accuracy(model, test, tdev)
        summary = epoch["telemetry"] or {}
        energy = summary.get("energy_j")
        out["accuracy_pct"].append(accuracy)
        out["epoch_s"].append(epoch["wall_s"])
        out["cumulative_s"].append(sum(out["epoch_s"]))
        out["energy_j"].append(energy)
        previous = out["cumulative_energy_j"][-1] if out["cumulative_energy_j"] else 0.0
        out["cumulative_energy_j"].append(previous + energy if energy is not None and previous is not None else None)
        out["energy_method"] = out["energy_method"] or summary.get("energy_method")
        if energy is None:
            out["energy_note"] = summary.get("telemetry_note") or ("telemetry disabled" if telemetry is None
                                                                   else "energy not measured")
        epochs.append(epoch)
        if on_epoch is not None:
            on_epoch(n, {"accuracy_pct": accuracy, "wall_s": epoch["wall_s"], "energy_j": energy})
    if device.type == "cuda":
        out["idle"] = _idle_record(settings.train_batch_size, epochs)
        out["idle_probes"] = [_idle_probe(data, device, registry, settings, telemetry)] \
            if settings.probe_batch_size != settings.train_batch_size else []
    return out


def _idle_record(batch_size: int, epochs: list[dict]) -> dict[str, Any]:
    wall = sum(e["wall_s"] for e in epochs)
    busy = sum(e.get("busy_s") or 0.0 for e in epochs)
    shares = [_idle_nvml(e["telemetry"]) for e in epochs]
    nvml = [s for s, _ in shares if s is not None]
    return {"batch_size": batch_size, "wall_s": wall, "busy_s": busy,
            "idle_share_events": max(0.0, 1.0 - busy / wall) if wall > 0 else None,
            "idle_share_events_note": EVENTS_NOTE,
            "idle_share_nvml": sum(nvml) / len(nvml) if nvml else None,
            "idle_share_nvml_note": shares[-1][1] if shares else "no epochs"}


def _idle_probe(data: str, device: Device, registry: Registry, settings: ClaimsSettings, telemetry) -> dict:
    """One epoch at the larger batch through the same input pipeline: how idle is the GPU there."""
    import torch

    torch.manual_seed(settings.seed)
    tdev = torch.device(device.id)
    loader, _, _ = _loaders(data, settings.subset, settings.probe_batch_size, settings.workers, settings.seed)
    model = registry["cnn"](variant="fixed").build_model().to(tdev)
    optimizer = torch.optim.SGD(model.parameters(), lr=settings.lr, momentum=settings.momentum)
    _epoch(model, optimizer, loader, tdev, max_steps=3)  # warm-up: cuDNN and allocator
    window = (telemetry.window_for(device, f"claims-train/{device.id}/bs{settings.probe_batch_size}/probe")
              if telemetry is not None else None)
    return _idle_record(settings.probe_batch_size, [_epoch(model, optimizer, loader, tdev, window)])


# -- the whole measurement ---------------------------------------------------------------
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
    (`load_runs`), ``given_runs`` their paths; ``header_options`` the user's options, for the header.
    Ctrl-C raises `benchsuite.session.RunInterrupted`.
    """
    given = list(given)
    cases = plan_cases(devices, registry, settings)
    by_id = {d.id: d for d in devices}
    reused = {c: r for c in cases if (r := reusable(c, by_id[c.device], given)) is not None}
    to_run = [c for c in cases if c not in reused]
    training: list[dict] = []

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
            training.append(_train_safely(settings.data, device, registry, settings, telemetry, on_epoch))

    done = session.run_plan(
        session.Plan(to_run, devices, registry), options, out_dir, tag="claims", header_options=header_options,
        header_settings={"claims": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(settings).items()}},
        on_ready=on_ready, on_start=on_start, on_end=on_end, then=train)
    measured_now = [flat_record(c, done.header, "measured now") for c in done.records]
    keys = {key_of(c.to_dict()) for c in cases}
    reference = _reference_records() if use_reference else []
    gpu_results = [r for r in measured_now + given + reference if str(r.get("device", "")).startswith("cuda")]
    names = list(dict.fromkeys(r["device_name"] for r in gpu_results if r.get("device_name")))
    evidence = {
        "run_id": done.run_id, "status": done.status, "cases": evidence_cases(measured_now, given, keys),
        "gpu_results": gpu_results,
        "training": training,
        "training_note": None if settings.data else "CIFAR-10 not provided",
        "cpu_watts": settings.cpu_watts, "gpu_note": _gpu_note(devices),
        "datasheets": _datasheets(names), "settings": done.header["settings"]["claims"],
        "given_runs": [str(p) for p in given_runs],
    }
    claims = verdicts.evaluate(evidence)
    files = {"results": done.results_path, "claims": done.dir / CLAIMS_FILE, "markdown": done.dir / CLAIMS_MARKDOWN,
             "html": done.dir / CLAIMS_HTML}
    files["claims"].write_text(json.dumps(_finite({"schema": 1, "run_id": done.run_id, "claims": claims,
                                                   "evidence": evidence}), indent=2, default=str) + "\n",
                               encoding="utf-8")
    files["markdown"].write_text(render.markdown(claims), encoding="utf-8")
    files["html"].write_text(render.page_html(claims), encoding="utf-8")
    if done.samples_path is not None:
        files["samples"] = done.samples_path
    return ClaimsRun(done.dir, done.results_path, claims, evidence, measured=len(to_run), reused=len(reused),
                     files=files)


def _finite(value: Any) -> Any:
    """NaN and infinity are not JSON: null (not measured), all the way down."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return results.clean_number(value)


def _train_safely(data, device, registry, settings, telemetry, on_epoch) -> dict:
    """The training check; a failure is a result (status error with the reason), like a case."""
    try:
        return train_check(data, device, registry, settings, telemetry, on_epoch)
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        return {"device": device.id, "device_name": device.name, "status": "error",
                "reason": f"{type(exc).__name__}: {exc}".strip()}


def _reference_records() -> list[dict]:
    try:
        return load_runs([results.reference_dir()], "reference")
    except results.ResultsError:
        return []
