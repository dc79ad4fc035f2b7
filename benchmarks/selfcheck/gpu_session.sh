#!/usr/bin/env bash
# Every GPU check the issues owe, prepared for one short session on the lent H100/H200.
# Run from the repository root on the device machine; each stage logs to $OUT/<stage>.log and
# the runs it makes land in reports/reference/ (tarred to $OUT/reference.tgz at the end).
#   bash benchmarks/selfcheck/gpu_session.sh                 # every stage (about 18 minutes)
#   bash benchmarks/selfcheck/gpu_session.sh quick matmul    # some stages
# A device call is limited to 10 minutes: split it, e.g. "install info tests quick matmul energy"
# (about 6 minutes), then "install calibrate claims scaleout" on the same warm machine.
# Stages: install info tests quick matmul energy windows cooldown calibrate claims scaleout
# (windows: J/step against window length, ~90 s; cooldown: rest 0 vs 3 s, ~4 min; issue 14)
# Issue 14's plan checks, by name only (not in the default list): walltime (the headline and --quick
# sweeps end to end, fresh processes; their runs kept in $OUT/walltime/ and the headline run copied
# to reports/reference/; about 3 minutes) and knee (-b best for mlp and cnn on the GPU, which checks
# the headline's fixed knee batches; about 2 minutes).
# plotly is not on the device image: carry its wheel in .whl/ (see the device tool's README).
set -uo pipefail
OUT=${OUT:-/tmp/gpu-session}
REF=reports/reference
mkdir -p "$OUT" "$REF"
stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(install info tests quick matmul energy windows cooldown calibrate claims scaleout)
export PYTHONUNBUFFERED=1

stage() {  # stage NAME COMMAND...: run, log, and say how it ended without stopping the others
  local name=$1; shift
  echo "=== $name: $*"
  local t0=$SECONDS
  "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  echo "=== $name: exit $rc after $((SECONDS - t0)) s"; tail -n 25 "$OUT/$name.log"
}

for s in "${stages[@]}"; do
  case $s in
    install)
      if ls .whl/*.whl >/dev/null 2>&1; then
        stage wheels python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
          --target /tmp/site .whl/*.whl
        export PYTHONPATH=/tmp/site
      fi
      stage install python3 -m pip install -q --no-deps --no-build-isolation -e . ;;
    info) stage info benchsuite info ;;
    tests) stage tests python3 -m pytest -q -m gpu tests ;;
    quick) stage quick benchsuite run --quick --device cuda --out "$REF" --tag "reference: --quick on $(hostname)" ;;
    matmul) stage matmul benchsuite run --device cuda --workload matmul --precision bf16,fp16,tf32,fp8 \
              --param m=8192 --param n=8192 --param k=8192 --out "$REF" --tag "reference: matmul 8192^3" ;;
    energy) stage energy python3 benchmarks/selfcheck/energy_crosscheck.py --seconds 30 --json "$OUT/energy.json" ;;
    windows) stage windows python3 benchmarks/selfcheck/window_length.py --json "$OUT/windows.json" ;;
    cooldown) stage cooldown python3 benchmarks/selfcheck/cooldown_check.py --json "$OUT/cooldown.json" ;;
    calibrate) stage calibrate python3 benchmarks/selfcheck/calibration_check.py --device cuda:0 ;;
    claims) stage claims benchsuite claims --device all --out "$REF" --format markdown ;;
    scaleout) stage scaleout env OUT="$REF" bash benchmarks/selfcheck/scaleout_gpu.sh ;;
    walltime) stage walltime python3 benchmarks/selfcheck/run_walltime.py --out "$OUT/walltime"
              cp -r "$OUT"/walltime/default/*/ "$REF"/ 2>/dev/null ;;
    knee) stage knee benchsuite run -w mlp,cnn -d cuda -p fp32,bf16 -b best --no-telemetry --min-time 1 \
              --out "$REF" --tag "reference: -b best, mlp and cnn" ;;
    *) echo "unknown stage $s (stages: install info tests quick matmul energy windows cooldown calibrate claims scaleout walltime knee)"; exit 2 ;;
  esac
done
tar -czf "$OUT/reference.tgz" "$REF" 2>/dev/null
echo "logs and reference.tgz in $OUT"
