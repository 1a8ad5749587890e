"""A long run's footprint, not a test: trajectory size per 1,000 steps, the run's peak memory,
and `agent report` on it, for a scripted run of ``--steps`` steps on the in-memory screen.

The whole prompt of each step is rebuilt from the records (``Trajectory.prompt``) and, side by
side, the size the trajectory would have if every step held its whole prompt (format version 1)
is printed, so the ratio shows what recording only what is new saves.

    python benchmarks/long_run.py [--steps 5000] [--out benchmarks/results/long_run.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vlagent.agent.trajectory import read_trajectory  # noqa: E402


def answers(steps: int) -> str:
    calls = []
    for i in range(steps - 1):  # clicks all over the screen, then success
        call = {"action": "click", "coordinate": [(i * 37) % 1000, (i * 91) % 1000]}
        calls.append(
            "<tool_call>\n"
            + json.dumps({"name": "mobile_use", "arguments": call})
            + "\n</tool_call>"
        )
    calls.append(
        '<tool_call>\n{"name": "mobile_use", "arguments": {"action": "terminate", "status": '
        '"success"}}\n</tool_call>'
    )
    return "\n---\n".join(calls) + "\n"


def peak_child_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "long_run.json"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="vlagent-long-run-"))
    script = work / "answers.txt"
    script.write_text(answers(args.steps), encoding="utf-8")
    run = work / "run"
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            *"-m vlagent.agent run --env memory --space mobile --size 720x1280 --goal".split(),
            "click everywhere",
            "--model",
            f"scripted:{script}",
            "--max-steps",
            str(args.steps),
            "--max-repeats",
            str(args.steps),
            "--out",
            str(run),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        cwd=work,
    )
    run_s = time.perf_counter() - started
    run_peak = peak_child_mb()
    trajectory_mb = (run / "trajectory.jsonl").stat().st_size / 2**20
    screens_mb = sum(p.stat().st_size for p in (run / "screens").iterdir()) / 2**20
    trajectory = read_trajectory(run)
    whole = sum(
        len((trajectory.prompt(s.index) or "").encode()) - len(s.prompt_text.encode())
        for s in trajectory.steps
    )
    version1_mb = trajectory_mb + whole / 2**20
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "vlagent.agent", "report", str(run)],
        check=True,
        stdout=subprocess.DEVNULL,
        cwd=work,
    )
    report_s = time.perf_counter() - started
    report_peak = peak_child_mb()  # the larger of the two children: the run's or the report's
    per_thousand = trajectory_mb / args.steps * 1000
    result = {
        "date": datetime.now(timezone.utc).date().isoformat(),
        "machine": platform.platform(),
        "steps": len(trajectory.steps),
        "run_s": round(run_s, 1),
        "trajectory_mb": round(trajectory_mb, 2),
        "trajectory_mb_per_1000_steps": round(per_thousand, 2),
        "screens_mb": round(screens_mb, 1),
        "trajectory_mb_if_whole_prompts": round(version1_mb, 1),
        "ratio_whole_vs_new_only": round(version1_mb / trajectory_mb, 1),
        "run_peak_rss_mb": round(run_peak, 1),
        "report_s": round(report_s, 1),
        "peak_rss_mb_run_or_report": round(report_peak, 1),
        "report_mb": round((run / "report.html").stat().st_size / 2**20, 1),
    }
    for key, value in result.items():
        print(f"{key:34} {value}")
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
