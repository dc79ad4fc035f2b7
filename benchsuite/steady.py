"""The steady-state rule: when a warm-up has reached the level the measurement will see.

Pure and torch-free. It judges block times (`benchsuite.timing`: seconds of blocks of
consecutive steps, with the steps in each) on a time axis of cumulative block time:

1. cut the last ``spans × span_s`` seconds (4 × 1 s) into consecutive spans; a block belongs
   to the span its end falls in; each span's value is its **mean step time** (span seconds ÷
   steps in it, i.e. 1 / throughput; the same for steps and for blocks);
2. fit a least-squares line through the span values: **drift** D = |slope| × (spans − 1)
   ÷ the median span value, the fitted change from the first span to the last;
3. **rough** = the mean over neighbouring spans of |m_i / m_(i−1) − 1|;
4. steady if D ≤ ``tol`` (0.5 %: clause "trend"), or if rough ≥ ``noisy_rough`` (2 %) and
   D ≤ ``noisy_k`` × rough (2×: clause "noisy" — the trace wanders more than it trends; a pure
   monotone drift has D = 3 × rough over 4 spans and never passes it).

Source of every number: the H100 runs of 2026-11-25 (issue 14; the analysis and the traces in
``tests/fixtures/h100/``). Spans of 1 s hold at least one period of the ~1 Hz oscillation an H100
shows at its power cap (0.5 s spans of the fp8 matmul differ by up to 8.8 %, 1 s spans by
≤ 1.8 %); span means beat span medians (they average the oscillation out). Four spans, not
three: with three, a 5 %-over-10 s drift hidden in real noise passed in 31/40 variants. The
tolerance 0.5 % lies between the steady traces' noise (D p95 0.14-0.86 %, fp8 1.89 %) and the
synthetic drift (D ≈ 1.5 %). On the recorded traces every case is first steady after 4.0-5.0 s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

#: How a warm-up ended, as the record's ``timing.warmup_rule`` says it.
TREND, NOISY, CAP = "trend", "noisy", "cap"


@dataclass(frozen=True)
class SteadyRule:
    """The rule's numbers (see the module docstring for their sources)."""

    span_s: float = 1.0  # one span; at least one period of the ~1 Hz power-cap oscillation
    spans: int = 4  # spans judged: the rule looks at the last spans × span_s seconds
    tol: float = 0.005  # "trend": fitted drift from first to last span at most this (0.5 %)
    noisy_rough: float = 0.02  # "noisy": span-to-span roughness at least this (2 %) ...
    noisy_k: float = 2.0  # ... and the drift at most this many times the roughness

    @property
    def judged_s(self) -> float:
        """Seconds of block time the rule looks at (4 s)."""
        return self.span_s * self.spans


@dataclass(frozen=True)
class Verdict:
    """One judgement: steady or not, the clause that said so, drift D and roughness (fractions)."""

    steady: bool
    clause: str | None  # TREND, NOISY or None (not steady)
    drift: float
    rough: float
    span_means_s: tuple[float, ...]


def span_means(block_s: Sequence[float], steps: Sequence[int], rule: SteadyRule,
               end_s: float | None = None) -> list[float] | None:
    """Mean step time of each of the ``rule.spans`` spans of ``rule.span_s`` seconds that end at
    ``end_s`` (default: the end of the last block), oldest first, on the axis of cumulative
    block time; None if the blocks do not cover them or a span holds no block end."""
    ends, total = [], 0.0
    for seconds in block_s:
        total += seconds
        ends.append(total)
    end_s = total if end_s is None else end_s
    start = end_s - rule.judged_s
    if start < -1e-12 or not ends:
        return None
    sums = [0.0] * rule.spans
    counts = [0] * rule.spans
    # walk back from the newest block: only the last judged_s seconds are read
    for i in range(len(ends) - 1, -1, -1):
        end = ends[i]
        if end > end_s + 1e-12:
            continue
        if end <= start + 1e-12:
            break
        k = min(rule.spans - 1, int((end - start - 1e-12) // rule.span_s))  # span holding (a, b]
        sums[k] += block_s[i]
        counts[k] += steps[i]
    if any(c == 0 for c in counts):
        return None
    return [s / c for s, c in zip(sums, counts)]


def judge(means: Sequence[float], rule: SteadyRule) -> Verdict:
    """The rule applied to span means (oldest first)."""
    n = len(means)
    ordered = sorted(means)
    median = (ordered[n // 2] + ordered[(n - 1) // 2]) / 2
    rel = [m / median for m in means]
    xs = [i - (n - 1) / 2 for i in range(n)]
    mean_rel = sum(rel) / n
    slope = sum(x * (r - mean_rel) for x, r in zip(xs, rel)) / sum(x * x for x in xs)
    drift = abs(slope) * (n - 1)
    rough = sum(abs(b / a - 1) for a, b in zip(means, means[1:])) / (n - 1)
    if drift <= rule.tol:
        clause: str | None = TREND
    elif rough >= rule.noisy_rough and drift <= rule.noisy_k * rough:
        clause = NOISY
    else:
        clause = None
    return Verdict(clause is not None, clause, drift, rough, tuple(means))


def judge_blocks(block_s: Sequence[float], steps: Sequence[int], rule: SteadyRule,
                 end_s: float | None = None) -> Verdict | None:
    """`judge` on the spans ending at ``end_s`` (default: the last block's end); None until the
    blocks cover ``rule.judged_s`` seconds."""
    means = span_means(block_s, steps, rule, end_s)
    return judge(means, rule) if means is not None else None


def evaluate(block_s: Sequence[float], steps: Sequence[int], rule: SteadyRule,
             every_s: float = 0.25) -> list[tuple[float, Verdict]]:
    """Judgements at ``judged_s``, ``judged_s + every_s``, ... seconds of block time (how the
    rule was studied on the recorded traces); for analysis and tests."""
    total = sum(block_s)
    out = []
    k = 0
    while rule.judged_s + k * every_s <= total + 1e-12:
        end = rule.judged_s + k * every_s
        verdict = judge_blocks(block_s, steps, rule, end)
        if verdict is not None:
            out.append((end, verdict))
        k += 1
    return out
