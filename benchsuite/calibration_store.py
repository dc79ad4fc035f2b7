"""Calibrations on disk: one small JSON file per machine and device, and a copy per run.

A calibration (made by `benchsuite.calibrate`) holds what a device really reaches: the best
matmul TFLOP/s found per precision and the achievable memory bandwidth. It is stored as
``<dir>/<machine-key>.json``, where ``<dir>`` is ``$BENCHSUITE_CALIBRATION_DIR`` or
``~/.cache/benchsuite/calibration`` (``$XDG_CACHE_HOME`` honoured) and the machine key is
made of the hostname, the device id and name, and the NVIDIA driver version: a new driver
or another GPU in the slot makes a new key, and the old figures are no longer applied.
Each run that used calibrations gets a copy of them in ``reports/<run-id>/calibration.json``.

A stored calibration is only applied under the torch it was made with (a torch upgrade
brings other cuBLAS/oneDNN kernels) and, on a CPU, with the thread count it was made with:
`problem` names the mismatch, and `load_for` leaves such a calibration out. Nothing here
imports torch at import time; `runtime` does when it is called.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Iterable

from benchsuite import files

CALIBRATION_VERSION = 1
ENV_DIR = "BENCHSUITE_CALIBRATION_DIR"
RUN_FILE = "calibration.json"
KIND = "benchsuite-calibration"


class CalibrationError(ValueError):
    """A calibration file that cannot be used (unreadable, another kind, a newer version)."""


def calibration_dir() -> Path:
    """Where per-machine calibration files live (``$BENCHSUITE_CALIBRATION_DIR`` first)."""
    if os.environ.get(ENV_DIR):
        return Path(os.environ[ENV_DIR])
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "benchsuite" / "calibration"


def _slug(text: str | None) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", text or "none").strip("-").lower() or "none"


def machine_key(hostname: str, device_id: str, device_name: str, driver: str | None) -> str:
    """File-name-safe key of one device on one machine under one driver."""
    return "_".join(_slug(part) for part in (hostname, device_id.replace(":", ""), device_name, driver))


def device_key(hostname: str, device: Any, driver: str | None) -> str:
    """`machine_key` of a device (an object with ``id``, ``type``, ``name``); the NVIDIA
    driver only counts for a GPU."""
    return machine_key(hostname, device.id, device.name, driver if device.type == "cuda" else None)


def path_for(key: str, directory: Path | str | None = None) -> Path:
    """The per-machine file for ``key``."""
    return Path(directory or calibration_dir()) / f"{key}.json"


def check(record: Any, source: str = "calibration") -> dict:
    """``record`` if it is a calibration this code can read, else CalibrationError naming why."""
    if not isinstance(record, dict) or record.get("kind") != KIND:
        raise CalibrationError(f"{source} is not a benchsuite calibration (no kind={KIND!r})")
    missing = [k for k in ("id", "machine_key", "device") if k not in record]
    if missing:
        raise CalibrationError(f"{source} lacks {', '.join(missing)}: run `benchsuite calibrate` again")
    version = record.get("version")
    if not isinstance(version, int) or version > CALIBRATION_VERSION:
        raise CalibrationError(f"{source} has calibration version {version!r}; this benchsuite reads up to "
                               f"{CALIBRATION_VERSION}: upgrade benchsuite or run `benchsuite calibrate` again")
    return record


def save(record: dict, directory: Path | None = None) -> Path:
    """Write ``record`` to its per-machine file (atomically: a crash or a full disk leaves the
    old one; strict JSON); raises `benchsuite.files.WriteError`."""
    check(record)
    return files.write_json(path_for(record["machine_key"], directory), record)


def load(key: str, directory: Path | None = None) -> dict | None:
    """The stored calibration for ``key``, or None when there is none. Bad files raise."""
    path = path_for(key, directory)
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CalibrationError(f"cannot read calibration {path}: {exc}") from None
    record = check(record, str(path))
    record.setdefault("file", str(path))
    return record


def runtime() -> tuple[str, int]:
    """This process's torch version and torch CPU thread count (imports torch)."""
    import torch

    return torch.__version__, torch.get_num_threads()


def problem(record: dict, device: Any, *, torch_version: str, threads: int) -> str | None:
    """Why ``record`` must not be applied to ``device`` (an object with ``id`` and ``type``)
    in a process running torch ``torch_version`` with ``threads`` CPU threads, or None.

    Another torch version refuses it on any device; on a CPU, so does another thread count
    (or none recorded: a calibration made before benchsuite recorded it).
    """
    made_with = record.get("torch")
    if made_with != torch_version:
        return (f"calibration {record.get('id')} of {device.id}: calibrated with torch {made_with or 'unknown'}, "
                f"this is {torch_version}; run `benchsuite calibrate -d {device.id}` again")
    if device.type == "cpu":
        calibrated = record.get("threads")
        if calibrated is None:
            return (f"calibration {record.get('id')} of {device.id} does not record its thread count "
                    f"(this run uses {threads}); run `benchsuite calibrate -d {device.id}` again")
        if calibrated != threads:
            return (f"calibration {record.get('id')} of {device.id}: calibrated with {calibrated} threads, this run "
                    f"uses {threads}; run with --threads {calibrated}, or calibrate again with "
                    f"OMP_NUM_THREADS={threads}")
    return None


def load_for(devices: Iterable[Any], hostname: str, driver: str | None,
             directory: Path | None = None, *, torch_version: str | None = None,
             threads: int | None = None) -> tuple[dict[str, dict], list[str]]:
    """Calibrations of ``devices`` (objects with ``id``, ``type`` and ``name``) on this machine
    that apply to this process (`problem`; ``torch_version`` and ``threads`` default to
    `runtime`'s).

    Returns ({device id: record}, problems): a device without a file is simply absent; a
    file that cannot be used, or a calibration that does not apply, is absent too and named
    in ``problems``.
    """
    found: dict[str, dict] = {}
    problems: list[str] = []
    for device in devices:
        try:
            record = load(device_key(hostname, device, driver), directory)
        except CalibrationError as exc:
            problems.append(str(exc))
            continue
        if record is None:
            continue
        if torch_version is None or threads is None:
            here_torch, here_threads = runtime()
            torch_version = here_torch if torch_version is None else torch_version
            threads = here_threads if threads is None else threads
        why = problem(record, device, torch_version=torch_version, threads=threads)
        if why is not None:
            problems.append(why)
            continue
        found[device.id] = record
    return found, problems


def write_run_copy(run_dir: Path, records: Iterable[dict]) -> Path | None:
    """Write the calibrations a run used (or made) to ``run_dir/calibration.json``."""
    records = list(records)
    if not records:
        return None
    return files.write_json(Path(run_dir) / RUN_FILE, {"kind": KIND + "s", "version": CALIBRATION_VERSION,
                                                        "calibrations": records})


def read_run_copy(run_dir: Path) -> list[dict]:
    """The calibrations stored in a run directory (an empty list when it has none)."""
    path = Path(run_dir) / RUN_FILE
    if not path.is_file():
        return []
    data = json.loads(path.read_text())
    return [check(r, str(path)) for r in data.get("calibrations", [])]


def achievable_tflops(record: dict | None, precision: str) -> float | None:
    """Achievable dense matmul TFLOP/s of ``precision`` in a calibration, or None."""
    entry = ((record or {}).get("matmul") or {}).get(precision) or {}
    return entry.get("tflop_per_s")


def achievable_gbs(record: dict | None, kind: str = "d2d") -> float | None:
    """Achievable bandwidth in GB/s (``d2d``: device memory; ``h2d``/``d2h``: the host link)."""
    entry = ((record or {}).get("bandwidth") or {}).get(kind) or {}
    return entry.get("gb_per_s")
