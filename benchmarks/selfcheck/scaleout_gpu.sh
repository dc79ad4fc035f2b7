#!/usr/bin/env bash
# Scale-out checks that need a GPU (owed by the CPU-only CI): the NCCL path in one rank and
# DDP at world size 1 against the single-process run of the same cases. Run from the repository
# root on a CUDA machine; about two minutes on one H100. Prints the scaling and bandwidth frames.
# With several GPUs, set NPROC to their count to measure real scaling and bus bandwidth.
set -euo pipefail
NPROC=${NPROC:-1}
OUT=${OUT:-reports/scaleout-check}
COMMON=(-d cuda -p bf16 --min-time 2 --no-telemetry --out "$OUT")
# the single-device baseline, one process
python -m benchsuite run -w mlp,cnn -m train -b 256 "${COMMON[@]}"
# the same cases under torchrun (DDP on NCCL), and the collectives over a range of sizes
python -m benchsuite run --nproc "$NPROC" -w mlp,cnn,collective -m train,infer -b 256 \
    --param collective.op=all_reduce,all_gather,reduce_scatter --param collective.size=1K,64K,1M,16M,64M \
    "${COMMON[@]}"
python - "$OUT" <<'PY'
import sys
from benchsuite.results import load
from benchsuite.report import scaling
df = load(sys.argv[1])
print(df[["id", "status", "reason", "world_size", "samples_per_s"]].to_string())
print(scaling.scaling_frame(df).to_string())
print(scaling.bandwidth_frame(df).to_string())
PY
