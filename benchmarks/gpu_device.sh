#!/usr/bin/env bash
# The GPU figures, on a lent GPU machine (docs/benchmarks.md). Installs the wheels fetched
# beforehand by benchmarks/gpu_wheels.py (carried in .whl/), links vlagent from this checkout (so
# the code measured is the code here), then measures. The JSON and the log land in $OUT (or in
# benchmarks/results/ when $OUT is unset; a --smoke rehearsal writes gpu-smoke.*, never gpu.*).
# Arguments go to benchmarks/gpu.py. Everything it installs goes into a fresh temporary folder.
# WHEELS names another folder of wheels than .whl/.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
out="${OUT:-$PWD/benchmarks/results}"
name=gpu
for arg in "$@"; do [ "$arg" = --smoke ] && name=gpu-smoke; done
mkdir -p "$out"
work="$(mktemp -d)"
wheel_dir="${WHEELS:-.whl}"

prepare() {
  local wheels=() wheel
  for wheel in "$wheel_dir"/*.whl; do
    case "$wheel" in
      */dashscope-*) ;;  # only read, for Qwen's vocabulary
      */vlagent-*) ;;    # an old helper's wheel: vlagent comes from this checkout
      *) [ -e "$wheel" ] && wheels+=("$wheel") ;;
    esac
  done
  if [ ${#wheels[@]} -eq 0 ]; then
    echo "no wheels in $wheel_dir/: run python benchmarks/gpu_wheels.py first (add --python-version" \
      "$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')" \
      "for this machine's Python)"
    return 1
  fi
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
    --target "$work/site" "${wheels[@]}" || {
    echo "the wheels in $wheel_dir/ do not install here: fetch them for this machine's Python with" \
      "python benchmarks/gpu_wheels.py --python-version X.Y"
    return 1
  }
  mkdir -p "$work/src/vlagent"
  local part
  for part in agent environments tools prompts; do ln -s "$PWD/$part" "$work/src/vlagent/$part"; done
  # The carried transformers must import with the machine's packages; if it does not, the
  # machine's own is used (then prefix reuse may be off: gpu.py says so).
  if ! python3 -c "import transformers" 2>"$work/transformers.err"; then
    echo "the carried transformers does not import here: $(tail -n 1 "$work/transformers.err")"
    rm -rf "$work"/site/transformers "$work"/site/transformers-*.dist-info
  fi
  VLAGENT_SRC="$work/src/" python3 - <<'PY' || return 1
import os, sys, torch, transformers, pydantic
import vlagent.agent.runtimes.local as local
print("torch", torch.__version__, "| transformers", transformers.__version__,
      "| pydantic", pydantic.VERSION, "| vlagent from", local.__file__)
if not local.__file__.startswith(os.environ["VLAGENT_SRC"]):
    sys.exit("vlagent does not come from this checkout; remove other copies of it from the wheels")
PY
}

main() {
  export PYTHONPATH="$work/site:$work/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
  prepare || { echo "setting up failed; nothing was measured"; return 1; }
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
  python3 benchmarks/gpu.py --budget-s "${BUDGET_S:-200}" --wheels "$wheel_dir" \
    --out "$out/$name.json" "$@"
}

main "$@" 2>&1 | tee "$out/$name.log"
status=$?
rm -rf "$work"
exit $status
