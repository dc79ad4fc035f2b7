"""``benchsuite compare`` for a terminal: the matched cases under their device model, NEW
against BASE with units, the verdicts marked; the cases one run holds and the other does not
listed after the table, one line per side and device model (torch-free).

The matching and the verdicts are `benchsuite.compare`'s; this only lays them out
(`benchsuite.report.text`): at 80 columns case, BASE, NEW, change and verdict; the ratio and
the noise test where the width allows.
"""

from __future__ import annotations

from typing import Any

from benchsuite import compare, metrics
from benchsuite.report import text
from benchsuite.report.format import DIGITS, change_pct, figure, sig

#: Columns: (row key, header, align, rank); rank 0 is never dropped.
COLUMNS = (
    ("case", "case", "left", 0),
    ("device", "device", "left", 6),
    ("base", "BASE", "right", 2),
    ("new", "NEW", "right", 3),
    ("ratio", "NEW/BASE", "right", 5),
    ("change", "change", "right", 1),
    ("noise", "noise", "left", 4),
    ("verdict", "verdict", "left", 0),
)
ONE_SIDED = {"only in base": "only in BASE", "only in new": "only in NEW"}


def title(result: compare.Comparison, base_id: Any = None, new_id: Any = None) -> str:
    """``throughput (samples_per_s), NEW against BASE: ...; a regression is worse by over 5.0% and
    outside both runs' noise``."""
    runs = f"BASE {base_id} → NEW {new_id}" if base_id or new_id else "NEW against BASE"
    return (f"compare {metrics.heading(result.metric)} ({result.metric}), {runs}, by case and device model; "
            f"a regression is worse by over {result.threshold:.1%} and outside both runs' noise")


def text_table(result: compare.Comparison, limit: int | None, digits: int | None = DIGITS, base_id: Any = None,
               new_id: Any = None, after: list[str] | None = None) -> str:
    """The comparison laid out for a terminal ``limit`` columns wide (None: unlimited)."""
    rows = result.rows.to_dict("records")
    paired = [r for r in rows if r["verdict"] not in ONE_SIDED]
    moved = any(r["base_device"] != r["new_device"] for r in paired)
    columns = [text.case_column() if key == "case" else text.Column(key, header, align, rank)
               for key, header, align, rank in COLUMNS if key != "device" or moved]
    body: list = []
    for model in dict.fromkeys(r["device_model"] for r in paired):
        body.append(text.Section(str(model)))
        for r in (r for r in paired if r["device_model"] == model):
            body.append({
                "case": text.breakable(r["case"]),
                "device": compare.device_cell(r["base_device"], r["new_device"]),
                "base": figure(r["base"], result.metric, r["sample_unit"], digits),
                "new": figure(r["new"], result.metric, r["sample_unit"], digits),
                "ratio": sig(r["ratio"], digits),
                "change": change_pct(r["change_pct"]),
                "noise": r["noise"] if isinstance(r["noise"], str) else "",
                "verdict": compare.verdict_text(r["verdict"], r["base_status"], r["new_status"]),
            })
    lines = one_sided(rows) + list(after or [])
    if not paired:
        lines.insert(0, "no case is in both runs on the same device model")
    return text.render(body, columns, limit, title=title(result, base_id, new_id), after=lines)


def one_sided(rows: list[dict]) -> list[str]:
    """``only in NEW, on Intel(R) Xeon(R) Processor (18): cnn/train/fp32/bs32, ...``: one line
    per side and device model."""
    out = []
    for verdict, side in ONE_SIDED.items():
        mine = [r for r in rows if r["verdict"] == verdict]
        for model in dict.fromkeys(r["device_model"] for r in mine):
            cases = [r["case"] for r in mine if r["device_model"] == model]
            out.append(f"{side}, on {model} ({len(cases)}): {', '.join(cases)}")
    return out
