"""Make a measured run small enough to ship in reports/reference/: raw step times become blocks.

    python benchmarks/selfcheck/compact_reference.py RUN_DIR [RUN_DIR ...] --out reports/reference

A run measured before block timing (results schema 1) keeps every timed step in its cases'
``timing.times_s``: up to 92,293 numbers a case, 95 % or more of the file. For each RUN_DIR this
writes OUT/<run id>/results.jsonl as a schema-2 file, changing only that:

- ``timing.times_s`` becomes ``timing.block_times_s`` and ``timing.steps_per_block``: neighbouring
  steps summed in pairs until at most `MAX_BLOCKS` blocks remain, by the rule block timing applies
  while it measures (`benchsuite.stats.merge_neighbours`: an odd block left at the end of a pass
  is dropped, so a case loses fewer steps than one block holds). A case of at most `MAX_BLOCKS`
  steps keeps every step, as blocks of one.
- ``timing.step_s_q1`` and ``timing.step_s_q3`` keep the quartiles of every step, which `compare`
  judges noise by (`benchsuite.record.quartiles` reads them before the blocks).
- the header's ``schema`` becomes 2 and ``compacted`` says what was changed, by this script, and
  the original file's size and sha256.

Everything else (metrics, telemetry, identity, the end record or its absence) is copied as
recorded: the metrics were computed from every step when the run was measured and stay as they
were. The run's other files (samples.csv, claims.json/.md/.html) are copied unchanged. The
result is checked before it is written: it loads, and each record equals its original but for
the fields above. A file already compacted, or written with block timing, is refused.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchsuite import record, results, stats  # noqa: E402

#: At most this many blocks a case: block timing's own cap (`benchsuite.timing.TimingSettings.max_blocks`).
MAX_BLOCKS = 1024
SCRIPT = "benchmarks/selfcheck/compact_reference.py"
#: The timing fields compaction writes in place of ``times_s``.
BLOCK_FIELDS = ("block_times_s", "steps_per_block", "step_s_q1", "step_s_q3")


class CompactError(ValueError):
    """A run this script cannot compact (not schema 1, already compacted); the message says why."""


def compact_timing(timing: dict[str, Any], max_blocks: int = MAX_BLOCKS) -> tuple[dict[str, Any], int]:
    """(the timing section with ``times_s`` as blocks, steps left out). Field order is kept: the
    block fields take ``times_s``'s place."""
    times = timing["times_s"]
    blocks, per_block = stats.merge_neighbours(times, 1, max_blocks)
    out: dict[str, Any] = {}
    for key, value in timing.items():
        if key == "times_s":
            out["block_times_s"] = blocks
            out["steps_per_block"] = per_block
            out.update(record.quartiles({"times_s": times}))
        else:
            out[key] = value
    return out, len(times) - len(blocks) * per_block


def compact_records(records: list[dict[str, Any]], source: Path,
                    max_blocks: int = MAX_BLOCKS) -> list[dict[str, Any]]:
    """The records of one results file (header first), compacted; ``source`` is the original
    file, whose size and sha256 the header's ``compacted`` names."""
    header = records[0]
    if header.get("record") != "header":
        raise CompactError(f"{source}: the first record is not a header")
    if header.get("compacted"):
        raise CompactError(f"{source}: already compacted ({header['compacted'].get('by')})")
    if header.get("schema") != 1:
        raise CompactError(f"{source}: results schema {header.get('schema')!r}; only schema-1 files (every "
                           "step's time in timing.times_s) are compacted: later ones are written in blocks")
    out, changed, left_out, largest = [], 0, 0, 1
    for rec in records[1:]:
        timing = rec.get("timing") if rec.get("record") == "case" else None
        if isinstance(timing, dict) and isinstance(timing.get("times_s"), list):
            new_timing, dropped = compact_timing(timing, max_blocks)
            rec = {**rec, "timing": new_timing}
            changed += new_timing["steps_per_block"] > 1
            left_out = max(left_out, dropped)
            largest = max(largest, new_timing["steps_per_block"])
        out.append(rec)
    data = source.read_bytes()
    note = {
        "by": SCRIPT,
        "what": (f"timing.times_s (every timed step) became timing.block_times_s: neighbouring steps summed in "
                 f"pairs until at most {max_blocks} blocks (benchsuite.stats.merge_neighbours, block timing's rule; "
                 f"an odd block left at the end of a pass is dropped), with timing.steps_per_block and the "
                 f"quartiles of every step (timing.step_s_q1, step_s_q3); schema 1 -> 2. Metrics, telemetry "
                 f"and every other field are as recorded (the metrics were computed from every step)"),
        "max_blocks": max_blocks,
        "cases_in_blocks": changed,
        "largest_steps_per_block": largest,
        "most_steps_left_out": left_out,
        "schema_before": 1,
        "original": {"file": source.name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()},
    }
    return [{**header, "schema": 2, "compacted": note}, *out]


def check(original: list[dict[str, Any]], compacted: list[dict[str, Any]]) -> None:
    """Raise AssertionError unless each compacted record equals its original but for the
    header's schema and ``compacted`` and a case's step times, whose blocks sum the steps they hold."""
    assert len(original) == len(compacted), "a record was lost"
    for before, after in zip(original, compacted):
        if before.get("record") == "header":
            assert {k: v for k, v in after.items() if k not in ("schema", "compacted")} == \
                   {k: v for k, v in before.items() if k != "schema"}, "header changed"
            continue
        timing = before.get("timing")
        if not (isinstance(timing, dict) and "times_s" in timing):
            assert after == before, f"record {before.get('id') or before.get('record')} changed"
            continue
        assert {k: v for k, v in after.items() if k != "timing"} == \
               {k: v for k, v in before.items() if k != "timing"}, f"case {before.get('id')} changed"
        new = after["timing"]
        assert {k: v for k, v in new.items() if k not in BLOCK_FIELDS} == \
               {k: v for k, v in timing.items() if k != "times_s"}, f"case {before.get('id')}: timing changed"
        per, steps = new["steps_per_block"], timing["times_s"]
        for i, block in enumerate(new["block_times_s"]):
            assert abs(block - sum(steps[i * per:(i + 1) * per])) <= 1e-9 * max(1.0, abs(block)), \
                f"case {before.get('id')}: block {i} is not the sum of its steps"
        assert len(new["block_times_s"]) <= MAX_BLOCKS or per == 1


def read_records(path: Path) -> list[dict[str, Any]]:
    """Every JSON line of a results file, as written (no migration, no validation)."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def compact_run(run_dir: Path, out: Path, max_blocks: int = MAX_BLOCKS) -> Path:
    """Compact RUN_DIR/results.jsonl into OUT/<run id>/ and copy its other files; the new folder."""
    source = results.results_path(run_dir)
    original = read_records(source)
    compacted = compact_records(original, source, max_blocks)
    check(original, compacted)
    target = Path(out) / str(compacted[0].get("run_id") or source.parent.name)
    target.mkdir(parents=True, exist_ok=True)
    written = target / results.RESULTS_FILE
    written.write_text("".join(json.dumps(r, allow_nan=False) + "\n" for r in compacted), encoding="utf-8")
    results.read_run(written)  # it loads (schema, types, every record)
    for other in sorted(source.parent.iterdir()):
        if other.is_file() and other.name != results.RESULTS_FILE:
            shutil.copy2(other, target / other.name)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run directories (schema-1 results.jsonl)")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "reference",
                        help="where each run's folder is written (default: reports/reference)")
    parser.add_argument("--max-blocks", type=int, default=MAX_BLOCKS, help=f"blocks a case at most ({MAX_BLOCKS})")
    args = parser.parse_args(argv)
    for run in args.runs:
        try:
            target = compact_run(run, args.out, args.max_blocks)
        except (CompactError, results.ResultsError) as exc:
            print(f"compact_reference: {exc}", file=sys.stderr)
            return 2
        before = results.results_path(run).stat().st_size
        after = (target / results.RESULTS_FILE).stat().st_size
        print(f"{run} -> {target}: results.jsonl {before / 1e3:,.0f} KB -> {after / 1e3:,.0f} KB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
