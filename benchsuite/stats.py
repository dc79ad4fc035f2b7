"""Statistics of raw step times (pure numpy: reports use this without torch)."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def summarize(times_s: Sequence[float]) -> dict[str, float | int]:
    """Median, IQR, mean, spread and percentiles of step times, in seconds."""
    t = np.asarray(times_s, dtype=float)
    if t.size == 0:
        return {"iters": 0}
    q1, median, q3, p90, p99 = np.percentile(t, [25, 50, 75, 90, 99])
    return {
        "iters": int(t.size),
        "step_s_median": float(median),
        "step_s_mean": float(t.mean()),
        "step_s_std": float(t.std(ddof=1)) if t.size > 1 else 0.0,
        "step_s_min": float(t.min()),
        "step_s_max": float(t.max()),
        "step_s_iqr": float(q3 - q1),
        "step_s_p90": float(p90),
        "step_s_p99": float(p99),
        "step_s_total": float(t.sum()),
    }
