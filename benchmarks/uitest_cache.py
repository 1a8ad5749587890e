"""The plan cache (--vl-cache) on the example UI suite, side by side in one run (not a test).

The phone example suite (examples/ui-tests/phone: two tests, ten verbs on the virtual phone) runs
three
times in a row, each time as a user runs it (``python -m pytest`` in its folder):

0. one untimed run compiles the bytecode, as any earlier run on a user's machine has;
1. ``--vl-cache off`` is the cost of the suite without the cache (the model answers everything);
2. ``--vl-cache update`` with an empty cache folder writes the cache (same cost plus the copies);
3. ``--vl-cache read`` is the second run: the cached plans and answers, no model call expected.

The suite's own model is a Python function that answers in milliseconds; a cache is worth its
keep only against a model that costs something. So the model here is a *costed* one: for every
prompt it runs a real transformers generate on a random-weight Qwen2-VL checkpoint (the "mid"
size of agent.testing: 33M parameters, the phone screenshot through the real processor, up to
``--new-tokens`` greedy tokens) and then returns the function's answer, which a random model
could not give. The table states that model's seconds per call, and the per-call cost at which
the second run would be exactly 10x faster, so a reader can place their own model (a 7B model
on a GPU, an API) against it.

With ``--instant`` the model is the suite's own function (milliseconds a call) and the question
is the cache's own cost: a read-mode run must be no slower than the cache off (at most 1.1x,
the issue's bound), each mode the median of ``--repeat`` runs.

    python benchmarks/uitest_cache.py [--size mid] [--new-tokens 40] [--out FILE]
    python benchmarks/uitest_cache.py --instant [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "ui-tests" / "phone"
sys.path.insert(0, str(ROOT))

COSTED_MODEL = '''
"""The example suite's function model behind the cost of a real local model call."""
import json, os, time

import phone_model
from vlagent.agent.runtimes.base import RuntimeOptions
from vlagent.agent.runtimes.local import TransformersRuntime

_runtime = None


def answer(prompt):
    global _runtime
    if _runtime is None:
        options = RuntimeOptions(max_new_tokens=int(os.environ["VL_BENCH_NEW_TOKENS"]), constrained="off",
                                 reuse_prefix=False)
        _runtime = TransformersRuntime(os.environ["VL_BENCH_CHECKPOINT"], options)
    started = time.perf_counter()
    _runtime.generate([prompt])
    with open(os.environ["VL_BENCH_CALLS"], "a") as log:
        log.write(json.dumps({"seconds": time.perf_counter() - started}) + "\\n")
    return phone_model.answer(prompt)
'''


def run_suite(
    mode: str, work: Path, env: dict[str, str], model: str = "python:costed_model:answer"
) -> dict[str, Any]:
    calls = work / f"calls-{mode}-{time.monotonic_ns()}.jsonl"
    started = time.perf_counter()
    result = subprocess.run(
        [
            sys.executable,
            *"-m pytest -q -p no:cacheprovider --vl-cache".split(),
            mode,
            f"--vl-model={model}",
            f"--vl-cache-dir={work / 'plans'}",
            "--vl-trajectory",
            "off",
        ],
        cwd=EXAMPLES,
        capture_output=True,
        text=True,
        env={**env, "VL_BENCH_CALLS": str(calls)},
        timeout=3600,
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(
            f"the example suite failed with --vl-cache {mode}:\n{result.stdout}\n{result.stderr}"
        )
    per_call = (
        [json.loads(line)["seconds"] for line in calls.read_text().splitlines()]
        if calls.exists()
        else []
    )
    return {
        "mode": mode,
        "wall_s": round(seconds, 2),
        "model_calls": len(per_call),
        "model_s": round(sum(per_call), 2),
    }


def instant(repeat: int, out: Path) -> None:
    """The cache's own cost: the suite's function model, off against read (medians)."""
    with tempfile.TemporaryDirectory(prefix="vlagent-bench-cache-") as scratch:
        work = Path(scratch)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(EXAMPLES), str(ROOT)])}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        model = "python:phone_model:answer"
        run_suite("off", work, env, model)  # compiles
        run_suite("update", work, env, model)  # writes the cache
        walls: dict[str, list[float]] = {"off": [], "read": []}
        for _ in range(repeat):  # interleaved: a busy machine slows both alike
            for mode in walls:
                walls[mode].append(run_suite(mode, work, env, model)["wall_s"])
    median = {mode: sorted(times)[len(times) // 2] for mode, times in walls.items()}
    ratio = round(median["read"] / median["off"], 2)
    print(
        f"instant model: off {median['off']} s, read {median['read']} s (median of {repeat}); "
        f"read/off {ratio} (bound 1.1)"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "machine": platform.platform(),
                "processors": os.cpu_count(),
                "walls_s": walls,
                "median_s": median,
                "read_over_off": ratio,
            },
            indent=1,
        )
        + "\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="mid", choices=("tiny", "mid"))
    parser.add_argument(
        "--new-tokens",
        type=int,
        default=40,
        help="decode length per call (a tool call: 30-50 tokens)",
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "uitest_cache.json"
    )
    parser.add_argument("--instant", action="store_true", help="the cache's own cost (see above)")
    parser.add_argument("--repeat", type=int, default=5, help="--instant: runs per mode")
    args = parser.parse_args()
    if args.instant:
        instant(args.repeat, ROOT / "benchmarks" / "results" / "uitest_cache_instant.json")
        return

    from vlagent.agent.testing import build_checkpoint

    with tempfile.TemporaryDirectory(prefix="vlagent-bench-cache-") as scratch:
        work = Path(scratch)
        checkpoint = build_checkpoint("qwen2-vl", work / "checkpoint", size=args.size)
        (work / "costed").mkdir()
        (work / "costed" / "costed_model.py").write_text(COSTED_MODEL)
        path = os.pathsep.join([str(work / "costed"), str(EXAMPLES), str(ROOT)])
        env = {
            **os.environ,
            "PYTHONPATH": path,
            "VL_BENCH_CHECKPOINT": str(checkpoint),
            "VL_BENCH_NEW_TOKENS": str(args.new_tokens),
        }
        # As on a user's machine, Python keeps compiled bytecode (some CI images turn that off,
        # which adds a second of compiling to every run, cached or not).
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        run_suite(
            "read", work, {**env, "VL_BENCH_NEW_TOKENS": "1"}
        )  # compiles; an empty cache: plans nothing
        shutil.rmtree(work / "plans", ignore_errors=True)
        runs = [run_suite(mode, work, env) for mode in ("off", "update", "read")]
    without, first, second = runs
    per_call = first["model_s"] / max(first["model_calls"], 1)
    fixed = first["wall_s"] - first["model_s"]  # everything but the model in the first run
    break_even = (10 * second["wall_s"] - fixed) / max(first["model_calls"], 1)
    summary = {
        "first_over_second": round(first["wall_s"] / second["wall_s"], 1),
        "off_over_second": round(without["wall_s"] / second["wall_s"], 1),
        "model_s_per_call": round(per_call, 2),
        "per_call_cost_for_10x_s": round(break_even, 2),
    }
    print(f"{'run':<28}{'wall s':>8}{'model calls':>13}{'model s':>9}")
    for label, run in zip(
        ("without cache (off)", "first, writing (update)", "second, cached (read)"), runs
    ):
        print(f"{label:<28}{run['wall_s']:>8}{run['model_calls']:>13}{run['model_s']:>9}")
    print(
        f"second run: {summary['first_over_second']}x faster than the first, "
        f"{summary['off_over_second']}x faster than no cache; model {per_call:.2f} s per call; "
        f"10x needs a model of at least {break_even:.2f} s per call"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "machine": platform.platform(),
                "processors": os.cpu_count(),
                "checkpoint": f"qwen2-vl {args.size} (random weights)",
                "new_tokens": args.new_tokens,
                "runs": runs,
                "summary": summary,
            },
            indent=1,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
