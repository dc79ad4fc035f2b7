"""What a table says about the runs it was made from: a run that stopped before its plan was
done, and the planned cases it never ran, in one line per run (torch-free).

A run's entry in ``df.attrs["runs"]`` (`benchsuite.results.load`) carries ``cut_short`` (why
it holds fewer cases than it meant to, in words; None when it ran its plan) and ``not_run``
(the planned case ids that have no record; None when the header has no planned list). A run
loaded by a version without those entries is judged from its end status: no end record is
"cut short after N cases", an ``interrupted`` or ``failed`` end says so.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

#: How many never-run case ids a line names before it counts the rest.
NAMED = 3


def cut_short(run: Mapping[str, Any], cases: int) -> str | None:
    """Why ``run`` (an ``attrs["runs"]`` entry) holds fewer cases than planned, or None."""
    if "cut_short" in run:
        return run["cut_short"]
    status = run.get("status")
    if status in (None, "completed"):
        return None
    what = "cut short" if status == "unfinished" else str(status)
    return f"{what} after {cases} case{'s' if cases != 1 else ''}; the planned list was not recorded"


def lines(runs: Iterable[Mapping[str, Any]], case_counts: Mapping[Any, int]) -> list[str]:
    """One line per run that stopped early: ``run <id>: cut short after 46 of 70 planned cases:
    24 never ran (cnn/train/cuda:0/fp32/bs128, ... and 21 more)``."""
    out = []
    for run in runs:
        run_id = (run.get("header") or {}).get("run_id")
        why = cut_short(run, case_counts.get(run_id, 0))
        if not why:
            continue
        missing = run.get("not_run") or []
        line = f"run {run_id}: {why}"
        if missing:
            named = ", ".join(missing[:NAMED])
            more = len(missing) - NAMED
            line += f" (never ran: {named}" + (f" and {more} more)" if more > 0 else ")")
        out.append(line)
    return out


def frame_lines(df) -> list[str]:
    """`lines` for the runs of a results DataFrame (`benchsuite.results.load`)."""
    counts = df["run_id"].value_counts().to_dict() if "run_id" in df.columns else {}
    return lines(df.attrs.get("runs", []), counts)
