#!/usr/bin/env bash
# Issue 16's owed GPU checks, in priority order, for one <= 10-minute call on a lent H100/H200.
# Run from the repository root on the device machine; each stage logs to $OUT/<stage>.log (and
# $OUT/<stage>.json where it writes one), runs go to reports/reference/ (tarred to $OUT).
#   bash benchmarks/selfcheck/modes_gpu.sh                       # the default stages, ~9 minutes
#   bash benchmarks/selfcheck/modes_gpu.sh install compile_max   # minutes of max-autotune, a 2nd call
# Stages (default order = priority; each has its own time limit so later ones still run):
#   install      pip install -e . (no deps), ~30 s
#   harness      item 1: harness vs bare loop, MLP 1024x4096x1024 bf16 infer, batch 1 and 256,
#                telemetry 20 Hz; goal >= 0.99 (runner and block timer)                 ~2.5 min
#   modes        item 2+3: cnn bf16 batch 4096 train+infer, eager/graphs/compile (memory_format auto:
#                compile channels_last, eager and graphs contiguous), img/s, compile s,
#                numerics; goals >= 1,000,000 train / 3,300,000 infer in the best compiled mode,
#                eager within 1 % of 496,659 / 1,314,506 (another session)              ~4 min
#   burst        item 4: matmul bf16 8192^3 sustained vs do_bench median, burst vs best of 5 blocks
#                after a 0.25 s idle (goals >= 0.99), 1 ms trace of the boost after an idle ~40 s
#   numerics     item 3: --quick on the GPU, every precision (fp8 matmul included): the errors
#                against their tolerances (re-derive any honest figure within 2x)        ~1.5 min
#   tests        pytest -m gpu (the CUDA paths with a real GPU)                          ~30 s
# Not default: compile_max (cnn compile-max, train+infer: max-autotune, minutes), calibrate
# (item 5, another helper's: calibration_check.py).
set -uo pipefail
OUT=${OUT:-/tmp/modes-gpu}
REF=reports/reference
mkdir -p "$OUT" "$REF"
stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(install harness modes burst numerics tests)
export PYTHONUNBUFFERED=1
SC=benchmarks/selfcheck
t_start=$SECONDS

stage() {  # stage NAME LIMIT_S COMMAND...: run with a time limit, log, say how it ended, go on
  local name=$1 limit=$2; shift 2
  echo "=== $name (limit ${limit} s, $((SECONDS - t_start)) s into the session): $*"
  local t0=$SECONDS
  timeout --signal=INT --kill-after=15 "$limit" "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  echo "=== $name: exit $rc after $((SECONDS - t0)) s"; grep -v "^W[0-9]" "$OUT/$name.log" | tail -n 30
}

for s in "${stages[@]}"; do
  case $s in
    install)
      if ls .whl/*.whl >/dev/null 2>&1; then
        stage wheels 120 python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
          --target /tmp/site .whl/*.whl
        export PYTHONPATH=/tmp/site
      fi
      stage install 120 python3 -m pip install -q --no-deps --no-build-isolation -e . ;;
    harness) stage harness 180 python3 $SC/harness_vs_bare.py --device cuda:0 --batches 1,256 --rounds 3 \
               --json "$OUT/harness.json" ;;
    modes) stage modes 270 python3 $SC/exec_modes_check.py --device cuda:0 --batch 4096 --precision bf16 \
             --exec eager,graphs,compile --formats auto --out "$REF" --json "$OUT/modes.json" ;;
    burst) stage burst 60 python3 $SC/burst_check.py --device cuda:0 --precision bf16 --size 8192 --trace \
             --out "$REF" --json "$OUT/burst.json" ;;
    numerics) stage numerics 120 benchsuite run --device cuda --quick --workload matmul,mlp,cnn \
                --precision fp32,tf32,bf16,fp16,fp8 --out "$REF" --format csv --tag "issue 16: numerics on the GPU" ;;
    tests) stage tests 90 python3 -m pytest -q -m gpu tests ;;
    compile_max) stage compile_max 540 python3 $SC/exec_modes_check.py --device cuda:0 --batch 4096 \
                   --precision bf16 --exec eager,compile-max --formats channels_last --out "$REF" \
                   --json "$OUT/compile_max.json" ;;
    calibrate) stage calibrate 300 python3 $SC/calibration_check.py --device cuda:0 ;;
    *) echo "unknown stage $s (stages: install harness modes burst numerics tests compile_max calibrate)"; exit 2 ;;
  esac
done
if [ -d "$REF" ]; then
  for f in "$REF"/*/results.jsonl; do  # the numerics of every case run in this session
    python3 - "$f" <<'EOF' 2>/dev/null
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("record") == "case" and r.get("numerics"):
        n = r["numerics"]
        print(f"  {r['id']:60s} {n.get('status'):14s} {n.get('errors')} tol {n.get('tolerances')}")
EOF
  done > "$OUT/numerics_table.txt"
fi
tar -czf "$OUT/reference.tgz" "$REF" 2>/dev/null
echo "logs, numerics_table.txt and reference.tgz in $OUT ($((SECONDS - t_start)) s in all)"
