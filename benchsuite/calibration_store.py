"""Calibrations on disk: one small JSON file per machine and device, and a copy per run.

A calibration (made by `benchsuite.calibrate`) holds what a device really reaches: the best
matmul TFLOP/s found per precision and the achievable memory bandwidth. It is stored as
``<dir>/<machine-key>.json``, where ``<dir>`` is ``$BENCHSUITE_CALIBRATION_DIR`` or
``~/.cache/benchsuite/calibration`` (``$XDG_CACHE_HOME`` honoured) and the machine key is
made of the hostname, the device id and name, and the NVIDIA driver version: a new driver
or another GPU in the slot makes a new key, and the old figures are no longer applied.
Each run that used calibrations gets a copy of them in ``reports/<run-id>/calibration.json``.

What is stored when (`store`): only a complete calibration (every precision asked for has a
figure, or was skipped because the device cannot do it, and the bandwidth was measured), and
never one that would lower a stored ceiling of the same machine and versions unless forced.
"Better" is judged per ceiling: a higher matmul TFLOP/s for a precision, a higher GB/s for a
copy kind. A new calibration that improves some ceilings and not others is merged: the file
keeps the best figure of each ceiling with the id of the calibration that measured it
(``source``), and the messages say what was kept and what replaced. The reasoning: a
ceiling is the best the machine has been shown to reach with an accepted spread; a lower
figure later means a busier or hotter machine, not a slower chip, and the user who knows
otherwise says ``--force``. A stored calibration of another torch or thread count, or of an
older calibration version (figures not judged by the spread rule), is not comparable and is
replaced. Stored JSON is strict: NaN and infinity are refused on writing; a file written
with them by an older benchsuite loads them as null.

A stored calibration is only applied under the torch it was made with (a torch upgrade
brings other cuBLAS/oneDNN kernels) and, on a CPU, with the thread count it was made with:
`problem` names the mismatch, and `load_for` leaves such a calibration out. Nothing here
imports torch at import time; `runtime` does when it is called.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from benchsuite import files
from benchsuite.metrics import STALE_PCT_OF_ACHIEVABLE

#: 2: the matmul figure is the median of a do_bench-like re-time judged by the spread rule,
#: with its quartiles (``reps``) and per-repetition seconds (``times_s``); entries name their
#: ``source`` calibration.
CALIBRATION_VERSION = 2
#: Calibrations older than this were not judged by the spread rule: a new one replaces them.
JUDGED_VERSION = 2
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


def _nonfinite(value: Any, path: str = "") -> str | None:
    """The dotted path of the first NaN or infinity in ``value``, or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return path or "(the record)"
    if isinstance(value, Mapping):
        for key, item in value.items():
            found = _nonfinite(item, f"{path}.{key}" if path else str(key))
            if found:
                return found
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            found = _nonfinite(item, f"{path}[{i}]")
            if found:
                return found
    return None


def to_json(data: Any, source: str = "calibration") -> str:
    """Strict JSON text of ``data`` (no NaN or infinity); CalibrationError naming the field otherwise."""
    where = _nonfinite(data)
    if where is not None:
        raise CalibrationError(f"{source}: field {where} is not a finite number; NaN and infinity are not "
                               "stored (strict JSON)")
    return json.dumps(data, indent=2, allow_nan=False) + "\n"


def save(record: dict, directory: Path | None = None) -> Path:
    """Write ``record`` to its per-machine file (atomically: a crash or a full disk leaves the
    old one), as strict JSON; raises `benchsuite.files.WriteError`. This writes unconditionally:
    `store` decides whether a record should be."""
    check(record)
    path = path_for(record["machine_key"], directory)
    files.write_text(path, to_json(record, f"calibration {record.get('id')}"))
    return path


def _lenient_constant(name: str) -> None:
    """NaN and infinity in a file written by an older benchsuite read as null (not measured)."""
    return None


def load(key: str, directory: Path | None = None) -> dict | None:
    """The stored calibration for ``key``, or None when there is none. Bad files raise."""
    path = path_for(key, directory)
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(), parse_constant=_lenient_constant)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CalibrationError(f"cannot read calibration {path}: {exc}") from None
    record = check(record, str(path))
    record.setdefault("file", str(path))
    return record


# ----------------------------------------------------------------------------------------
# What is stored when

def positive(value: Any) -> bool:
    """A finite number above 0 (not a bool): a figure worth storing, a budget worth spending."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def incomplete(record: Mapping[str, Any]) -> list[str]:
    """Why ``record`` is not a complete calibration (empty when it is): a precision measured
    without a figure (``note`` says why), no precision measured or skipped, a bandwidth kind
    without a figure, or no device-to-device bandwidth."""
    problems = []
    matmul = record.get("matmul") or {}
    for name, entry in matmul.items():
        if not positive((entry or {}).get("tflop_per_s")):
            problems.append(f"{name} not calibrated ({(entry or {}).get('note') or 'no figure'})")
    if not matmul and not record.get("skipped"):
        problems.append("no precision was calibrated")
    bandwidth = record.get("bandwidth") or {}
    for kind, entry in bandwidth.items():
        if not positive((entry or {}).get("gb_per_s")):
            problems.append(f"{kind} bandwidth not measured")
    if "d2d" not in bandwidth:
        problems.append("device memory bandwidth (d2d) not measured")
    return problems


def not_comparable(old: Mapping[str, Any], new: Mapping[str, Any]) -> str | None:
    """Why a stored calibration ``old`` of the same machine key cannot be weighed against
    ``new`` ceiling by ceiling (then ``new`` replaces it), or None when it can."""
    version = old.get("version")
    if not isinstance(version, int) or version < JUDGED_VERSION:
        return (f"it was made by an older benchsuite (calibration version {version}), whose figures were not "
                "re-timed and judged by their spread")
    if old.get("torch") != new.get("torch"):
        return f"it was made under torch {old.get('torch')}, this one under {new.get('torch')}"
    if (new.get("device") or {}).get("type") == "cpu" and old.get("threads") != new.get("threads"):
        return f"it was made with {old.get('threads')} threads, this one with {new.get('threads')}"
    return None


#: The ceilings of a record: (section, figure field, unit).
CEILINGS = (("matmul", "tflop_per_s", "TFLOP/s"), ("bandwidth", "gb_per_s", "GB/s"))


def _ceiling_name(section: str, name: str) -> str:
    return name if section == "matmul" else f"{name} bandwidth"


def merge(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[dict, list[str], bool]:
    """``new`` with, for each ceiling, the better of its figure and ``old``'s (higher wins;
    a tie keeps the stored one). Every entry names its ``source`` calibration. Returns the
    merged record, what was kept and what replaced (one message each), and whether anything
    of ``new`` was taken."""
    merged = dict(new)
    messages: list[str] = []
    taken = False
    for section, figure, unit in CEILINGS:
        old_entries, new_entries = old.get(section) or {}, new.get(section) or {}
        out: dict[str, Any] = {}
        for name in dict.fromkeys([*new_entries, *old_entries]):
            o, n = old_entries.get(name), new_entries.get(name)
            o_fig = (o or {}).get(figure) if positive((o or {}).get(figure)) else None
            n_fig = (n or {}).get(figure) if positive((n or {}).get(figure)) else None
            o_source = (o or {}).get("source") or old.get("id")
            label = _ceiling_name(section, name)
            if n is None:
                out[name] = {**o, "source": o_source}  # not measured this time: the stored one stays
            elif o_fig is not None and (n_fig is None or o_fig >= n_fig):
                out[name] = {**o, "source": o_source}
                what = "search" if section == "matmul" else "measurement"
                found = f", the new {what} found {n_fig:.4g}" if n_fig is not None else f", the new {what} found none"
                messages.append(f"kept the stored {label} {o_fig:.4g} {unit} (calibration {o_source}){found}; "
                                "use --force to replace")
            else:
                out[name] = {**n, "source": n.get("source") or new.get("id")}
                taken = True
                if o_fig is not None:
                    messages.append(f"{label}: {n_fig:.4g} {unit} replaces {o_fig:.4g} (calibration {o_source})")
        merged[section] = out
    merged["skipped"] = {p: why for p, why in (new.get("skipped") or {}).items() if p not in merged["matmul"]}
    merged["sources"] = sorted({e.get("source") for s, _, _ in CEILINGS for e in merged[s].values()
                                if e.get("source")})
    return merged, messages, taken


@dataclass
class Outcome:
    """What `store` did with a new calibration.

    ``action``: ``stored`` (no calibration was stored for this machine), ``replaced`` (the
    stored one was not comparable, or ``force``), ``improved`` (merged: at least one ceiling
    is the new one's), ``kept`` (the stored one is better in every ceiling: nothing written)
    or ``refused`` (incomplete: nothing written). ``path``: the per-machine file that now
    holds the machine's calibration (None when there is none). ``record``: what it holds.
    """

    action: str
    path: Path | None
    messages: list[str] = field(default_factory=list)
    record: dict | None = None

    @property
    def written(self) -> bool:
        return self.action in ("stored", "replaced", "improved")


def _changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """One line per ceiling whose figure a replacing calibration changes."""
    lines = []
    for section, figure, unit in CEILINGS:
        for name, entry in (new.get(section) or {}).items():
            before = ((old.get(section) or {}).get(name) or {}).get(figure)
            if positive(before) and positive(entry.get(figure)) and entry[figure] != before:
                lines.append(f"{_ceiling_name(section, name)}: {entry[figure]:.4g} {unit} replaces the stored "
                             f"{before:.4g}")
    return lines


def store(record: dict, directory: Path | None = None, *, force: bool = False) -> Outcome:
    """Store a new calibration by the rules in this module's docstring and say what was done.

    Incomplete: refused (nothing written). No stored one, an unreadable one or one that is not
    comparable (`not_comparable`), or ``force``: the new one replaces it. Otherwise merged
    (`merge`) and written only when a ceiling improved.
    """
    check(record)
    problems = incomplete(record)
    path = path_for(record["machine_key"], directory)
    try:
        old = load(record["machine_key"], directory)
        unreadable = None
    except CalibrationError as exc:
        old, unreadable = None, str(exc)
    if problems:
        messages = [f"not stored: {'; '.join(problems)}"]
        if old is not None:
            messages.append(f"the stored calibration {old.get('id')} stays in use")
        return Outcome("refused", path if old is not None else None, messages, old)
    new, _, _ = merge({}, record)  # every ceiling names its source: this record's id where not set
    if old is None:
        written = save(new, directory)
        return Outcome("replaced" if unreadable else "stored", written,
                       [f"replaced an unreadable file ({unreadable})"] if unreadable else [], new)
    why = "--force" if force else not_comparable(old, record)
    if why is not None:
        written = save(new, directory)
        return Outcome("replaced", written, [f"replaced calibration {old.get('id')} ({why})", *_changes(old, new)],
                       new)
    merged, messages, taken = merge(old, new)
    if not taken:
        return Outcome("kept", path, [*messages, f"nothing improved: calibration {old.get('id')} stays"], old)
    written = save(merged, directory)
    return Outcome("improved", written, messages, merged)


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
    path = Path(run_dir) / RUN_FILE
    files.write_text(path, to_json({"kind": KIND + "s", "version": CALIBRATION_VERSION, "calibrations": records},
                                   f"run copy {path}"))
    return path


def read_run_copy(run_dir: Path) -> list[dict]:
    """The calibrations stored in a run directory (an empty list when it has none)."""
    path = Path(run_dir) / RUN_FILE
    if not path.is_file():
        return []
    data = json.loads(path.read_text(), parse_constant=_lenient_constant)
    return [check(r, str(path)) for r in data.get("calibrations", [])]


def achievable_tflops(record: dict | None, precision: str) -> float | None:
    """Achievable dense matmul TFLOP/s of ``precision`` in a calibration, or None."""
    entry = ((record or {}).get("matmul") or {}).get(precision) or {}
    return entry.get("tflop_per_s")


def achievable_gbs(record: dict | None, kind: str = "d2d") -> float | None:
    """Achievable bandwidth in GB/s (``d2d``: device memory; ``h2d``/``d2h``: the host link)."""
    entry = ((record or {}).get("bandwidth") or {}).get(kind) or {}
    return entry.get("gb_per_s")


def stale_advice(cases: Iterable[Mapping[str, Any]]) -> str | None:
    """One line telling the user to recalibrate when any case's ``calibration_stale`` flag is
    set (its "% achievable" passed `benchsuite.metrics.STALE_PCT_OF_ACHIEVABLE`), or None.
    ``cases``: case rows with ``device``, ``calibration``, ``pct_of_achievable`` and the flag."""
    stale = [c for c in cases if c.get("calibration_stale") in (True,)]  # a bool or numpy bool; NaN is not
    if not stale:
        return None
    worst = max(stale, key=lambda c: c.get("pct_of_achievable") or 0.0)
    device_ids = ",".join(dict.fromkeys(str(c.get("device")) for c in stale))
    ids = ", ".join(dict.fromkeys(str(c.get("calibration")) for c in stale))
    return (f"calibration stale: {len(stale)} case{'s' if len(stale) != 1 else ''} reached more than "
            f"{STALE_PCT_OF_ACHIEVABLE:g}% of the "
            f"achievable figure (up to {worst.get('pct_of_achievable'):.0f}% on {worst.get('device')}; "
            f"calibration {ids}): recalibrate with `benchsuite calibrate -d {device_ids} --force`")
