"""The report's first screen: the page title and one headline block per device model
(torch-free).

A block answers "what did this device do": its name and power limit; the best TFLOP/s per
precision with its % of the datasheet peak and of the calibrated achievable; the best
samples/s and samples/J per workload and mode with the precision and batch size that gave
them, ranked only among cases of the same parameters (one row per matmul shape: a smaller
product is not a better one); and where the power sat (mean watts per case against the limit, the share of the
window the GPU was throttled). Runs of the same device model share one block: the best is
the best over every run given. Only ``ok`` cases count.
"""

from __future__ import annotations

import math
import re
from html import escape
from typing import Any

import pandas as pd

from benchsuite import keys
from benchsuite.report import glossary, labels

#: SI prefixes for counts per second and per joule (3 significant figures).
_PREFIXES = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))
#: more device names than this in the title are counted, not listed
TITLE_DEVICES = 3


def sig(value: Any, digits: int = 3) -> str:
    """A number to ``digits`` significant figures, no exponent: 666.5 -> '667', 0.06782 -> '0.0678'.
    (Stands in until `benchsuite.report.format` has the issue-15 precision rule.)"""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    value = float(value)
    if value == 0:
        return "0"
    exponent = int(math.floor(math.log10(abs(value))))
    decimals = digits - 1 - exponent
    if decimals <= 0:
        return f"{round(value, decimals):.0f}"
    text = f"{value:.{decimals}f}"
    # rounding may carry into a new digit (9.996 -> '10.00'): keep `digits` figures
    return sig(float(text), digits) if abs(float(text)) >= 10 ** (exponent + 1) else text


def si(value: Any) -> str:
    """A count with an SI prefix, 3 significant figures: 1314506 -> '1.31M', 862 -> '862'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    value = float(value)
    for factor, prefix in _PREFIXES:
        if abs(value) >= factor * 0.9995:
            return sig(value / factor) + prefix
    return sig(value)


def _num(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series(float("nan"), index=frame.index)
    return pd.to_numeric(frame[column], errors="coerce")


def _name(row: Any) -> str:
    name = row.get("device_name")
    return str(name) if isinstance(name, str) and name else str(row.get("device"))


def _names(df: pd.DataFrame) -> pd.Series:
    """`_name` of every row: the device name, else the device id."""
    device = df["device"].astype(str) if "device" in df.columns else pd.Series("", index=df.index)
    if "device_name" not in df.columns:
        return device
    name = df["device_name"]
    return name.where(name.notna() & (name.astype(str) != ""), device).astype(str)


def _is_gpu(row: Any) -> bool:
    return str(row.get("device", "")).startswith("cuda")


def _unit(row: Any) -> str:
    unit = row.get("sample_unit")
    return f"{unit}s" if isinstance(unit, str) and unit else "samples"


def _shape(row: Any, params: bool = True) -> str | None:
    """A case's batch size (``bs4096``), else (with ``params``) its parameters (``m=8192, n=8192, k=8192``)."""
    batch = row.get("batch_size")
    if isinstance(batch, (int, float)) and not math.isnan(batch):
        return f"bs{int(batch)}"
    found = re.search(r"\[(.*)\]$", str(row.get("id", ""))) if params else None
    return found.group(1).replace(",", ", ") if found else None


def _config(row: Any, workload: bool = False, params: bool = True) -> str:
    """How a case was run, briefly: ``bf16 · bs4096``, ``fp16 · m=8192, n=8192, k=8192``, ``· 2 ranks``;
    ``workload``: the workload and mode in place of the precision (``matmul infer · m=8192, ...``);
    ``params`` False: without the parameters (the row already names them)."""
    parts = [f"{row.get('workload')} {row.get('mode')}" if workload else str(row.get("precision"))]
    shape = _shape(row, params)
    if shape:
        parts.append(shape)
    ranks = row.get("world_size")
    if isinstance(ranks, (int, float)) and not math.isnan(ranks) and ranks > 1:
        parts.append(f"{int(ranks)} ranks")
    return " · ".join(parts)


def _source(row: Any, several_runs: bool, relevant: tuple[str, ...] = glossary.RED) -> dict[str, Any]:
    """Where a headline figure comes from: ``where`` (the case, and its run when there are
    several: a tooltip) and ``flags``, the case's quality flags that bear on this figure."""
    text = str(row.get("id"))
    flags = [f for f in glossary.case_flags(row) if f in relevant]
    return {"where": f"{text} (run {row.get('run_id')})" if several_runs else text, "flags": flags}


def _best(frame: pd.DataFrame, column: str, avoid: tuple[str, ...] = ()) -> pd.Series | None:
    """The row with the highest ``column``; among rows without an ``avoid`` flag when there are any."""
    values = _num(frame, column)
    if avoid and values.notna().any():
        clean = pd.Series([not any(f in avoid for f in flags) for flags in glossary.frame_flags(frame)],
                          index=frame.index)
        if (clean & values.notna()).any():
            values = values.where(clean)
    return None if values.notna().sum() == 0 else frame.loc[values.idxmax()]


def _headers(df: pd.DataFrame) -> list[dict]:
    return [r.get("header") or {} for r in df.attrs.get("runs", [])]


def power_limits(headers: list[dict], name: str) -> list[float]:
    """The enforced power limits (W) the run headers record for GPUs named ``name``."""
    out = []
    for h in headers:
        for gpu in (h.get("telemetry") or {}).get("gpus") or []:
            if gpu.get("name") == name:
                limit = gpu.get("enforced_power_limit_w") or gpu.get("power_limit_w")
                if isinstance(limit, (int, float)):
                    out.append(float(limit))
    return sorted(set(out))


def _device_facts(headers: list[dict], name: str) -> dict[str, Any]:
    for h in headers:
        for dev in h.get("devices") or []:
            if dev.get("name") == name:
                return dev
    return {}


def devices(df: pd.DataFrame) -> list[str]:
    """The device models of the runs, GPUs first: those with ok cases, else those in the headers."""
    names: dict[str, bool] = {}
    if not df.empty and "status" in df.columns:
        ok = df[df["status"] == "ok"]
        gpu = ok["device"].astype(str).str.startswith("cuda") if "device" in ok.columns else [False] * len(ok)
        for name, is_gpu in zip(_names(ok), gpu):
            names.setdefault(name, bool(is_gpu))
    if not names:
        for h in _headers(df):
            for dev in h.get("devices") or []:
                if dev.get("name"):
                    names.setdefault(str(dev["name"]), str(dev.get("id", "")).startswith("cuda"))
    return sorted(names, key=lambda n: (not names[n], n))


def dates(df: pd.DataFrame) -> str:
    """The runs' start dates: ``2026-11-25``, or ``2026-11-01 to 2026-11-02``; '' when unknown."""
    days = sorted({str(h.get("started_at"))[:10] for h in _headers(df) if h.get("started_at")})
    if not days:
        return ""
    return days[0] if len(days) == 1 else f"{days[0]} to {days[-1]}"


def title(df: pd.DataFrame) -> str:
    """The page title: the device models and the date, e.g.
    ``NVIDIA H100 80GB HBM3 and Intel(R) Xeon(R) Processor, 2026-11-25``."""
    names = devices(df)
    if len(names) > TITLE_DEVICES:
        shown = ", ".join(names[:TITLE_DEVICES]) + f" and {len(names) - TITLE_DEVICES} more"
    elif len(names) > 1:
        shown = ", ".join(names[:-1]) + " and " + names[-1]
    else:
        shown = names[0] if names else "no device"
    when = dates(df)
    return f"{shown}, {when}" if when else shown


def headline(df: pd.DataFrame, name: str) -> dict[str, Any]:
    """The headline figures of device model ``name`` as data (see the module docstring)."""
    headers = _headers(df)
    mine = df[(_names(df) == name).to_numpy()] if not df.empty else df
    ok = mine[mine["status"] == "ok"] if "status" in mine.columns else mine.iloc[0:0]
    several_runs = "run_id" in df.columns and df["run_id"].nunique() > 1
    facts = _device_facts(headers, name)
    out: dict[str, Any] = {
        "name": name, "gpu": bool(len(ok) and _is_gpu(ok.iloc[0])) or str(facts.get("id", "")).startswith("cuda"),
        "runs": sorted(mine["run_id"].dropna().unique().tolist()) if "run_id" in mine.columns else [],
        "status": mine["status"].value_counts().to_dict() if "status" in mine.columns else {},
        "power_limits_w": power_limits(headers, name), "memory_bytes": facts.get("memory_bytes"),
        "datasheet": (facts.get("datasheet") or {}).get("model"),
        "red": int(sum(glossary.red_rows(mine))),
    }
    compute = []
    for precision, part in ok.groupby("precision", sort=False) if len(ok) else []:
        best = _best(part, "tflop_per_s")
        if best is not None:
            compute.append({"precision": precision, "tflop_per_s": best.get("tflop_per_s"),
                            "pct_of_peak": best.get("pct_of_peak"), "pct_of_achievable": best.get("pct_of_achievable"),
                            "case": _config(best, workload=True), "source": _source(best, several_runs)})
    out["compute"] = sorted(compute, key=lambda c: -float(c["tflop_per_s"]))
    rows = []
    for (workload, mode), part in ok.groupby(["workload", "mode"], sort=True) if len(ok) else []:
        if workload == "collective":
            continue  # a collective's "samples" are calls: its figure is bandwidth (the collective section)
        for params, same in _like_with_like(part):
            # a flagged energy window is uncertain: the best samples/J comes from an unflagged one where any
            fast, frugal = _best(same, "samples_per_s"), _best(same, "samples_per_j", avoid=glossary.ENERGY)
            if fast is None:
                continue
            shown = params is None  # the row names the parameters: the cases need not
            rows.append({"workload": workload, "mode": mode, "params": params, "unit": _unit(fast),
                         "samples_per_s": fast.get("samples_per_s"), "fast_case": _config(fast, params=shown),
                         "fast_source": _source(fast, several_runs),
                         "samples_per_j": None if frugal is None else frugal.get("samples_per_j"),
                         "frugal_case": None if frugal is None else _config(frugal, params=shown),
                         "frugal_source": None if frugal is None else _source(frugal, several_runs,
                                                                              glossary.RED + glossary.ENERGY)})
    out["throughput"] = rows
    out["power"] = _power(ok, out["power_limits_w"])
    notes = ok["telemetry_note"].dropna().astype(str) if "telemetry_note" in ok.columns else pd.Series(dtype=str)
    out["power_note"] = notes.value_counts().index[0] if len(notes) else None  # why power was not measured
    return out


def _like_with_like(part: pd.DataFrame) -> list[tuple[str | None, pd.DataFrame]]:
    """The cases of one workload and mode, split by their key's parameters, so that samples/s and
    samples/J are only ranked among cases that do the same work per sample (a 2048³ matmul is
    not 64× better than an 8192³ one: its product is 64× smaller). Each part comes with its
    parameters that tell the parts apart (``m=n=k=2048``), or None when there is one part."""
    by_params: dict[tuple, list] = {}
    for index, row in zip(part.index, part.to_dict("records")):
        by_params.setdefault(keys.params(row), []).append(index)
    if len(by_params) < 2:
        return [(None, part)]
    given = {p: {**keys.ADDED_PARAMS, **dict(p)} for p in by_params}
    names = dict.fromkeys(n for values in given.values() for n in values)
    differing = [n for n in names if len({repr(values.get(n)) for values in given.values()}) > 1]
    workload = str(part["workload"].iloc[0])

    def order(params: tuple) -> list:
        return [(n, (0, v, "") if isinstance(v, (int, float)) else (1, 0, str(v)))
                for n, v in ((n, given[params].get(n)) for n in differing)]

    return [(labels.params_text(workload, {n: given[p][n] for n in differing if n in given[p]}), part.loc[by_params[p]])
            for p in sorted(by_params, key=order)]


def _power(ok: pd.DataFrame, limits: list[float]) -> dict[str, Any] | None:
    """Mean watts per case (min, median, max) against the limit; cases throttled and why."""
    watts = _num(ok, "power_mean_w").dropna()
    if watts.empty:
        return None
    share = _num(ok, "throttled_share")
    throttled = ok[share > 0.05]
    reasons: list[str] = []
    for value in throttled.get("throttle_slowing_reasons", pd.Series(dtype=object)):
        for reason in value if isinstance(value, list) else []:
            if reason not in reasons:
                reasons.append(str(reason))
    return {"min_w": float(watts.min()), "median_w": float(watts.median()), "max_w": float(watts.max()),
            "cases": int(len(watts)), "limit_w": limits[-1] if limits else None,
            "throttled": int(len(throttled)), "throttled_share": float(share[share > 0.05].mean())
            if len(throttled) else 0.0, "reasons": reasons}


# --------------------------------------------------------------------------- HTML

def _pct(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{sig(value, 2) if float(value) < 10 else f'{float(value):.0f}'} %"


def _given(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _figure(text: str, source: dict[str, Any] | None) -> str:
    """A headline figure; its case in a tooltip; starred (red for `glossary.RED`) when flagged."""
    if not source:
        return f'<span class="bs-fig">{escape(text)}</span>'
    flags = source["flags"]
    tip = source["where"] + (f"; flagged {', '.join(flags)}" if flags else "")
    css = "bs-fig" + ((" bs-red" if any(f in glossary.RED for f in flags) else " bs-amber") if flags else "")
    return f'<span class="{css}" title="{escape(tip)}">{escape(text)}{"*" if flags else ""}</span>'


def _flagged(h: dict[str, Any]) -> bool:
    sources = [c["source"] for c in h["compute"]] + [t[k] for t in h["throughput"]
                                                     for k in ("fast_source", "frugal_source") if t[k]]
    return any(s["flags"] for s in sources)


def block_html(h: dict[str, Any]) -> str:
    """One device's headline block (every machine string escaped)."""
    facts = []
    if h["gpu"]:
        limits = h["power_limits_w"]
        facts.append("power limit " + (" / ".join(f"{sig(w)} W" for w in limits) if limits else "not recorded"))
    if isinstance(h.get("memory_bytes"), (int, float)):
        facts.append(f"{h['memory_bytes'] / 2**30:.0f} GiB")
    if h.get("datasheet"):
        facts.append(f"datasheet: {h['datasheet']}")
    if h["gpu"] and h["compute"] and not any(_given(c["pct_of_achievable"]) for c in h["compute"]):
        facts.append("not calibrated (no % of achievable)")
    ok = h["status"].get("ok", 0)
    counts = f"{ok} case{'s' if ok != 1 else ''} ran" + "".join(
        f", {n} {s}" for s, n in sorted(h["status"].items()) if s != "ok")
    runs = len(h["runs"])
    facts.append(counts + (f" in {runs} runs" if runs > 1 else ""))
    parts = [f'<div class="bs-card"><h2 class="bs-device">{escape(h["name"])}</h2>',
             f'<p class="bs-facts">{escape(" · ".join(facts))}</p>']
    if h["compute"]:
        shown = [(key, head) for key, head in (("pct_of_peak", "of datasheet peak"), ("pct_of_achievable",
                                                                                     "of achievable"))
                 if any(_given(c[key]) for c in h["compute"])]
        rows = "".join(
            f"<tr><td>{escape(str(c['precision']))}</td>"
            f"<td class=\"bs-n\">{_figure(sig(c['tflop_per_s']) + ' TFLOP/s', c['source'])}</td>"
            + "".join(f"<td class=\"bs-n\">{escape(_pct(c[key]))}</td>" for key, _ in shown)
            + f"<td>{escape(c['case'])}</td></tr>" for c in h["compute"])
        heads = "".join(f"<th>{head}</th>" for _, head in shown)
        parts.append(f'<table class="bs-hl"><thead><tr><th>precision</th><th>best TFLOP/s</th>{heads}'
                     f"<th>in</th></tr></thead><tbody>{rows}</tbody></table>")
    if h["throughput"]:
        rows = "".join(
            f"<tr><td>{escape(t['workload'])} {escape(t['mode'])}"
            + (f" · {escape(t['params'])}" if t["params"] else "") + "</td>"
            f"<td class=\"bs-n\">{_figure(si(t['samples_per_s']) + ' ' + t['unit'] + '/s', t['fast_source'])}</td>"
            f"<td>{escape(t['fast_case'])}</td>"
            + (f"<td class=\"bs-n\">{_figure(si(t['samples_per_j']) + ' ' + t['unit'] + '/J', t['frugal_source'])}"
               f"</td><td>{escape(t['frugal_case'])}</td>" if t["samples_per_j"] is not None
               else '<td class="bs-n">not measured</td><td></td>') + "</tr>"
            for t in h["throughput"])
        parts.append('<table class="bs-hl"><thead><tr><th>workload</th><th>best throughput</th><th>with</th>'
                     f'<th>best energy efficiency</th><th>with</th></tr></thead><tbody>{rows}</tbody></table>')
    parts.append(f'<p class="bs-power">{escape(power_sentence(h))}</p>')
    if _flagged(h):
        parts.append('<p class="bs-note">* from a case with a <a href="#flags">quality flag</a> that bears on the '
                     "figure (hover for which); the best samples/J is taken from unflagged energy windows where "
                     "there are any.</p>")
    if h["red"]:
        parts.append(f'<p class="bs-red">{h["red"]} case{"s" if h["red"] != 1 else ""} flagged '
                     f'{escape(" or ".join(glossary.RED))}: marked red in <a href="#cases">every case</a>.</p>')
    parts.append("</div>")
    return "".join(parts)


def power_sentence(h: dict[str, Any]) -> str:
    """Where the power sat, in words."""
    p = h["power"]
    if p is None:
        why = h.get("power_note") or ("no NVML power reading" if h["gpu"] else "no RAPL energy counter was readable")
        return f"Power: not measured ({why})."
    spread = (f"{sig(p['min_w'])}–{sig(p['max_w'])} W, median {sig(p['median_w'])} W"
              if p["cases"] > 1 else f"{sig(p['median_w'])} W")
    text = f"Power: mean per case {spread}"
    if p["limit_w"]:
        text += f" against a {sig(p['limit_w'])} W limit (the highest case at {_pct(100 * p['max_w'] / p['limit_w'])})"
    text += f", over {p['cases']} case{'s' if p['cases'] != 1 else ''}. "
    if p["throttled"]:
        why = f" by {', '.join(p['reasons'])}" if p["reasons"] else ""
        text += (f"{p['throttled']} of them throttled{why}, for {_pct(100 * p['throttled_share'])} of their "
                 "windows on average.")
    elif h["gpu"]:
        text += "None throttled."
    return text.strip()


def section_html(df: pd.DataFrame) -> str:
    """Every device model's headline block, GPUs first."""
    blocks = "".join(block_html(headline(df, name)) for name in devices(df))
    return f'<section class="bs-headline" id="headline">{blocks}</section>'
