#!/usr/bin/env bash
# The GPU figures, on a lent GPU machine, from the repository root (docs/benchmarks.md). Installs
# the wheels fetched beforehand by benchmarks/gpu_wheels.py (carried in .whl/), links vlagent from
# this checkout (so the code measured is the code here), then measures. The JSON and the log land
# in $OUT (or benchmarks/results/ when $OUT is unset). Arguments go to benchmarks/gpu.py.
set -uo pipefail
out="${OUT:-benchmarks/results}"
mkdir -p "$out"

prepare() {
  # A fresh target each time: pip --target does not replace what an earlier call left there.
  rm -rf /tmp/site /tmp/src
  local wheels=() wheel
  for wheel in .whl/*.whl; do
    case "$wheel" in
      */dashscope-*) ;;  # only read, for Qwen's vocabulary
      */vlagent-*) ;;    # an old helper's wheel: vlagent comes from this checkout
      *) wheels+=("$wheel") ;;
    esac
  done
  if [ ${#wheels[@]} -gt 0 ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
      --target /tmp/site "${wheels[@]}" || return 1
  fi
  mkdir -p /tmp/src/vlagent
  local part
  for part in agent environments tools prompts; do ln -s "$PWD/$part" "/tmp/src/vlagent/$part"; done
  # The carried transformers must import with the machine's packages; if it does not, the
  # machine's own is used (then prefix reuse may be off: gpu.py says so).
  if ! python3 -c "import transformers" 2>/tmp/transformers.err; then
    echo "the carried transformers does not import here: $(tail -n 1 /tmp/transformers.err)"
    rm -rf /tmp/site/transformers /tmp/site/transformers-*.dist-info
  fi
  python3 - <<'PY' || return 1
import sys, torch, transformers, pydantic
import vlagent.agent.runtimes.local as local
print("torch", torch.__version__, "| transformers", transformers.__version__,
      "| pydantic", pydantic.VERSION, "| vlagent from", local.__file__)
if not local.__file__.startswith("/tmp/src/"):
    sys.exit("vlagent does not come from this checkout; remove other copies from .whl/")
PY
}

main() {
  export PYTHONPATH="/tmp/site:/tmp/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
  prepare || { echo "setting up failed; nothing was measured"; return 1; }
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
  python3 benchmarks/gpu.py --budget-s "${BUDGET_S:-200}" --out "$out/gpu.json" "$@"
}

main "$@" 2>&1 | tee "$out/gpu.log"
