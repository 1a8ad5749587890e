#!/usr/bin/env bash
# The GPU figures, on a lent GPU machine, from the repository root (docs/benchmarks.md): install
# the wheels fetched beforehand by benchmarks/gpu_wheels.py (carried in .whl/), then measure.
# The JSON and the log land in $OUT (or benchmarks/results/ when $OUT is unset).
set -uo pipefail
out="${OUT:-benchmarks/results}"
mkdir -p "$out"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site \
  $(ls .whl/*.whl | grep -v /dashscope-) || exit 1
export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
python3 benchmarks/gpu.py --budget-s "${BUDGET_S:-240}" --out "$out/gpu.json" "$@" 2>&1 \
  | tee "$out/gpu.log"
