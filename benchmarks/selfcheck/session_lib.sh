# Shared by modes_gpu.sh and gpu_session.sh: stages with time limits whose results land in
# $OUT as each stage finishes, so a device call cut at its limit still returns what finished.
# Sourced, not run. The caller sets STAGES (names, in order), defines stage_NAME for each
# (it calls `stage NAME LIMIT_S COMMAND...`), and calls `run_stages "$@"`.
#
# What comes back from the device tool is at most 8 files directly under $OUT (one or two
# folders down at most; /work/.library/device/README.md, Limits), so every call writes the same
# few files, each rewritten or appended after every stage:
#   $OUT/summary.txt   one line per stage (exit status, seconds, limit) and its PASS/FAIL/CHECK lines
#   $OUT/session.log   every stage's whole output, one after the other
#   $OUT/runs.tgz      every run made so far ($RUNS), re-packed after each stage (atomically)
#   $OUT/<name>.json   the figures a stage's script writes (a few, named by the caller)
# DRY=1 (or --dry-run as the first argument) prints the stages, their limits and commands and
# the total against $BUDGET_S, and runs nothing; exit 2 when the total is over the budget.

: "${OUT:=/tmp/gpu-selfcheck}"
: "${RUNS:=/tmp/benchsuite-runs}"   # benchsuite --out for every run of the call (packed to runs.tgz)
: "${BUDGET_S:=560}"                # the stage limits' sum, install included: one device command is <= 600 s
: "${KILL_AFTER_S:=10}"             # a stage that ignores SIGINT is killed this long after its limit
: "${DRY:=0}"
export PYTHONUNBUFFERED=1
SC=benchmarks/selfcheck
_t0=$SECONDS
_planned=0

stage() {  # stage NAME LIMIT_S COMMAND...: run with a time limit, log, summarise, pack the runs
  local name=$1 limit=$2; shift 2
  _planned=$((_planned + limit))
  if [ "$DRY" = 1 ]; then
    printf '%-12s %4d s  (%4d s in all)  %s\n' "$name" "$limit" "$_planned" "$*"
    return 0
  fi
  local start=$SECONDS
  echo "=== $name (limit ${limit} s, $((SECONDS - _t0)) s into the call): $*" | tee -a "$OUT/session.log"
  local from
  from=$(wc -c < "$OUT/session.log")
  timeout --signal=INT --kill-after="$KILL_AFTER_S" "$limit" "$@" >> "$OUT/session.log" 2>&1
  local rc=$?
  local how="exit $rc"
  [ $rc -eq 124 ] || [ $rc -eq 137 ] && how="cut at its limit (exit $rc)"
  {
    echo "$name: $how after $((SECONDS - start)) s (limit $limit s; $((SECONDS - _t0)) s into the call)"
    tail -c +"$((from + 1))" "$OUT/session.log" | grep -E '(PASS|FAIL|CHECK)|goal|wall [0-9]' | grep -v '^W[0-9]' \
      | cut -c1-300 | sed 's/^/  /'
  } >> "$OUT/summary.txt"
  tail -c +"$((from + 1))" "$OUT/session.log" | grep -v '^W[0-9]' | tail -n 30
  echo "=== $name: $how after $((SECONDS - start)) s" | tee -a "$OUT/session.log"
  pack_runs
  return 0
}

pack_runs() {  # $RUNS -> $OUT/runs.tgz, replaced only once the new archive is whole
  [ -d "$RUNS" ] || return 0
  tar -czf "$OUT/runs.tgz.part" -C "$RUNS" . 2>/dev/null && mv -f "$OUT/runs.tgz.part" "$OUT/runs.tgz"
}

install_stage() {  # the carried wheels (plotly) and the project, no dependencies (the image has them)
  if ls .whl/*.whl >/dev/null 2>&1; then
    if [ "$DRY" != 1 ]; then
      python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
        .whl/*.whl >> "$OUT/session.log" 2>&1 || echo "wheels: pip failed (see session.log)" | tee -a "$OUT/summary.txt"
    fi
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
  fi
  stage install "$1" python3 -m pip install -q --no-deps --no-build-isolation -e .
}

run_stages() {  # run_stages [--dry-run] [STAGE...]: the named stages (default: $STAGES), in order
  if [ "${1:-}" = "--dry-run" ]; then DRY=1; shift; fi
  local chosen=("$@")
  [ ${#chosen[@]} -eq 0 ] && chosen=("${STAGES[@]}")
  for s in "${chosen[@]}"; do
    if ! declare -F "stage_$s" >/dev/null; then
      echo "unknown stage $s (stages: ${STAGES[*]} ${EXTRA_STAGES[*]:-})"; exit 2
    fi
  done
  if [ "$DRY" = 1 ]; then
    echo "stages of $(basename "$0") (limit, running total, command); OUT=$OUT RUNS=$RUNS"
  else
    mkdir -p "$OUT" "$RUNS"
    : >> "$OUT/session.log"
    echo "$(basename "$0") ${chosen[*]} on $(hostname), $(date -u +%FT%TZ); git $(git rev-parse --short HEAD 2>/dev/null || echo 'unknown (no .git on the device)')" >> "$OUT/summary.txt"
    if command -v nvidia-smi >/dev/null; then  # read only: the card's settings are left as found
      nvidia-smi --query-gpu=name,power.limit,temperature.gpu,clocks.sm --format=csv,noheader >> "$OUT/summary.txt" 2>&1
    fi
  fi
  for s in "${chosen[@]}"; do "stage_$s"; done
  if [ "$DRY" = 1 ]; then
    echo "total of the stage limits: $_planned s (budget $BUDGET_S s for one device command of <= 600 s)"
    [ "$_planned" -le "$BUDGET_S" ] || { echo "over the budget"; exit 2; }
    return 0
  fi
  echo "done: $(basename "$0") ${chosen[*]} in $((SECONDS - _t0)) s" | tee -a "$OUT/summary.txt"
  echo "files in $OUT: $(ls "$OUT" | tr '\n' ' ')"
}
