#!/usr/bin/env bash
# Issue 14's owed GPU checks, in the issue's priority order, for ONE device command (<= 600 s):
# the stage limits add up to 555 s with the install. Every result lands under $OUT as each stage
# finishes (summary.txt, session.log, runs.tgz, windows.json; see session_lib.sh), so a call cut
# short still returns what finished. The plan for a GPU session (which call runs what, the `run`
# tool's arguments): benchmarks/selfcheck/README.md.
#   bash benchmarks/selfcheck/gpu_session.sh              # the default stages (call 2 of the plan)
#   bash benchmarks/selfcheck/gpu_session.sh --dry-run    # the stages, their limits and commands
#   bash benchmarks/selfcheck/gpu_session.sh install energy cooldown   # extras, by name
# Default stages (limit; what it checks):
#   install   45 s  carried wheels (.whl/: plotly) and `pip install --no-deps -e .`
#   walltime 240 s  1st: `benchsuite run` (the headline sweep) and `--quick`, each a fresh process,
#                   command to exit; goals <= 120 s and <= 30 s on one H100. Its default run
#                   (runs.tgz: walltime/default/<run-id>/) is the new reports/reference run (4th)
#   settle   150 s  2nd: the 8192^3 matmul at bf16, fp16, tf32, fp8, 15 s rest before each case,
#                   then the warm-up table of every GPU case of this call (rule, seconds, °C at the
#                   start; the default run's first matmul case is the one from an idle card);
#                   goal: no case needs the cap
#   windows  120 s  3rd: J/step against window length (0.5, 1, 2, 5 s; aligned and read edges; 3
#                   reps; 10 s reference windows before and after); goal: 2 s aligned within 1 %
# Extras, by name: info, tests (pytest -m gpu), energy (energy_crosscheck), cooldown (rest 0 vs
# 3 s), knee (-b best for mlp and cnn), claims, scaleout.
set -uo pipefail
cd "$(dirname "$0")/../.."
: "${OUT:=/tmp/gpu-session}"
source benchmarks/selfcheck/session_lib.sh
STAGES=(install walltime settle windows)
EXTRA_STAGES=(info tests energy cooldown knee claims scaleout)

stage_install() { install_stage 45; }
stage_walltime() { stage walltime 240 python3 $SC/run_walltime.py --out "$RUNS/walltime"; }
stage_settle() {
  stage settle 150 bash -c "python3 -m benchsuite run --device cuda --workload matmul --precision bf16,fp16,tf32,fp8 \
--param m=8192 --param n=8192 --param k=8192 --cooldown 15 --out '$RUNS/settle' --tag 'issue 14: settle per matmul \
case, 15 s rest'; python3 $SC/settle_table.py '$RUNS'"
}
stage_windows() {
  stage windows 120 python3 $SC/window_length.py --reps 3 --long 10 --json "$OUT/windows.json"
}
stage_info() { stage info 30 python3 -m benchsuite info; }
stage_tests() { stage tests 90 python3 -m pytest -q -m gpu tests; }
stage_energy() { stage energy 60 python3 $SC/energy_crosscheck.py --seconds 30 --json "$OUT/energy.json"; }
stage_cooldown() { stage cooldown 270 python3 $SC/cooldown_check.py --json "$OUT/cooldown.json"; }
stage_knee() {
  stage knee 150 python3 -m benchsuite run -w mlp,cnn -d cuda -p fp32,bf16 -b best --no-telemetry --min-time 1 \
    --out "$RUNS/knee" --tag "reference: -b best, mlp and cnn"
}
stage_claims() { stage claims 240 python3 -m benchsuite claims --device all --out "$RUNS/claims" --format markdown; }
stage_scaleout() { stage scaleout 120 env OUT="$RUNS/scaleout" bash $SC/scaleout_gpu.sh; }

run_stages "$@"
