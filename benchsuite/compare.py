"""Two runs side by side: match cases by key and device model, ratios NEW/BASE, regressions
past noise.

Matching: a base case and a new case are the same measurement when their key less the
device (workload, mode, precision, batch size, world size, execution, parameters) and their
device model (`benchsuite.keys.SAME_DEVICE_MODEL`: the device's name; where a name is
missing, the device id) are equal. Where a side holds the key on several devices of that
model they pair by device id, then one left on each side pair. Two devices that share a
name but differ in memory by more than `MEMORY_TOLERANCE` are different models. A ratio is
never computed across device models: that is the hardware table's job (``benchsuite
table``). Anything left over is listed as "only in base" / "only in new", never dropped.

The regression rule (documented in the README, "Reports"):

* ``change`` is NEW/BASE - 1 of the metric, signed so that positive is better
  (higher samples/s, lower step time, lower J/sample, ...).
* A change is *past the threshold* when ``|change| > threshold``.
* A change is *within noise* when either run's median step time lies inside the other
  run's interquartile range of raw step times (25th..75th percentile). Only the raw
  times are used; a run without them falls back to median ± IQR/2 from its summary.
* ``regression`` = worse, past the threshold and not within noise; ``improvement``
  likewise for better. A case whose status went from ok to oom/error is a regression.

The noise test only speaks for metrics derived from step time (throughput, TFLOP/s,
% of peak, step time); energy and memory metrics have no per-step samples, so for
them the threshold alone decides and the row says ``noise: n/a``.
Torch-free.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from benchsuite import keys, metrics
from benchsuite.report import format

# metric -> +1 when higher is better, -1 when lower is better (`benchsuite.metrics` declares both).
METRICS: dict[str, int] = metrics.directions()
# Metrics that are a function of the median step time, so raw step times measure their noise.
TIME_METRICS = {name for name in METRICS if metrics.METRICS[name].basis == "time"}
#: What pairs a base case with a new one: the case less its device, plus the device model
#: (see the module docstring).
MATCH = keys.SAME_DEVICE_MODEL
#: Two devices of one name whose memory differs by more than this share are different models
#: (one GPU sold with two memory sizes); 10 % leaves room for what drivers reserve.
MEMORY_TOLERANCE = 0.10


class CompareError(ValueError):
    """A compare request that cannot be answered (unknown metric, bad threshold)."""


def parse_threshold(text: str | float) -> float:
    """``5%``, ``5`` or ``0.05`` -> 0.05 (a fraction)."""
    raw = str(text).strip()
    try:
        value = float(raw.rstrip("%"))
    except ValueError:
        raise CompareError(f"threshold {text!r} is not a number; give e.g. 5% or 0.05") from None
    if not math.isfinite(value):
        raise CompareError(f"threshold {text!r} is not a finite number; give e.g. 5% or 0.05")
    if raw.endswith("%") or value >= 1:
        value /= 100
    if not 0 <= value < 10:
        raise CompareError(f"threshold {text!r} is out of range; allowed: 0 to 999% (or a fraction below 1)")
    return value


def spread(row: pd.Series | dict) -> tuple[float, float, float] | None:
    """(q1, median, q3) of the recorded step times in seconds (a row's ``step_s_q1``,
    ``step_s_median`` and ``step_s_q3``, or raw ``step_times_s``), or None if unknown."""
    times = row.get("step_times_s")
    if isinstance(times, (list, tuple, np.ndarray)) and len(times) > 0:
        q1, median, q3 = np.percentile(np.asarray(times, dtype=float), [25, 50, 75])
        return float(q1), float(median), float(q3)
    median, iqr = row.get("step_s_median"), row.get("step_s_iqr")
    q1, q3 = row.get("step_s_q1"), row.get("step_s_q3")
    if _known(median) and _known(q1) and _known(q3):
        return float(q1), float(median), float(q3)
    if _known(median):
        half = float(iqr) / 2 if _known(iqr) else 0.0
        return float(median) - half, float(median), float(median) + half
    return None


def within_noise(base: pd.Series | dict, new: pd.Series | dict) -> bool | None:
    """True when either median lies inside the other run's IQR of raw step times; None if unknown."""
    a, b = spread(base), spread(new)
    if a is None or b is None:
        return None
    return a[0] <= b[1] <= a[2] or b[0] <= a[1] <= b[2]


def _known(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


@dataclass
class Comparison:
    """The answer: one row per matched or one-sided case, and what was compared."""

    rows: pd.DataFrame
    metric: str
    threshold: float
    #: {device type: how BASE's timing settings differ from NEW's} where they are not comparable
    #: (`timing_apart`); the pairs on those devices are shown, never gated.
    not_comparable: dict[str, str] = field(default_factory=dict)


def _with_model(df: pd.DataFrame) -> pd.DataFrame:
    """The frame with ``device_name`` filled by the device id where a record has none (an
    unnamed CPU is not matched with an unnamed GPU)."""
    df = df.reset_index(drop=True).copy()
    if "device" not in df.columns:
        df["device"] = None
    if "device_name" not in df.columns:
        df["device_name"] = None
    df["device_name"] = df["device_name"].where(df["device_name"].notna(), df["device"])
    return df


def same_model(a: pd.Series, b: pd.Series) -> bool:
    """Two rows whose devices share a name: the same model unless their memory differs by more
    than `MEMORY_TOLERANCE` (unknown memory: the same)."""
    ma, mb = a.get("device_memory_bytes"), b.get("device_memory_bytes")
    if not (_known(ma) and _known(mb)) or not ma or not mb:
        return True
    return abs(float(ma) - float(mb)) <= MEMORY_TOLERANCE * max(float(ma), float(mb))


def pair(base: pd.DataFrame, new: pd.DataFrame, bs: list[int], ns: list[int]) -> list[tuple[int | None, int | None]]:
    """Pairs (base index, new index) among the rows of one `MATCH` key: by device id first,
    then one left on each side; the rest one-sided (None on the other side)."""
    pairs: list[tuple[int | None, int | None]] = []
    free_b, free_n = list(bs), list(ns)
    for j in list(free_n):
        i = next((i for i in free_b if base.at[i, "device"] == new.at[j, "device"]
                  and same_model(base.loc[i], new.loc[j])), None)
        if i is not None:
            pairs.append((i, j))
            free_b.remove(i)
            free_n.remove(j)
    if len(free_b) == 1 and len(free_n) == 1 and same_model(base.loc[free_b[0]], new.loc[free_n[0]]):
        pairs.append((free_b.pop(), free_n.pop()))
    pairs.extend((i, None) for i in free_b)
    pairs.extend((None, j) for j in free_n)
    return pairs


def compare(base: pd.DataFrame, new: pd.DataFrame, metric: str = "samples_per_s",
            threshold: float = 0.05) -> Comparison:
    """Match the cases of two runs and judge each change (see the module docstring)."""
    if metric not in METRICS:
        raise CompareError(f"unknown metric {metric!r}; allowed: {', '.join(METRICS)}")
    from benchsuite.report import labels

    apart = timing_apart(base, new)
    base, new = _with_model(base), _with_model(new)
    base_keys, new_keys = keys.frame_keys(base, MATCH), keys.frame_keys(new, MATCH)
    records = base.to_dict("records") + new.to_dict("records")
    label_of: dict[tuple, str] = {}
    for model in dict.fromkeys(r.get("device_name") for r in records):  # labels read within a model's rows
        mine = [(k, r) for k, r in zip(base_keys + new_keys, records) if r.get("device_name") == model]
        label_of.update(zip((k for k, _ in mine), labels.labels([r for _, r in mine], keys.ACROSS_DEVICES)))
    groups: dict[tuple, tuple[list[int], list[int]]] = {}
    for i, k in enumerate(base_keys):
        groups.setdefault(k, ([], []))[0].append(i)
    for i, k in enumerate(new_keys):
        groups.setdefault(k, ([], []))[1].append(i)
    out = []
    for key, (bs, ns) in groups.items():
        for i, j in pair(base, new, bs, ns):
            out.append(_judge(label_of[key], None if i is None else base.loc[i],
                              None if j is None else new.loc[j], metric, threshold))
    rows = pd.DataFrame(out, columns=["case", "device_model", "base_device", "new_device", "base_device_name",
                                      "new_device_name", "base_status", "new_status", "sample_unit", "base", "new",
                                      "ratio", "change_pct", "noise", "verdict"])
    order = {"regression": 0, "status changed": 1, "improvement": 2}
    rows = rows.sort_values(by="verdict", key=lambda s: s.map(lambda v: order.get(v, 3)), kind="stable")
    rows = rows.reset_index(drop=True)
    present = set(device_types(rows["base_device"])) | set(device_types(rows["new_device"]))
    return Comparison(rows, metric, threshold, {t: why for t, why in apart.items() if t in present})


def _header(df: pd.DataFrame) -> dict:
    runs = df.attrs.get("runs") or [{}]
    return runs[0].get("header") or {}


def device_types(devices: pd.Series) -> pd.Series:
    """``cuda`` for ``cuda:0``: the device type of each device id (None stays None)."""
    return devices.map(lambda d: d.split(":")[0] if isinstance(d, str) else None)


def timing_apart(base: pd.DataFrame, new: pd.DataFrame) -> dict[str, str]:
    """{device type: why BASE's timing settings are not comparable with NEW's} for each device
    type the two runs' cases share, by the hardware table's rule
    (`benchsuite.report.hardware.timing_difference`: a ``--quick`` run and a full one never are)."""
    from benchsuite.report.hardware import timing_difference

    shared = [t for t in dict.fromkeys(device_types(base.get("device", pd.Series(dtype=object))))
              if t and t in set(device_types(new.get("device", pd.Series(dtype=object))))]
    found = {t: timing_difference(_header(base), _header(new), t) for t in shared}
    return {t: why for t, why in found.items() if why}


def gated(comparison: Comparison) -> pd.Series:
    """Per row: whether ``--fail-on-regression`` judges it (its pair's timing settings are
    comparable, `Comparison.not_comparable`)."""
    rows = comparison.rows
    return ~device_types(rows["base_device"]).isin(list(comparison.not_comparable))


def timing_lines(comparison: Comparison) -> list[str]:
    """A warning per device type whose two runs' timing settings differ: what differs, and that
    its changes are not judged by ``--fail-on-regression``."""
    matched = ~comparison.rows["verdict"].isin(ONE_SIDED)
    types = device_types(comparison.rows["base_device"])
    return [f"timing settings differ on {kind} (BASE vs NEW: {why}): its {int((matched & (types == kind)).sum())} "
            "matched case(s) measure the settings as well as any change, so --fail-on-regression does not judge them"
            for kind, why in comparison.not_comparable.items()]


def gate_problem(comparison: Comparison) -> str | None:
    """Why ``--fail-on-regression`` cannot judge ``comparison`` at all: every matched pair has
    timing settings that are not comparable (None: some pair can be judged)."""
    matched = ~comparison.rows["verdict"].isin(ONE_SIDED)
    if not comparison.not_comparable or not matched.any() or (matched & gated(comparison)).any():
        return None
    return ("nothing comparable: BASE's and NEW's timing settings differ ("
            + "; ".join(f"{k}: {why}" for k, why in comparison.not_comparable.items()) + ")")


def gated_regressions(comparison: Comparison) -> tuple[int, int]:
    """(regressions ``--fail-on-regression`` judges, regressions it does not: timing not comparable)."""
    regression = comparison.rows["verdict"] == "regression"
    judged = gated(comparison)
    return int((regression & judged).sum()), int((regression & ~judged).sum())


def _judge(label: str, b: pd.Series | None, n: pd.Series | None, metric: str, threshold: float) -> dict:
    either = b if b is not None else n
    unit = next((u for u in (None if r is None else r.get("sample_unit") for r in (n, b)) if isinstance(u, str)), None)
    row = {"case": label, "device_model": either.get("device_name"),
           "base_device": None if b is None else b.get("device"), "new_device": None if n is None else n.get("device"),
           "base_device_name": None if b is None else b.get("device_name"),
           "new_device_name": None if n is None else n.get("device_name"),
           "base_status": None if b is None else b.get("status"), "new_status": None if n is None else n.get("status"),
           "sample_unit": unit, "base": None, "new": None, "ratio": None, "change_pct": None, "noise": None,
           "verdict": None}
    if b is None or n is None:
        row["verdict"] = "only in base" if n is None else "only in new"
        return row
    bv, nv = b.get(metric), n.get(metric)
    row["base"] = float(bv) if _known(bv) else None
    row["new"] = float(nv) if _known(nv) else None
    if row["base_status"] == "ok" and row["new_status"] in ("oom", "error"):
        row["verdict"] = "regression"
        row["noise"] = f"now {row['new_status']}"
        return row
    if row["base_status"] == row["new_status"] and row["base_status"] != "ok":
        row["verdict"] = f"both {row['base_status']}"
        return row
    if row["base_status"] != row["new_status"]:
        row["verdict"] = "status changed"
        return row
    if row["base"] is None or row["new"] is None or row["base"] == 0:
        row["verdict"] = "not measured"
        return row
    ratio = row["new"] / row["base"]
    better = ratio - 1 if METRICS[metric] > 0 else 1 / ratio - 1
    row["ratio"] = ratio
    row["change_pct"] = (ratio - 1) * 100
    noisy = within_noise(b, n) if metric in TIME_METRICS else None
    row["noise"] = "n/a" if noisy is None else ("within" if noisy else "outside")
    if abs(better) <= threshold:
        row["verdict"] = "within threshold"
    elif noisy:
        row["verdict"] = "within noise"
    else:
        row["verdict"] = "improvement" if better > 0 else "regression"
    return row


#: A comparison that matched fewer than this share of either run's cases is not one: ``compare``
#: says so, and fails under ``--fail-on-regression`` (a gate that compared nothing must not pass).
MIN_MATCHED_SHARE = 0.5
ONE_SIDED = ("only in base", "only in new")


def coverage(comparison: Comparison) -> tuple[int, int, int]:
    """(cases matched, cases of BASE, cases of NEW)."""
    verdicts = comparison.rows["verdict"]
    matched = int((~verdicts.isin(ONE_SIDED)).sum())
    return (matched, matched + int((verdicts == "only in base").sum()),
            matched + int((verdicts == "only in new").sum()))


def coverage_problem(comparison: Comparison, share: float = MIN_MATCHED_SHARE) -> str | None:
    """Why ``comparison`` compared too little to judge (None: enough): no case matched, or fewer
    than ``share`` of BASE's or of NEW's cases."""
    matched, base, new = coverage(comparison)
    if matched == 0:
        return (f"nothing compared: none of BASE's {base} case(s) matches one of NEW's {new} "
                "(another workload, precision, batch size or parameters?)")
    if matched < share * base or matched < share * new:
        return (f"only {matched} case(s) compared: {matched / base:.0%} of BASE's {base} and {matched / new:.0%} "
                f"of NEW's {new}; a comparison needs at least {share:.0%} of each side")
    return None


def check_one_run(df: pd.DataFrame, side: str, path: Any) -> None:
    """Raise CompareError when ``df`` (one side of a comparison) holds more than one run: two
    folders of runs have no order in which their runs would pair."""
    runs = df.attrs.get("runs") or []
    if len(runs) > 1:
        raise CompareError(f"{side} {path} holds {len(runs)} runs; compare takes one run per side (a run directory "
                           f"or its {'results.jsonl'}): pick one, e.g. {runs[-1]['path']}")


MARKS = {"regression": "▼ REGRESSION", "improvement": "▲ improvement"}


def device_cell(base: Any, new: Any) -> str:
    """``cuda:0``, or ``cuda:0 → cuda:1`` where the two sides ran on different devices of one model."""
    base, new = (v if isinstance(v, str) else None for v in (base, new))
    if base is None or new is None or base == new:
        return base or new or ""
    return f"{base} → {new}"


def verdict_text(verdict: Any, base_status: Any, new_status: Any) -> str:
    """A verdict for people: ``▼ REGRESSION``, ``status ok → oom``, ``only in new``."""
    if verdict == "status changed":
        return f"status {base_status} → {new_status}"
    return MARKS.get(verdict, verdict) if isinstance(verdict, str) else ""


def display(comparison: Comparison, digits: int | None = format.DIGITS) -> pd.DataFrame:
    """Printable rows: the case, its device model, the two values with their units (three
    significant figures; ``digits`` None: every digit), the ratio, the change, the noise test
    and the verdict, marked."""
    rows = comparison.rows
    heading = metrics.heading(comparison.metric)
    return pd.DataFrame({
        "case": rows["case"],
        "device": [f"{m} ({device_cell(b, n)})" if isinstance(m, str) and m not in (b, n) else device_cell(b, n)
                   for m, b, n in zip(rows["device_model"], rows["base_device"], rows["new_device"])],
        f"base {heading}": [format.figure(v, comparison.metric, u, digits) for v, u in zip(rows["base"], rows["sample_unit"])],
        f"new {heading}": [format.figure(v, comparison.metric, u, digits) for v, u in zip(rows["new"], rows["sample_unit"])],
        "new/base": [format.sig(v, digits) for v in rows["ratio"]],
        "change": [format.change_pct(v) for v in rows["change_pct"]],
        "noise": [v if isinstance(v, str) else "" for v in rows["noise"]],
        "verdict": [verdict_text(v, b, n) for v, b, n in zip(rows["verdict"], rows["base_status"], rows["new_status"])],
    })
