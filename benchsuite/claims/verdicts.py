"""Verdicts on the article's claims, from measured figures only (pure Python: no torch).

`evaluate(evidence)` turns the plain evidence that `benchsuite.claims.measure` gathers (case
records, training results, datasheets) into one row per claim: the claim, the
measurement that tests it, the figures (each labelled measured, datasheet or
assumption) and a verdict with its reason. The thresholds are the constants below;
the README ("The article's claims") states the same rules.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Iterable

from benchsuite import keys, metrics, peaks
from benchsuite.report.format import times  # ratios to two significant figures, as every table

SUPPORTED = "supported"
NOT_SUPPORTED = "not supported"
NOT_MEASURED = "not measured here"
VERDICTS = (SUPPORTED, NOT_SUPPORTED, NOT_MEASURED)

#: Claim 1, "far faster": the geometric mean GPU/CPU speedup over the compared cases is at
#: least this, and no compared case is slower on the GPU (speedup below 1).
FAR_FASTER_GEOMEAN = 10.0
#: Claim 2: the GPU gives more samples per joule than the CPU in every compared case.
ENERGY_RATIO_MIN = 1.0
#: Claim 4b: the article's figure, test accuracy in percent after at most this many epochs.
ARTICLE_ACCURACY_PCT = 92.10
ARTICLE_EPOCHS = 10
ARTICLE_SUBSET = (6000, 1000)  # the article's "6000 train / 1000 validation images"
#: The error PyTorch raises for the network as printed.
SHAPE_MESSAGE = "shapes cannot be multiplied"

NO_GPU_HINT = ("run benchsuite claims on a machine with one, or pass --run with a GPU run / "
               "compare with reports/reference/")

CLAIMS = {
    "1": "GPUs run deep-learning matrix work far faster than CPUs.",
    "2": "GPUs are more energy-efficient than CPUs.",
    "3": "GPUs give faster inference and lower latency.",
    "4a": "The printed CNN (as shown in the article) runs on CIFAR-10.",
    "4b": f"The CNN trains to {ARTICLE_ACCURACY_PCT:.2f} % test accuracy on CIFAR-10 in {ARTICLE_EPOCHS} epochs "
          f"(batch 4, SGD lr 0.001 momentum 0.9, {ARTICLE_SUBSET[0]} train / {ARTICLE_SUBSET[1]} validation images).",
    "5": "Newer NVIDIA GPU generations raise compute and energy efficiency.",
}


def figure(label: str, value: Any, unit: str = "", device: str = "", kind: str = "measured",
           note: str = "") -> dict[str, Any]:
    """One figure of a claim row; ``kind`` is measured, datasheet, assumption or not measured."""
    return {"label": label, "value": value, "unit": unit, "device": device, "kind": kind, "note": note}


def row(claim_id: str, measurement: str, figures: list[dict], verdict: str, reason: str) -> dict[str, Any]:
    if verdict not in VERDICTS:
        raise ValueError(f"verdict {verdict!r} is not allowed; allowed: {', '.join(VERDICTS)}")
    return {"id": claim_id, "claim": CLAIMS[claim_id], "measurement": measurement, "figures": figures,
            "verdict": verdict, "reason": reason}


def geomean(values: Iterable[float]) -> float | None:
    values = [v for v in values if v is not None and v > 0]
    return math.exp(sum(map(math.log, values)) / len(values)) if values else None


# -- pairing ---------------------------------------------------------------------------------
def _ok(rec: dict) -> bool:
    return rec.get("status") == "ok"


def is_gpu(rec: dict) -> bool:
    """Whether a case record (or a training run) was measured on a GPU: its ``device`` is ``cuda...``."""
    return str(rec.get("device", "")).startswith("cuda")


#: The ``source`` of a flat record from the shipped reference runs, before its run id
#: (`benchsuite.claims.planning.reference_records`).
REFERENCE_SOURCE = "reference "


def _from_reference(rec: dict) -> bool:
    return str(rec.get("source") or "").startswith(REFERENCE_SOURCE)


def _run_of(rec: dict) -> str:
    return str(rec.get("run_id") or str(rec.get("source"))[len(REFERENCE_SOURCE):])


def _dev(rec: dict) -> str:
    """The device of a figure; one from the shipped reference runs says so, with its run id."""
    name = rec.get("device_name") or ""
    text = f"{rec.get('device')} {name}".strip()
    return f"{text} (shipped reference {_run_of(rec)})" if _from_reference(rec) else text


def _reference_note(records: Iterable[dict]) -> str:
    """"; the GPU figures come from ...": said in a verdict whose figures include the shipped
    reference runs' (no GPU here: they are compared with this machine's CPU); else ""."""
    runs = sorted({_run_of(r) for r in records if _from_reference(r)})
    if not runs:
        return ""
    return (f"; the GPU figures come from the shipped reference run{'s' if len(runs) > 1 else ''} "
            f"{', '.join(runs)} (reports/reference/, measured on another machine), the CPU figures from this one")


def _per(rec: dict, what: str) -> str:
    """A throughput unit in the workload's own terms: ``image/s``, ``product/J``."""
    return f"{rec.get('sample_unit') or 'sample'}/{what}"


def pairs(records: list[dict], select) -> list[tuple[dict, dict]]:
    """(GPU record, CPU record) of the same case key; the CPU of the same host is preferred."""
    by_key: dict[str, dict[str, list[dict]]] = {}
    for rec in records:
        if _ok(rec) and select(rec):
            side = "gpu" if is_gpu(rec) else "cpu"
            by_key.setdefault(rec["key"], {"gpu": [], "cpu": []})[side].append(rec)
    found = []
    for sides in by_key.values():
        for gpu in sides["gpu"]:
            cpus = sides["cpu"]
            if not cpus:
                continue
            same_host = [c for c in cpus if c.get("hostname") and c.get("hostname") == gpu.get("hostname")]
            found.append((gpu, (same_host or cpus)[0]))
    return found


def _throughput_case(rec: dict) -> bool:
    return rec.get("workload") in ("matmul", "mlp", "cnn") and (rec.get("params") or {}).get("variant") != "article" \
        and not metrics.is_latency(rec.get("mode"), rec.get("batch_size"))


def _latency_case(rec: dict) -> bool:
    return metrics.is_latency(rec.get("mode"), rec.get("batch_size")) and rec.get("workload") in ("mlp", "cnn")


def _no_gpu(records: list[dict], evidence: dict) -> str:
    why = evidence.get("gpu_note") or "no CUDA GPU"
    return f"{why} ({NO_GPU_HINT})"


# -- claims ----------------------------------------------------------------------------------
def claim_speed(evidence: dict) -> dict:
    records = evidence.get("cases", [])
    found = pairs(records, _throughput_case)
    measurement = (f"GPU/CPU speedup (samples/s ratio) on matmul, MLP and CNN training and inference at the same "
                   f"precision and batch size; supported when the geometric mean is ≥ {FAR_FASTER_GEOMEAN:g}× "
                   f"and no case is slower on the GPU")
    if not found:
        one_side = [figure(f"{keys.prose_label(r)} throughput", r["samples_per_s"], _per(r, "s"), _dev(r))
                    for r in records if _ok(r) and _throughput_case(r)]
        return row("1", measurement, one_side, NOT_MEASURED, _why_unpaired(records, _throughput_case, evidence))
    figures, ratios = [], []
    for gpu, cpu in found:
        ratio = gpu["samples_per_s"] / cpu["samples_per_s"]
        ratios.append(ratio)
        figures.append(figure(f"{keys.prose_label(gpu)} speedup", ratio, "×", f"{_dev(gpu)} vs {_dev(cpu)}"))
    mean = geomean(ratios)
    figures.append(figure("geometric mean speedup", mean, "×"))
    slower = [f["label"].removesuffix(" speedup") for f, r in zip(figures, ratios) if r < 1]
    source = _reference_note(gpu for gpu, _ in found)
    if slower:
        return row("1", measurement, figures, NOT_SUPPORTED,
                   f"the GPU is slower than the CPU on {', '.join(slower)}{source}")
    if mean < FAR_FASTER_GEOMEAN:
        return row("1", measurement, figures, NOT_SUPPORTED,
                   f"geometric mean speedup {times(mean)} is below {FAR_FASTER_GEOMEAN:g}×{source}")
    return row("1", measurement, figures, SUPPORTED,
               f"geometric mean speedup {times(mean)} ≥ {FAR_FASTER_GEOMEAN:g}×, GPU faster in all {len(ratios)} "
               f"cases{source}")


def _why_unpaired(records: list[dict], select, evidence: dict) -> str:
    chosen = [r for r in records if select(r)]
    if not any(is_gpu(r) for r in chosen):
        return _no_gpu(records, evidence)
    if not any(_ok(r) and is_gpu(r) for r in chosen):
        failed = next((r for r in chosen if is_gpu(r)), {})
        return f"no GPU case finished ({failed.get('status')}: {failed.get('reason')})"
    return "no CPU result of the same cases to compare with (run benchsuite claims with --device all)"


def _samples_per_j(rec: dict, cpu_watts: float | None) -> tuple[float | None, str, str]:
    """(samples/J, kind, note): measured where energy was read, else assumed from --cpu-watts."""
    value = rec.get("samples_per_j")
    if value:
        return value, "measured", rec.get("energy_method") or ""
    if not is_gpu(rec) and cpu_watts:
        return rec["samples_per_s"] / cpu_watts, "assumption", f"assumed CPU power {cpu_watts:g} W (--cpu-watts)"
    return None, "not measured", rec.get("telemetry_note") or "energy not measured"


def claim_energy(evidence: dict) -> dict:
    records = evidence.get("cases", [])
    cpu_watts = evidence.get("cpu_watts")
    measurement = ("samples per joule, GPU vs CPU, on the same cases as claim 1 (GPU board energy from NVML, CPU "
                   "package energy from RAPL, or --cpu-watts as a labelled assumption); the comparison is "
                   "asymmetric: the host CPU that drives the GPU is not counted on the GPU side; supported when the "
                   "GPU gives more samples per joule in every compared case")
    found = pairs(records, _throughput_case)
    if not found:
        one_side = []
        for r in records:
            if _ok(r) and _throughput_case(r):
                value, kind, note = _samples_per_j(r, cpu_watts)
                one_side.append(figure(f"{keys.prose_label(r)} samples/J", value, _per(r, "J"), _dev(r), kind, note))
        return row("2", measurement, one_side, NOT_MEASURED, _why_unpaired(records, _throughput_case, evidence))
    figures, ratios, missing, assumed = [], [], [], False
    for gpu, cpu in found:
        g, _, g_note = _samples_per_j(gpu, None)
        c, c_kind, c_note = _samples_per_j(cpu, cpu_watts)
        if g is None:
            missing.append(f"GPU energy on {_dev(gpu)}: {g_note}")
            continue
        if c is None:
            missing.append(f"CPU energy on {_dev(cpu)}: {c_note}; pass --cpu-watts W to assume a CPU power")
            continue
        assumed = assumed or c_kind == "assumption"
        kind = "assumption" if c_kind == "assumption" else "measured"
        ratios.append(g / c)
        figures.append(figure(f"{keys.prose_label(gpu)} samples/J", g, _per(gpu, "J"), _dev(gpu), "measured", g_note))
        figures.append(figure(f"{keys.prose_label(cpu)} samples/J", c, _per(cpu, "J"), _dev(cpu), c_kind, c_note))
        figures.append(figure(f"{keys.prose_label(gpu)} GPU/CPU samples/J", g / c, "×", "", kind))
    source = _reference_note(gpu for gpu, _ in found)
    if not ratios:
        return row("2", measurement, figures, NOT_MEASURED, "; ".join(dict.fromkeys(missing)) + source)
    suffix = (" (CPU energy is an assumption from --cpu-watts)" if assumed else "") + source
    worse = [r for r in ratios if r <= ENERGY_RATIO_MIN]
    if worse:
        return row("2", measurement, figures, NOT_SUPPORTED,
                   f"the GPU gives fewer or equal samples per joule in {len(worse)} of {len(ratios)} cases{suffix}")
    reason = f"the GPU gives more samples per joule in all {len(ratios)} cases (geometric mean {times(geomean(ratios))}){suffix}"
    if missing:
        reason += "; not measured: " + "; ".join(dict.fromkeys(missing))
    return row("2", measurement, figures, SUPPORTED, reason)


def claim_latency(evidence: dict) -> dict:
    records = evidence.get("cases", [])
    measurement = ("batch-1 inference latency p50 and p99 (MLP and CNN), GPU vs CPU; on the GPU, device time per "
                   "batch-1 step, inputs already on the device; host-to-device copy not included (nor the "
                   "synchronisation a real request pays); on the CPU, wall time per step; supported when the GPU's "
                   "p50 and p99 are both lower in every compared case")
    found = pairs(records, _latency_case)
    if not found:
        one_side = [_latency_figure(r, p, k) for r in records if _ok(r) and _latency_case(r)
                    for p, k in LATENCY_FIGURES]
        return row("3", measurement, one_side, NOT_MEASURED, _why_unpaired(records, _latency_case, evidence))
    figures, worse = [], []
    for gpu, cpu in found:
        for rec in (gpu, cpu):
            figures.extend(_latency_figure(rec, p, k) for p, k in LATENCY_FIGURES)
        if not all(_lower(gpu.get(k), cpu.get(k)) for _, k in LATENCY_FIGURES):
            worse.append(keys.prose_label(gpu))
    source = _reference_note(gpu for gpu, _ in found)
    if worse:
        return row("3", measurement, figures, NOT_SUPPORTED,
                   f"the GPU's batch-1 latency is not lower at p50 and p99 on {', '.join(worse)}{source}")
    return row("3", measurement, figures, SUPPORTED,
               f"the GPU's p50 and p99 are lower in all {len(found)} cases{source}")


GPU_LATENCY_NOTE = "device time, inputs on the device; host-to-device copy not included"
#: The latency figures claim 3 judges (`benchsuite.metrics.latency`: single steps of the latency
#: pass; a record from before the pass gives its per-step median and p99, `record.latency_figures`).
LATENCY_FIGURES = (("p50", "latency_s_p50"), ("p99", "latency_s_p99"))


def _lower(gpu: Any, cpu: Any) -> bool:
    """The GPU's figure is lower (a missing figure is not)."""
    return gpu is not None and cpu is not None and gpu < cpu


def _latency_figure(rec: dict, which: str, key: str) -> dict:
    """A batch-1 latency figure; on a GPU it says what the CUDA events do not include."""
    return figure(f"{keys.prose_label(rec)} latency {which}", rec.get(key), "s", _dev(rec), "measured",
                  GPU_LATENCY_NOTE if is_gpu(rec) else "")


def claim_article_network(evidence: dict) -> dict:
    measurement = ("the network exactly as printed (cnn --param variant=article), one training step on "
                   "CIFAR-shaped input")
    cases = [r for r in evidence.get("cases", []) if (r.get("params") or {}).get("variant") == "article"]
    if not cases:
        return row("4a", measurement, [], NOT_MEASURED,
                   "the article variant was not run (benchsuite run -w cnn --param variant=article)")
    figures = [figure(f"{r['id']}", r.get("reason") or r.get("status"), "", _dev(r), "measured") for r in cases]
    ran = [r for r in cases if _ok(r)]
    if ran:
        return row("4a", measurement, figures, SUPPORTED, f"it ran on {', '.join(_dev(r) for r in ran)}")
    errors = [r for r in cases if r.get("status") == "error"]
    if errors:
        shape = [r for r in errors if SHAPE_MESSAGE in (r.get("reason") or "")]
        why = "PyTorch refuses it with a shape mismatch" if shape else "it fails"
        return row("4a", measurement, figures, NOT_SUPPORTED, f"{why}: {(shape or errors)[0]['reason']}")
    return row("4a", measurement, figures, NOT_MEASURED,
               f"the case did not run ({cases[0].get('status')}: {cases[0].get('reason')})")


def _subset_text(subset) -> str:
    return "full sets (50000 / 10000)" if not subset else f"{subset[0]} / {subset[1]}"


def claim_training(evidence: dict) -> dict:
    target = ARTICLE_ACCURACY_PCT
    measurement = (f"the fixed CNN trained with the article's recipe on real CIFAR-10: test accuracy after each "
                   f"epoch; supported when it reaches {target:.2f} % within {ARTICLE_EPOCHS} epochs on the full sets or "
                   f"on {ARTICLE_SUBSET[0]}/{ARTICLE_SUBSET[1]} images, not supported when it does not. Also time and "
                   f"energy to accuracy, and the share of wall time the GPU idles at batch 4 against a larger batch")
    runs = evidence.get("training") or []
    if not runs:
        note = evidence.get("training_note") or "CIFAR-10 not provided"
        return row("4b", measurement, [], NOT_MEASURED,
                   f"{note} (pass --data DIR: the folder holding cifar-10-batches-py/ with "
                   f"data_batch_1..5 and test_batch, torchvision's python layout; nothing is downloaded)")
    figures, reached, complete, failures = [], [], [], []
    for run in runs:
        dev = f"{run.get('device')} {run.get('device_name') or ''}".strip()
        if run.get("status") != "ok":
            failures.append(f"{dev}: {run.get('reason')}")
            figures.append(figure("training", run.get("reason"), "", dev, "measured"))
            continue
        figures.extend(_training_figures(run, dev, target, evidence.get("cpu_watts")))
        acc = run["accuracy_pct"][:ARTICLE_EPOCHS]
        subset = tuple(run["subset"]) if run.get("subset") else None
        if subset not in (None, ARTICLE_SUBSET):
            continue  # figures shown, but not the article's data: no verdict from them
        if acc and max(acc) >= target:
            reached.append(dev)
        elif len(acc) >= ARTICLE_EPOCHS:
            complete.append(dev)
    best = max((max(r["accuracy_pct"]) for r in runs if r.get("status") == "ok" and r["accuracy_pct"]), default=None)
    if reached:
        return row("4b", measurement, figures, SUPPORTED, f"reached {target:.2f} % within {ARTICLE_EPOCHS} epochs on "
                                                          f"{', '.join(reached)}")
    if complete:
        return row("4b", measurement, figures, NOT_SUPPORTED,
                   f"best test accuracy {best:.2f} % after {ARTICLE_EPOCHS} epochs, below {target:.2f} %")
    if best is None:
        return row("4b", measurement, figures, NOT_MEASURED, f"training failed ({'; '.join(failures)})")
    ok = [r for r in runs if r.get("status") == "ok"]
    return row("4b", measurement, figures, NOT_MEASURED,
               f"best {best:.2f} % after {len(ok[0]['accuracy_pct'])} epoch(s) on "
               f"{_subset_text(ok[0].get('subset'))} images (not the article's conditions); the claim needs "
               f"{ARTICLE_EPOCHS} epochs on the full sets or on {ARTICLE_SUBSET[0]}/{ARTICLE_SUBSET[1]} images "
               f"(benchsuite claims --data DIR --epochs {ARTICLE_EPOCHS} [--subset {ARTICLE_SUBSET[0]}/{ARTICLE_SUBSET[1]}])")


def _training_figures(run: dict, dev: str, target: float, cpu_watts: float | None = None) -> list[dict]:
    acc = run["accuracy_pct"]
    images = (f"{run['train_images']} train / {run['test_images']} test images" if run.get("train_images")
              else f"{_subset_text(run.get('subset'))} images")
    out = [figure("test accuracy by epoch", " ".join(f"{a:.2f}" for a in acc), "%", dev, "measured",
                  f"batch {run['batch_size']}, {images}")]
    best_epoch = max(range(len(acc)), key=acc.__getitem__)
    out.append(figure(f"time to best accuracy ({acc[best_epoch]:.2f} %, epoch {best_epoch + 1})",
                      run["cumulative_s"][best_epoch], "s", dev))
    hit = next((i for i, a in enumerate(acc) if a >= target), None)
    out.append(figure(f"time to {target:.2f} %", run["cumulative_s"][hit] if hit is not None else None, "s", dev,
                      "measured" if hit is not None else "not measured", "" if hit is not None else "not reached"))
    energy = run.get("cumulative_energy_j")
    on_gpu = is_gpu(run)
    if energy and energy[best_epoch] is not None:
        out.append(figure("energy to best accuracy", energy[best_epoch], "J", dev, "measured", run.get("energy_method") or ""))
        if hit is not None:
            out.append(figure(f"energy to {target:.2f} %", energy[hit], "J", dev, "measured"))
    elif not on_gpu and cpu_watts:
        note = f"assumed CPU power {cpu_watts:g} W (--cpu-watts) × training wall time"
        if run.get("energy_note"):
            note += f"; energy not measured: {run['energy_note']}"
        out.append(figure("energy to best accuracy", run["cumulative_s"][best_epoch] * cpu_watts, "J", dev,
                          "assumption", note))
        if hit is not None:
            out.append(figure(f"energy to {target:.2f} %", run["cumulative_s"][hit] * cpu_watts, "J", dev,
                              "assumption", note))
    else:
        out.append(figure("energy to accuracy", None, "J", dev, "not measured", run.get("energy_note") or ""))
    if on_gpu:
        for probe in [run.get("idle"), *(run.get("idle_probes") or [])]:
            if not probe:
                continue
            for key, how in (("idle_share_events", "CUDA events"), ("idle_share_nvml", "NVML utilisation")):
                value = probe.get(key)
                out.append(figure(f"GPU idle share of wall time at batch {probe['batch_size']} ({how})",
                                  100 * value if value is not None else None, "%", dev,
                                  "measured" if value is not None else "not measured", probe.get(f"{key}_note", "")))
    else:
        out.append(figure("GPU idle share", None, "", dev, "not applicable", "training ran on the CPU"))
    return out


def claim_generations(evidence: dict) -> dict:
    measurement = ("measured results of different GPU generations on the same case (samples/s, samples/J), from "
                   "this run, --run and reports/reference/; each measured GPU's matmul TFLOP/s and samples/J "
                   "listed beside its datasheet peaks, which are shown, never judged; supported when every newer "
                   "generation measures higher on every common case")
    records = [r for r in evidence.get("gpu_results", []) if _ok(r) and is_gpu(r)]
    by_name: dict[str, list[dict]] = {}
    for rec in records:
        by_name.setdefault(rec.get("device_name") or rec["device"], []).append(rec)
    common: dict[str, dict[str, dict]] = {}  # key -> GPU name -> its first record of that key
    for name, recs in by_name.items():
        for rec in recs:
            common.setdefault(rec["key"], {}).setdefault(name, rec)
    firsts = {name: [per_gpu[name] for per_gpu in common.values() if name in per_gpu] for name in by_name}
    figures, listed = [], set()
    for sheet in evidence.get("datasheets", []):
        peaks_text = ", ".join(f"{prec} {value:g}" for prec, value in sheet["tflops"].items())
        figures.append(figure(f"{sheet['model']} datasheet",
                              f"dense TFLOP/s {peaks_text}; memory {sheet['mem_bandwidth_gbs']:g} GB/s; "
                              f"board power {sheet['tdp_w']:g} W", "", "", "datasheet",
                              sheet.get("source", "").split(", http")[0]))
        for name in by_name:
            found = peaks.lookup(name)
            if name not in listed and found is not None and found.model == sheet["model"]:
                listed.add(name)
                figures.extend(_gpu_figures(name, firsts[name]))
    for name in by_name:  # measured GPUs without a datasheet row
        if name not in listed:
            figures.extend(_gpu_figures(name, firsts[name]))
    generations = {name: _cc(recs) for name, recs in by_name.items()}
    compared = {k: v for k, v in common.items() if len({generations[n] for n in v}) >= 2}
    for key, per_gpu in compared.items():
        for name, rec in per_gpu.items():
            gpu = _gpu_label(name, rec)
            figures.append(figure(f"{keys.prose_label(rec)} samples/s", rec["samples_per_s"], _per(rec, "s"), gpu))
            if rec.get("workload") == "matmul":
                continue  # its TFLOP/s and samples/J are listed beside the datasheet
            if rec.get("tflop_per_s"):
                figures.append(figure(f"{keys.prose_label(rec)} TFLOP/s", rec["tflop_per_s"], "TFLOP/s", gpu))
            if rec.get("samples_per_j"):
                figures.append(figure(f"{keys.prose_label(rec)} samples/J", rec["samples_per_j"], _per(rec, "J"), gpu))
    if not compared:
        seen = ", ".join(f"{name}{' (shipped references only)' if all(map(_from_reference, by_name[name])) else ''}"
                         for name in sorted(by_name)) or "none"
        return row("5", measurement, figures, NOT_MEASURED,
                   f"measured results of fewer than two GPU generations on a common case (GPUs "
                   f"measured: {seen}); run benchsuite claims on GPUs of other generations and pass the runs with "
                   f"--run, or add them to reports/reference/ (datasheet figures are shown, not judged)")
    falls, efficiency_pairs = [], 0
    for key, per_gpu in compared.items():
        ordered = sorted(per_gpu.items(), key=lambda item: generations[item[0]])
        for (old, a), (new, b) in itertools.combinations(ordered, 2):  # every older/newer pair
            if generations[old] == generations[new]:
                continue
            if b["samples_per_s"] <= a["samples_per_s"]:
                falls.append(f"{new} is not faster than {old} on {keys.prose_label(b)}")
            if a.get("samples_per_j") and b.get("samples_per_j"):
                efficiency_pairs += 1
                if b["samples_per_j"] <= a["samples_per_j"]:
                    falls.append(f"{new} is not more efficient than {old} on {keys.prose_label(b)}")
    if falls:
        return row("5", measurement, figures, NOT_SUPPORTED, "; ".join(falls))
    if not efficiency_pairs:
        return row("5", measurement, figures, NOT_MEASURED,
                   "newer generations measure faster on every common case, but energy was not "
                   "measured on both sides of any pair (needs NVML)")
    return row("5", measurement, figures, SUPPORTED,
               f"every newer generation is faster and more efficient on all {len(compared)} common case(s)")


def _gpu_label(name: str, rec: dict) -> str:
    """A GPU model's name as a figure's device; from the shipped reference runs, with the run id."""
    return f"{name} (shipped reference {_run_of(rec)})" if _from_reference(rec) else name


def _gpu_figures(name: str, recs: list[dict]) -> list[dict]:
    """One measured GPU's matmul TFLOP/s and, where energy was read, its matmul samples/J."""
    out = []
    for rec in recs:
        if rec.get("workload") != "matmul":
            continue
        gpu = _gpu_label(name, rec)
        if rec.get("tflop_per_s"):
            out.append(figure(f"{keys.prose_label(rec)} TFLOP/s", rec["tflop_per_s"], "TFLOP/s", gpu))
        if rec.get("samples_per_j"):
            out.append(figure(f"{keys.prose_label(rec)} samples/J", rec["samples_per_j"], _per(rec, "J"), gpu, "measured",
                              rec.get("energy_method") or ""))
    if not out:
        out.append(figure("matmul TFLOP/s", None, "TFLOP/s", name, "not measured",
                          "no finished matmul case of this GPU"))
    return out


def _cc(recs: list[dict]) -> tuple[int, ...]:
    """Compute capability as a sortable tuple (newer generations are higher)."""
    text = next((r.get("compute_capability") for r in recs if r.get("compute_capability")), None)
    try:
        return tuple(int(p) for p in str(text).split("."))
    except ValueError:
        return (0,)


def evaluate(evidence: dict) -> list[dict]:
    """One row per claim, in the article's order."""
    return [claim_speed(evidence), claim_energy(evidence), claim_latency(evidence),
            claim_article_network(evidence), claim_training(evidence), claim_generations(evidence)]
