"""The hardware comparison: rows are the case key less the device, columns are device models,
with speedup and efficiency ratios against a baseline model (torch-free).

One column per device model: the runs of one model merge into one column when they are
comparable (`comparable`): the same timing settings for that device type (a ``--quick`` run
and a full one are not: the same H100 cnn bs128 case reads 17-63 % apart between them) and
the same fingerprint (`benchsuite.fingerprint`: driver, CUDA, torch, CPU, power limit,
clocks, ECC, ...; the start temperature aside, which the warm-up settles; on a CPU also the
thread count). Where several comparable runs hold a case, the column shows the newest
result (`RULE`). Runs of one model that are not comparable get a column each, named by what
tells them apart (``(--quick)``, then ``@host`` or ``@run`` for all but the group with the
most results, which keeps the model's name).

Every cell carries its units (``86.8 k img/s · 391 img/J · 2.53%``); an energy figure a
quality flag doubts is marked ``*`` and a timed one ``~`` (`benchsuite.flags`), with a
footnote; ratios have two significant figures (``0.043×``). A column whose timing settings are
not comparable with the baseline's (`timing_difference`: a ``(--quick)`` column beside full
runs) gets no ratios, and a line says why (`ratio_notes`).
"""

from __future__ import annotations

import math
from html import escape
from typing import Any, Mapping

import pandas as pd

from benchsuite import fingerprint, flags, keys
from benchsuite.report import labels, text
from benchsuite.report.format import DIGITS, MISSING, RATIO_DIGITS, quantity, short_unit, times
from benchsuite.report.markup import html_table, markdown, markdown_text

HARDWARE_FORMATS = ("table", "markdown", "csv", "html")
#: A row of the hardware table: the case less its device, so that devices line up as columns.
HARDWARE_KEY = keys.ACROSS_DEVICES
#: How a column picks one result where several comparable runs hold a case.
RULE = "newest result per case"
#: The figures of a cell: (shown name, metric, unit with ``sample`` replaced by the case's).
_HW_METRICS = {"samples/s": "samples_per_s", "samples/J": "samples_per_j", "% peak": "pct_of_peak"}
_CELL = (("samples/s", "sample/s"), ("samples/J", "sample/J"), ("% peak", "%"))
ENERGY_MARK, TIME_MARK = "*", "~"
#: Fingerprint fields that do not split a column (the warm-up settles the start temperature).
NOT_SPLITTING = ("temp_start_c",)


def _headers(df: pd.DataFrame) -> dict[str, dict]:
    return {(r.get("header") or {}).get("run_id"): r.get("header") or {} for r in df.attrs.get("runs", [])}


def _timing(header: Mapping[str, Any], device_type: str) -> tuple[bool, dict]:
    """(whether the run was ``--quick``, its timing settings for ``device_type``) from its header."""
    settings = header.get("settings") or {}
    return bool(settings.get("quick")), dict((settings.get("timing") or {}).get(device_type) or {})


#: How many differing timing fields `timing_difference` names before it says how many more.
SHOWN_FIELDS = 3


def timing_difference(a: Mapping[str, Any], b: Mapping[str, Any], a_type: str, b_type: str | None = None) -> str | None:
    """Why two runs' results (headers ``a`` and ``b``, on devices of type ``a_type`` and
    ``b_type``, default the same) are not comparable in their timing settings, ``a``'s side
    first ("--quick vs full", "min_time_s 0.5 vs 2.0"), or None where they are. One is
    ``--quick`` and the other not: never comparable (the same H100 cnn bs128 case reads 17-63 %
    apart). On one device type, any timing setting recorded differently also differs; across
    device types only ``--quick`` is judged (each type has its own defaults by design).
    The hardware table's columns and ratios and `benchsuite compare`'s gate all use this rule."""
    (quick_a, timing_a), (quick_b, timing_b) = _timing(a, a_type), _timing(b, b_type or a_type)
    if quick_a != quick_b:
        return f"{'--quick' if quick_a else 'full'} vs {'--quick' if quick_b else 'full'}"
    if (b_type or a_type) != a_type or timing_a == timing_b:
        return None
    fields = [f for f in dict.fromkeys([*timing_a, *timing_b]) if timing_a.get(f) != timing_b.get(f)]
    said = ", ".join(f"{f} {timing_a.get(f, MISSING)} vs {timing_b.get(f, MISSING)}" for f in fields[:SHOWN_FIELDS])
    return said + (f" (+{len(fields) - SHOWN_FIELDS} more)" if len(fields) > SHOWN_FIELDS else "")


def comparable(a: Mapping[str, Any], b: Mapping[str, Any], device_type: str) -> bool:
    """Two run headers whose results on one device model may share a column (module docstring)."""
    if timing_difference(a, b, device_type) is not None:
        return False
    if device_type == "cpu" and a.get("threads") != b.get("threads"):
        return False
    fields = fingerprint.differences(fingerprint.fingerprint(dict(a)), fingerprint.fingerprint(dict(b)),
                                     gpus_paired=False)
    return not [f for f in fields if f.rsplit(".", 1)[-1] not in NOT_SPLITTING]


def model_columns(df: pd.DataFrame) -> pd.Series:
    """The column of each row: its device model (name, else device id), split where runs are
    not `comparable` and then named by what differs (``(--quick)``, ``@host``, ``@run``)."""
    if df.empty:
        return pd.Series([], dtype=object)
    headers = _headers(df)
    model = df.get("device_name", pd.Series([None] * len(df), index=df.index))
    model = model.where(model.notna(), df["device"]).astype(str)
    run = df.get("run_id", pd.Series([None] * len(df), index=df.index))
    kind = df["device"].astype(str).str.split(":").str[0]
    out = model.copy()
    for name in model.unique():
        mask = model == name
        device_type = kind[mask].iloc[0]
        groups: list[list[Any]] = []  # runs, grouped by comparability
        for run_id in dict.fromkeys(run[mask]):
            header = headers.get(run_id, {})
            for group in groups:
                if comparable(headers.get(group[0], {}), header, device_type):
                    group.append(run_id)
                    break
            else:
                groups.append([run_id])
        if len(groups) == 1:
            continue
        named = {id(g): name + (" (--quick)" if _quick(g, headers) else "") for g in groups}
        size = {id(g): int((mask & run.isin(g)).sum()) for g in groups}
        for group in groups:
            label = named[id(group)]
            rivals = [g for g in groups if named[id(g)] == label]
            if len(rivals) > 1 and group is not max(rivals, key=lambda g: size[id(g)]):
                label += f" {_where(group, rivals, headers)}"  # the group with the most results keeps the name
            out[mask & run.isin(group)] = label
    return out


def _quick(group: list, headers: dict) -> bool:
    return any((headers.get(r, {}).get("settings") or {}).get("quick") for r in group)


def _where(group: list, rivals: list[list], headers: dict) -> str:
    """``@host`` where that tells the group apart from its rivals, else ``@<newest run id>``."""
    hosts = [{(headers.get(r, {}).get("host") or {}).get("hostname") for r in g} for g in rivals]
    mine = hosts[rivals.index(group)]
    if len(mine) == 1 and hosts.count(mine) == 1 and None not in mine:
        return f"@{next(iter(mine))}"
    return f"@{group[-1]}"


def _row_order(key: tuple) -> tuple:
    """Rows by workload, mode (train first), precision (`labels.PRECISION_ORDER`), batch size, then the rest."""
    parts = dict(zip(HARDWARE_KEY.fields, key))
    precision, order = str(parts.get("precision", "")), labels.PRECISION_ORDER
    batch = parts.get("batch_size")
    return (str(parts.get("workload", "")), {"train": 0, "infer": 1}.get(parts.get("mode"), 2),
            order.index(precision) if precision in order else len(order), precision,
            batch if isinstance(batch, (int, float)) else -1, str(key))


def _newest_first(df: pd.DataFrame) -> pd.DataFrame:
    """Rows ordered oldest run first, so that the last of a case is the newest result."""
    started = {run_id: (h.get("started_at") or "", run_id or "") for run_id, h in _headers(df).items()}
    order = df["run_id"].map(lambda r: started.get(r, ("", r or ""))) if "run_id" in df.columns else None
    if order is None:
        return df
    return df.assign(_order=order).sort_values("_order", kind="stable").drop(columns="_order")


#: ``df.attrs`` key naming the run ids `with_references` added (shipped references, not the user's runs).
REFERENCE_RUNS = "reference_runs"


def hardware(df: pd.DataFrame, baseline: str | None = None) -> tuple[pd.DataFrame, list[str], str | None]:
    """The numeric hardware comparison: one row per case key, for each device model column
    its samples/s, samples/J and % of peak (the newest comparable result), then speedup
    (samples/s ratio) and efficiency (samples/J ratio) of each other column against
    ``baseline``. Only ``ok`` cases take part; a ratio needs the case on both columns.
    ``baseline`` matches a column exactly, else as a case-insensitive part of one (where it
    matches several, the one that is the bare model name); default: `default_baseline`.
    Returns (frame, column labels in order, baseline label)."""
    ok = df[df["status"] == "ok"].copy() if "status" in df.columns else df.iloc[0:0].copy()
    ok.attrs = df.attrs
    ok["_device"] = model_columns(ok).values
    devices = list(dict.fromkeys(ok["_device"]))
    base = _pick_baseline(devices, baseline) if baseline is not None else default_baseline(ok)
    apart = not_comparable(ok, devices, base)
    ok = _newest_first(ok)
    records_ = ok.to_dict("records")
    case_keys = [keys.key(r, HARDWARE_KEY) for r in records_]
    names = dict(zip(case_keys, labels.labels(records_, HARDWARE_KEY)))
    cells: dict[tuple, dict[str, dict]] = {}
    for k, row in zip(case_keys, records_):
        cells.setdefault(k, {})[row["_device"]] = row  # the newest comes last and wins
    records = []
    for key, by_device in sorted(cells.items(), key=lambda item: _row_order(item[0])):
        rec: dict[str, Any] = {"case": names[key]}
        for dev in devices:
            row = by_device.get(dev)
            for shown, col in _HW_METRICS.items():
                rec[f"{dev} | {shown}"] = _float(None if row is None else row.get(col))
            if row is not None:
                found = flags.of(row)
                rec[f"{dev} | sample unit"] = row.get("sample_unit")
                rec[f"{dev} | energy flags"] = ",".join(flags.doubting(found, flags.ENERGY)) or None
                rec[f"{dev} | time flags"] = ",".join(flags.doubting(found, flags.TIME)) or None
        for dev in devices:
            if dev == base or dev in apart:
                continue
            for shown, col in (("speedup", "samples/s"), ("efficiency", "samples/J")):
                a, b = rec[f"{base} | {col}"], rec[f"{dev} | {col}"]
                rec[f"{dev} | {shown} vs {base}"] = b / a if a == a and b == b and a > 0 else math.nan
        records.append(rec)
    frame = pd.DataFrame(records)
    if not frame.empty:  # drop columns that hold nothing anywhere (e.g. no energy measured)
        frame = frame[["case"] + [c for c in frame.columns[1:] if frame[c].notna().any()]]
    frame.attrs = {NOT_COMPARABLE: apart}
    return frame, devices, base


#: ``attrs`` key of `hardware`'s frame: {column: why its timing settings are not comparable
#: with the baseline's} for the columns that get no ratios.
NOT_COMPARABLE = "not_comparable"


def not_comparable(ok: pd.DataFrame, devices: list[str], base: str | None) -> dict[str, str]:
    """{column: `timing_difference` against the baseline} for each column whose timing settings
    are not comparable with the baseline column's (a ``--quick`` column against full runs): its
    speedup and efficiency would measure the settings, not the hardware, so it gets none.
    A column's runs are comparable among themselves (`model_columns`): its first run speaks for it."""
    if base is None or ok.empty:
        return {}
    headers = _headers(ok)
    run = ok["run_id"] if "run_id" in ok.columns else pd.Series(None, index=ok.index)
    kind = ok["device"].astype(str).str.split(":").str[0]

    def first(dev: str) -> tuple[Mapping[str, Any], str]:
        mask = ok["_device"] == dev
        return headers.get(run[mask].iloc[0], {}), kind[mask].iloc[0]

    base_header, base_type = first(base)
    apart = {}
    for dev in devices:
        if dev != base:
            header, device_type = first(dev)
            why = timing_difference(header, base_header, device_type, base_type)
            if why:
                apart[dev] = why
    return apart


def ratio_notes(frame: pd.DataFrame, base: str | None) -> list[str]:
    """A line per column left without ratios (`not_comparable`), saying why."""
    return [f"No ratios for {dev}: its timing settings are not comparable with the baseline's ({why}), so a "
            "ratio would measure the settings, not the hardware."
            for dev, why in (frame.attrs.get(NOT_COMPARABLE) or {}).items()]


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def default_baseline(ok: pd.DataFrame) -> str | None:
    """The baseline when none is asked for: the column with the most results, among the
    columns of the runs given (a column of shipped references only is never the default while
    there is another); ties go to the column named by the bare model (the merged full runs,
    not ``(--quick)`` or ``@...``), then to the first. ``ok`` holds the ``_device`` column of
    `hardware`. `benchsuite table` and the report's hardware section both use this."""
    if ok.empty:
        return None
    devices = list(dict.fromkeys(ok["_device"]))
    references = set(ok.attrs.get(REFERENCE_RUNS) or ())
    run = ok["run_id"] if "run_id" in ok.columns else pd.Series(None, index=ok.index)
    mine = [d for d in devices if not set(run[ok["_device"] == d]) <= references] or devices
    name = ok["device_name"].where(ok["device_name"].notna(), ok["device"]) if "device_name" in ok.columns \
        else ok["device"]
    plain = set(name.astype(str))
    counts = ok["_device"].value_counts()
    return max(mine, key=lambda d: (int(counts.get(d, 0)), d in plain, -devices.index(d)))


def baseline_note(base: str | None, given: bool) -> str:
    """Which column the ratios are against, and why it was chosen."""
    if base is None:
        return ""
    why = "as asked (--baseline)" if given else "the column with the most results of the runs given (--baseline " \
                                                "picks another)"
    return f"Ratios (speedup: samples/s, efficiency: samples/J) are against {base}, {why}."


def _pick_baseline(devices: list[str], wanted: str) -> str | None:
    if not devices:
        return None
    if wanted in devices:
        return wanted
    hits = [d for d in devices if wanted.lower() in d.lower()]
    if len(hits) > 1:  # several runs of one model that did not merge: the plain model name
        plain = [d for d in hits if not d.endswith(")") and " @" not in d]
        hits = plain if len(plain) == 1 else hits
    if len(hits) == 1:
        return hits[0]
    why = "matches several devices" if hits else "matches no device"
    raise ValueError(f"--baseline {wanted!r} {why}; devices: {', '.join(devices)}")


def _unit(unit: str, row: Mapping[str, Any], dev: str) -> str:
    sample = row.get(f"{dev} | sample unit")
    return unit.replace("sample", sample) if isinstance(sample, str) and sample else unit


def _marks(row: Mapping[str, Any], dev: str, shown: str) -> str:
    energy = isinstance(row.get(f"{dev} | energy flags"), str)
    timed = isinstance(row.get(f"{dev} | time flags"), str)
    if shown == "samples/J":
        return ENERGY_MARK if energy else ""
    return TIME_MARK if timed and shown == "samples/s" else ""


def cell(row: Mapping[str, Any], dev: str, digits: int | None = DIGITS) -> str:
    """One device's cell: ``86.8 k img/s · 391 img/J* · 2.53%``, '—' where nothing was measured."""
    parts = []
    for shown, unit in _CELL:
        value = row.get(f"{dev} | {shown}")
        if value is not None and value == value:
            parts.append(quantity(value, short_unit(_unit(unit, row, dev)), digits) + _marks(row, dev, shown))
    return " · ".join(parts) if parts else MISSING


def _ratio_cell(row: Mapping[str, Any], column: str, dev: str, base: str | None, digits: int | None) -> str:
    value = row.get(column)
    shown = times(value, None if digits is None else RATIO_DIGITS)
    if shown == MISSING:
        return shown
    what = "samples/J" if "efficiency" in column else "samples/s"
    return shown + "".join(dict.fromkeys(_marks(row, d, what) for d in (dev, base) if d))


def display_columns(frame: pd.DataFrame, devices: list[str], base: str | None) -> list[tuple[str, str, str]]:
    """(frame column or device, header, kind) of the shown table in order: each device, then its
    ratios against the baseline; ``kind`` is ``device`` or ``ratio``."""
    out = []
    present = [d for d in devices if any(c.startswith(f"{d} | ") and c.split(" | ")[1] in _HW_METRICS
                                          for c in frame.columns)]
    for dev in ([base] if base in present else []) + [d for d in present if d != base]:
        out.append((dev, dev + (" (baseline)" if dev == base else ""), "device"))
        for what in ("speedup", "efficiency"):
            column = f"{dev} | {what} vs {base}"
            if column in frame.columns:
                out.append((column, what, "ratio"))
    return out


def hardware_display(frame: pd.DataFrame, devices: list[str], base: str | None,
                     digits: int | None = DIGITS) -> pd.DataFrame:
    """Printable hardware table: one cell per device with units ("86.8 k img/s · 391 img/J ·
    2.53%", flagged figures marked), each followed by its ratios against the baseline
    ("speedup <device>": "0.043×"); '—' where not measured or not comparable."""
    if frame.empty:
        return pd.DataFrame({"case": []})
    rows = frame.to_dict("records")
    out = {"case": [r["case"] for r in rows]}
    for column, header, kind in display_columns(frame, devices, base):
        if kind == "device":
            out[header] = [cell(r, column, digits) for r in rows]
        else:
            dev, _, what = column.partition(" | ")
            out[f"{what.split(' vs ')[0]} {dev}"] = [_ratio_cell(r, column, dev, base, digits) for r in rows]
    return pd.DataFrame(out)


def _footnotes(frame: pd.DataFrame, devices: list[str]) -> list[tuple[str, str]]:
    """The marks' footnotes: which flags put the marked figures in doubt, with how many cells;
    a flag counts only where its cell shows the figure it marks (no samples/J: no ``*``)."""
    notes = []
    for mark, suffix, what, marked in ((ENERGY_MARK, "energy flags", "energy", "samples/J"),
                                       (TIME_MARK, "time flags", "timed figure", "samples/s")):
        counts: dict[str, int] = {}
        for dev in devices:
            flagged = frame.get(f"{dev} | {suffix}", pd.Series(dtype=object))
            shown = frame.get(f"{dev} | {marked}", pd.Series(math.nan, index=frame.index))
            for value, figure in zip(flagged, shown):
                if isinstance(value, str) and figure == figure:
                    for name in value.split(","):
                        counts[name] = counts.get(name, 0) + 1
        if counts:
            listed = ", ".join(f"{n} ({c})" for n, c in counts.items())
            notes.append((mark, f"{what} in doubt, flagged: {listed}; `benchsuite explain FLAG` says what each means"))
    return notes


def title(base: str | None) -> str:
    """The table's title, two lines at 80 columns: what a cell holds and what ratios are
    against (`explanation` says how columns are made and how the baseline was chosen)."""
    return f"Hardware comparison by device model (throughput · samples/J · % of datasheet peak); ratios vs {base}"


def explanation(base: str | None, given: bool) -> list[str]:
    """The lines under the table that the title leaves out: how a column is made and picks a
    result (`RULE`), and the baseline (`baseline_note`)."""
    lines = [f"Columns: one per device model; comparable runs share one, with the {RULE} "
             "(a --quick run or another fingerprint gets its own)."]
    note = baseline_note(base, given)
    return lines + ([note] if note else [])


def text_table(df: pd.DataFrame, limit: int | None, digits: int | None = DIGITS, baseline: str | None = None,
               after: list[str] | None = None) -> str:
    """The hardware comparison for a terminal ``limit`` columns wide: devices beyond what fits
    are left out (and named), never cut."""
    frame, devices, base = hardware(df, baseline)
    if frame.empty:
        return "Hardware comparison: no successful cases to compare.\n"
    rows = frame.to_dict("records")
    columns = [text.case_column()]
    body = [{"case": text.breakable(r["case"])} for r in rows]
    for rank, (column, header, kind) in enumerate(display_columns(frame, devices, base), start=1):
        columns.append(text.Column(column, header, "right", rank))
        for shown, r in zip(body, rows):
            if kind == "device":
                shown[column] = cell(r, column, digits)
            else:
                dev = column.partition(" | ")[0]
                shown[column] = _ratio_cell(r, column, dev, base, digits)
    return text.render(body, columns, limit, title=title(base), notes=_footnotes(frame, devices),
                       after=explanation(base, baseline is not None) + ratio_notes(frame, base) + (after or []))


def render_hardware(df: pd.DataFrame, fmt: str, baseline: str | None = None, digits: int | None = DIGITS) -> str:
    """The hardware comparison as markdown, csv (numbers) or an escaped HTML table."""
    frame, devices, base = hardware(df, baseline)
    if fmt == "csv":
        return frame.to_csv(index=False)
    shown = hardware_display(frame, devices, base, digits)
    notes = _footnotes(frame, devices) if not frame.empty else []
    lines = explanation(base, baseline is not None) + ratio_notes(frame, base) if not frame.empty else []
    if fmt == "markdown":
        return (f"{markdown_text(title(base))}\n\n" + markdown(shown)
                + "".join(f"\n{markdown_text(mark)} {markdown_text(note)}" for mark, note in notes)
                + ("\n" if notes else "") + "".join(f"\n{markdown_text(line)}\n" for line in lines))
    if fmt == "html":
        return (html_table(shown) + "".join(f"<p>{escape(mark)} {escape(note)}</p>\n" for mark, note in notes)
                + "".join(f"<p>{escape(line)}</p>\n" for line in lines))
    raise ValueError(f"unknown format {fmt!r}; allowed: {', '.join(HARDWARE_FORMATS)}")


def gpu_models(df: pd.DataFrame) -> set[str]:
    """The GPU models (device names of ``cuda`` rows) a results frame holds."""
    if df.empty or "device" not in df.columns:
        return set()
    gpu = df[df["device"].astype(str).str.startswith("cuda")]
    names = gpu.get("device_name", pd.Series(dtype=object))
    return {str(n) for n in names.dropna()}


def with_references(mine: pd.DataFrame, reference: pd.DataFrame,
                    include: bool | None) -> tuple[pd.DataFrame, str | None]:
    """``mine`` with the shipped reference results ``include`` asks for, and a sentence saying
    which: all of them (True), none (False), or by default only the rows of GPU models ``mine``
    does not have (a reference CPU beside the user's GPU runs, or a second H100, adds nothing)."""
    if reference.empty or include is False:
        return mine, None
    if include:
        added = reference
        note = "shipped reference results included (--reference): " + ", ".join(
            sorted({str(r) for r in reference["run_id"].dropna()}))
    else:
        new = sorted(gpu_models(reference) - gpu_models(mine))
        if not new:
            return mine, ("shipped reference results left out: they add no GPU model these runs lack "
                          "(--reference includes them)")
        added = reference[reference["device_name"].isin(new) & reference["device"].astype(str).str.startswith("cuda")]
        note = (f"shipped reference results added for {', '.join(new)}, a GPU model these runs lack "
                f"(runs {', '.join(sorted({str(r) for r in added['run_id'].dropna()}))}; --no-reference leaves them out)")
    runs = set(added["run_id"].dropna())
    combined = pd.concat([mine, added], ignore_index=True)
    combined.attrs = {"runs": list(mine.attrs.get("runs", [])) + [
        r for r in reference.attrs.get("runs", []) if (r.get("header") or {}).get("run_id") in runs],
        REFERENCE_RUNS: sorted(str(r) for r in runs - set(mine.get("run_id", pd.Series(dtype=object)).dropna()))}
    return combined, note
