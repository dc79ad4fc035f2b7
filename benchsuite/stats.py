"""Statistics of raw step or block times (numpy, imported when used: the command line reaches
this module through `benchsuite.settings` and starts without numpy)."""

from __future__ import annotations

from typing import Sequence


def summarize(times_s: Sequence[float], steps_per_block: int = 1) -> dict[str, float | int]:
    """Median, IQR, mean, spread and percentiles of step times, in seconds.

    ``times_s`` are the seconds of blocks of ``steps_per_block`` consecutive steps (1: each
    step timed on its own). Every statistic but the mean and the total is then one of
    **per-block mean step times** (a block's seconds ÷ its steps): blocks hide the jitter
    between the steps inside them. ``iters`` counts steps, ``step_s_total`` is every block's
    seconds, and ``step_s_mean`` is that ÷ the steps (the same either way).
    """
    import numpy as np

    t = np.asarray(times_s, dtype=float)
    if t.size == 0:
        return {"iters": 0}
    per_step = t / steps_per_block
    q1, median, q3, p90, p99 = np.percentile(per_step, [25, 50, 75, 90, 99])
    return {
        "iters": int(t.size * steps_per_block),
        "step_s_median": float(median),
        "step_s_mean": float(t.sum() / (t.size * steps_per_block)),
        "step_s_std": float(per_step.std(ddof=1)) if t.size > 1 else 0.0,
        "step_s_min": float(per_step.min()),
        "step_s_max": float(per_step.max()),
        "step_s_iqr": float(q3 - q1),
        "step_s_p90": float(p90),
        "step_s_p99": float(p99),
        "step_s_total": float(t.sum()),
    }


def merge_neighbours(times_s: Sequence[float], steps_per_block: int, cap: int) -> tuple[list[float], int]:
    """At most ``cap`` blocks: neighbours summed in pairs (the block doubling) until they fit.

    Returns (block seconds, steps per block). An odd block left at the end of a pass is
    dropped (it is at most one block of the old size), so every block keeps the same steps.
    """
    if cap < 1:
        raise ValueError(f"cap={cap!r} is not allowed; allowed: an integer from 1")
    times = [float(t) for t in times_s]
    while len(times) > cap:
        times = [times[i] + times[i + 1] for i in range(0, len(times) - 1, 2)]
        steps_per_block *= 2
    return times, steps_per_block
