"""The run's comparability fingerprint: the machine state that moves results.

Two runs whose fingerprints differ (another driver, a lower power limit, locked
clocks, ECC switched on, a different CPU governor, ...) can still be compared, but
not silently: `compare` and `table` name the differing fields. Everything is read
defensively from the run header (``host``, ``devices`` and the optional
``telemetry.gpus`` list of :func:`benchsuite.telemetry.nvml.device_static` dicts):
a field missing or None on either side is *unknown*, never a difference.
Torch-free: reports use this on machines without a GPU build.
"""

from __future__ import annotations

from typing import Any

# Host-wide fields: header["host"] key -> fingerprint name.
HOST_FIELDS = {
    "driver": "driver",
    "cuda_driver": "cuda_driver",
    "cuda_runtime": "cuda_runtime",
    "torch": "torch",
    "cpu_model": "cpu_model",
    "cpu_governor": "cpu_governor",
}
# Per-GPU fields from header["telemetry"]["gpus"][i] (nvml.device_static), first
# spelling found wins; a "locked" clock is what `nvidia-smi -lgc` sets, where recorded.
GPU_FIELDS = {
    "power_limit_w": ("enforced_power_limit_w", "power_limit_w"),
    "sm_clock_app_mhz": ("sm_clock_app_mhz",),
    "mem_clock_app_mhz": ("mem_clock_app_mhz",),
    "sm_clock_locked_mhz": ("sm_clock_locked_mhz", "locked_sm_clock_mhz"),
    "mem_clock_locked_mhz": ("mem_clock_locked_mhz", "locked_mem_clock_mhz"),
    "ecc_enabled": ("ecc_enabled",),
    "mig_enabled": ("mig_enabled",),
    "persistence_enabled": ("persistence_enabled",),
    "pcie_gen": ("pcie_gen",),
    "pcie_width": ("pcie_width",),
    "temp_start_c": ("temp_start_c", "temp_c"),
    "model": ("name",),  # not state: used only to tell different GPU models apart (see differences)
}
NOT_STATE = {"model"}
# Start temperatures within this many degrees are the same state (a GPU never starts
# two runs at exactly the same temperature; 10 °C is where boost clocks start to differ).
TEMP_TOLERANCE_C = 10.0


def fingerprint(header: dict[str, Any]) -> dict[str, Any]:
    """Flat ``{field: value}`` of the comparability state of one run header.

    GPU fields are named ``<device id>.<field>`` (``cuda:0.power_limit_w``); a
    field the run did not record is absent.
    """
    header = header or {}
    host = header.get("host") or {}
    out: dict[str, Any] = {}
    for key, name in HOST_FIELDS.items():
        if host.get(key) is not None:
            out[name] = host[key]
    telemetry = header.get("telemetry") or {}
    gpus = telemetry.get("gpus") or []
    for position, gpu in enumerate(gpus):
        if not isinstance(gpu, dict):
            continue
        index = gpu.get("index", position)
        prefix = f"cuda:{index}"
        for name, spellings in GPU_FIELDS.items():
            for spelling in spellings:
                if gpu.get(spelling) is not None:
                    out[f"{prefix}.{name}"] = gpu[spelling]
                    break
    return out


def _same(name: str, a: Any, b: Any) -> bool:
    if name.endswith("temp_start_c"):
        try:
            return abs(float(a) - float(b)) <= TEMP_TOLERANCE_C
        except (TypeError, ValueError):
            return a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(float(a) - float(b)) <= 1e-9 * max(abs(float(a)), abs(float(b)), 1.0)
    return a == b


def differences(a: dict[str, Any], b: dict[str, Any], gpus_paired: bool = True) -> list[str]:
    """Names of the fields known on both sides whose values differ, sorted.

    With ``gpus_paired`` False (a cross-device table) the per-GPU fields are compared
    by field name across the first GPU of each run instead of by device id.
    """
    if not gpus_paired:
        a, b = _first_gpu(a), _first_gpu(b)
        if a.get("gpu.model") and b.get("gpu.model") and a["gpu.model"] != b["gpu.model"]:
            # different GPU models have different power limits and clocks by design: compare
            # only what the host and its software set
            a = {k: v for k, v in a.items() if not k.startswith("gpu.")}
    return sorted(k for k in a.keys() & b.keys()
                  if k.rsplit(".", 1)[-1] not in NOT_STATE
                  and a[k] is not None and b[k] is not None and not _same(k, a[k], b[k]))


def _first_gpu(fp: dict[str, Any]) -> dict[str, Any]:
    prefixes = sorted({k.split(".", 1)[0] for k in fp if "." in k})
    first = prefixes[0] if prefixes else None
    out = {k: v for k, v in fp.items() if "." not in k}
    out.update({"gpu." + k.split(".", 1)[1]: v for k, v in fp.items() if first and k.startswith(first + ".")})
    return out


def run_differences(headers: list[dict[str, Any]], gpus_paired: bool = True) -> list[tuple[int, int, list[str]]]:
    """Pairwise differences of several run headers against the first: ``[(0, i, fields), ...]``."""
    prints = [fingerprint(h) for h in headers]
    out = []
    for i in range(1, len(prints)):
        fields = differences(prints[0], prints[i], gpus_paired)
        if fields:
            out.append((0, i, fields))
    return out


def _is_reference(run: dict[str, Any], references: Any) -> bool:
    return (run.get("header") or {}).get("run_id") in set(references or ())


def warning_lines(runs: list[dict[str, Any]], gpus_paired: bool = True, references: Any = ()) -> list[str]:
    """Human warnings for ``df.attrs["runs"]`` entries whose fingerprints differ, naming the fields.
    Runs whose id is in ``references`` (shipped references added on purpose) are left out: they
    were measured elsewhere by design, which `reference_note` says once."""
    headers = [r.get("header") or {} for r in runs if not _is_reference(r, references)]
    prints = [fingerprint(h) for h in headers]
    lines = []
    for a, b, fields in run_differences(headers, gpus_paired):
        detail = ", ".join(f"{f} ({_value(prints[a], f, gpus_paired)} vs {_value(prints[b], f, gpus_paired)})"
                           for f in fields)
        lines.append(f"runs {headers[a].get('run_id')} and {headers[b].get('run_id')} differ in {detail}; "
                     "their results may not be comparable")
    return lines


def _value(fp: dict[str, Any], name: str, gpus_paired: bool) -> Any:
    return (fp if gpus_paired else _first_gpu(fp)).get(name)


def reference_note(runs: list[dict[str, Any]], references: Any) -> str | None:
    """One sentence saying that the shipped reference runs among ``runs`` were measured on other
    machines, and which (host, CPU, devices, torch and driver, with the runs of each); None when
    there are none. Their fingerprints are not compared with the user's runs (`warning_lines`)."""
    machines: dict[tuple, list[str]] = {}
    for run in runs:
        if not _is_reference(run, references):
            continue
        header = run.get("header") or {}
        host = header.get("host") or {}
        devices = tuple(dict.fromkeys(str(d.get("name")) for d in header.get("devices") or []
                                      if d.get("name") and d.get("type") != "cpu"))
        machine = (host.get("hostname"), host.get("cpu_model"), devices, host.get("torch"), host.get("driver"))
        ids = machines.setdefault(machine, [])
        if str(header.get("run_id")) not in ids:
            ids.append(str(header.get("run_id")))
    if not machines:
        return None
    described = []
    for (hostname, cpu, devices, torch, driver), run_ids in machines.items():
        hardware = ", ".join(str(p) for p in (cpu, *devices) if p) or "no device recorded"
        versions = "".join(f", {name} {value}" for name, value in (("torch", torch), ("driver", driver)) if value)
        runs_of = f" (runs {', '.join(run_ids)})" if len(machines) > 1 else ""
        described.append(f"{hostname or 'an unnamed host'}: {hardware}{versions}{runs_of}")
    where = "another machine" if len(machines) == 1 else f"{len(machines)} other machines"
    return (f"the shipped references were measured on {where} (their fingerprints are not compared with these "
            f"runs'): {'; '.join(described)}")
