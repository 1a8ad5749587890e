#!/usr/bin/env bash
# LeRobot in a venv of its own, for tests/agent/test_lerobot_export.py: vlagent writes LeRobot
# datasets without LeRobot, and that test reads them back with LeRobot's own LeRobotDataset.
# LeRobot pins its own torch (<2.11), which the main environment's torch does not meet, hence
# the venv. Prints the venv's Python. Usage: export VLAGENT_LEROBOT_PYTHON=$(bash .ci/lerobot-venv.sh)
set -euo pipefail
# Outside the clone, like pip's own cache: CI runs on a fresh clone each time, and this venv is
# several GB that do not change with the project.
venv="${VLAGENT_CI_CACHE:-$HOME/.cache/vlagent-ci}/lerobot-venv"
mkdir -p "$(dirname "$venv")"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import lerobot" >/dev/null 2>&1; then
  python3 -m venv "$venv"
  # The CPU build of torch first where PyTorch's index is reachable: else GBs of CUDA packages.
  "$venv/bin/python" -m pip install -q 'torch<2.11' 'torchvision<0.26' \
    --index-url https://download.pytorch.org/whl/cpu >&2 || true
  # The version the test was written against (its loader: lerobot/datasets/utils.py).
  "$venv/bin/python" -m pip install -q 'lerobot==0.4.4' >&2
fi
echo "$venv/bin/python"
