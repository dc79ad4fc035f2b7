"""The calibration table: achievable TFLOP/s and GB/s per device beside the datasheet's, as
``benchsuite calibrate`` prints it (torch-free)."""

from __future__ import annotations

import pandas as pd

from benchsuite.report import text
from benchsuite.report.format import DIGITS, nbytes, quantity, sig

#: The terminal layout of `calibration_table` under a heading per device: (column, align, rank;
#: 0 is never dropped). The datasheet's figure is shown as printed; notes wrap between words.
LAYOUT = (("ceiling", "left", 0), ("achievable", "right", 1), ("unit", "left", 1), ("datasheet", "right", 4),
          ("% of datasheet", "right", 2), ("found at", "left", 5), ("notes", "left", 3))


def calibration_table(records: list[dict], digits: int | None = DIGITS) -> pd.DataFrame:
    """One display row per device and ceiling of calibration records: achievable beside
    datasheet, '—' where there is no datasheet figure (CPUs). ``notes``: a matmul search
    throttled above `THROTTLED_SHARE_THRESHOLD` of its readings ("throttled 12% of the
    search (sw_power_cap)") or why its telemetry is missing, and a CPU's thread count."""

    def search_note(entry: dict) -> str:
        if entry.get("throttled"):
            reasons = entry.get("throttle_slowing_reasons") or entry.get("throttle_reasons") or []
            return (f"throttled {entry['throttled_share']:.0%} of the search"
                    + (f" ({', '.join(reasons)})" if reasons else ""))
        return entry.get("telemetry_note") or ""

    rows = []
    for rec in records:
        device = f"{rec['device']['id']} ({rec['device']['name']})"
        threads = (f"{rec['threads']} threads" if rec["device"].get("type") == "cpu" and rec.get("threads")
                   else "")
        for name, entry in (rec.get("matmul") or {}).items():
            shape = entry.get("shape")
            rows.append({"device": device, "ceiling": f"matmul {name}", "achievable": sig(entry.get("tflop_per_s"), digits),
                         "datasheet": sig(entry.get("datasheet_tflop_per_s"), None), "unit": "TFLOP/s",
                         "% of datasheet": quantity(entry.get("pct_of_datasheet"), "%", digits),
                         "found at": "x".join(map(str, shape)) if shape else (entry.get("note") or ""),
                         "notes": "; ".join(n for n in (threads, search_note(entry)) if n)})
        for kind, entry in (rec.get("bandwidth") or {}).items():
            label = {"d2d": "memory copy", "h2d": "host to device", "d2h": "device to host"}.get(kind, kind)
            rows.append({"device": device, "ceiling": label, "achievable": sig(entry.get("gb_per_s"), digits),
                         "datasheet": sig(entry.get("datasheet_gb_per_s"), None), "unit": "GB/s",
                         "% of datasheet": quantity(entry.get("pct_of_datasheet"), "%", digits),
                         "found at": nbytes(entry.get("bytes_per_copy"), digits) + " per copy",
                         "notes": threads})
    return pd.DataFrame(rows, columns=["device", "ceiling", "achievable", "datasheet", "unit", "% of datasheet",
                                       "found at", "notes"])


def text_table(records: list[dict], limit: int | None, digits: int | None = DIGITS) -> str:
    """The calibration table for a terminal ``limit`` columns wide (`benchsuite.report.text`)."""
    frame = calibration_table(records, digits)
    columns = [text.Column(name, name, align, rank, wraps=name == "notes") for name, align, rank in LAYOUT]
    body: list = []
    for device in dict.fromkeys(frame["device"]):
        body.append(text.Section(device))
        body.extend(r for r in frame.to_dict("records") if r["device"] == device)
    return text.render(body, columns, limit, title="achievable vs datasheet")
