"""Evaluation throughput, side by side in one run (not a test).

Runs ``agent eval``'s runner on the AITZ episode of the test data, repeated to ``--episodes``
episodes, and reports steps per second.

- Batching (default): random-weight Qwen2.5-VL checkpoints built here (tiny and ~33M "mid"), loaded
  locally, once with batch size 1 and once with ``--batch`` prompts per generate call.
- Concurrency (``--concurrency 1,2,4,8``): a tiny checkpoint (``--server-family``, default
  idefics2) served by a real ``transformers serve`` on this machine (``--serve-args`` are passed
  on), evaluated through the OpenAI-compatible runtime with each number of requests in flight.

    python benchmarks/eval.py [--episodes 4] [--batch 4] [--sizes tiny,mid] [--out FILE]
    python benchmarks/eval.py --concurrency 1,2,4,8 [--episodes 8]
    [--serve-args=--continuous-batching]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vlagent.agent.core.build import ModelSpec, load_model
from vlagent.agent.evaluation import SCORERS, Episode, evaluate, load_dataset
from vlagent.agent.runtimes.base import RuntimeOptions
from vlagent.agent.runtimes.local import TransformersRuntime
from vlagent.agent.testing import build_checkpoint
from vlagent.agent.testing.server import SERVE, serving
from vlagent.prompts import dialect_for

AITZ = Path(__file__).resolve().parents[1] / "tests" / "data" / "aitz-episode"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--episodes", type=int, default=4)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--sizes", default="tiny,mid")
    parser.add_argument("--family", default="qwen2.5-vl")
    parser.add_argument(
        "--concurrency", default="", help="e.g. 1,2,4,8: requests in flight to a server"
    )
    parser.add_argument("--server-family", default="idefics2")
    parser.add_argument("--serve-args", default="", help="more arguments for transformers serve")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    base = load_dataset(AITZ, "aitz")[0]
    episodes = [replace(base, id=f"{base.id}-{i}") for i in range(args.episodes)]
    if args.concurrency:
        report = concurrency(args, episodes)
        out = args.out or Path("benchmarks/results/eval-concurrency.json")
    else:
        report = batching(args, episodes)
        out = args.out or Path("benchmarks/results/eval.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written to {out}")


def concurrency(args: argparse.Namespace, episodes: list[Episode]) -> dict[str, object]:
    """Steps per second through a real server, for each number of requests in flight."""
    steps = sum(len(e.steps) for e in episodes)
    levels = [int(n) for n in args.concurrency.split(",")]
    rows, outputs = [], {}
    with tempfile.TemporaryDirectory() as scratch:
        folder = build_checkpoint(
            args.server_family, Path(scratch) / args.server_family, size="tiny"
        )
        home = Path(scratch) / "hf-home"
        home.mkdir()
        with serving(SERVE, ["serve", str(folder), *args.serve_args.split()], home) as url:
            runtime, dialect = load_model(
                ModelSpec(
                    model=str(folder), endpoint=url, options=RuntimeOptions(max_new_tokens=32)
                )
            )
            evaluate(
                episodes[:1], runtime, dialect, SCORERS["qwen-aitz"], Path(scratch) / "warm-up"
            )
            for level in levels:
                target = Path(scratch) / f"c{level}"
                started = time.perf_counter()
                evaluate(
                    episodes, runtime, dialect, SCORERS["qwen-aitz"], target, concurrency=level
                )
                elapsed = time.perf_counter() - started
                lines = (target / "predictions.jsonl").read_text().splitlines()
                outputs[level] = [json.loads(line)["output"] for line in lines]
                row = {
                    "concurrency": level,
                    "steps": steps,
                    "steps_per_s": round(steps / elapsed, 3),
                }
                rows.append(row)
                print(json.dumps(row), flush=True)
    first = rows[0]["steps_per_s"]
    for row in rows:
        row["vs_concurrency_1"] = round(float(row["steps_per_s"]) / float(first), 2)
        row["same_predictions"] = outputs[int(row["concurrency"])] == outputs[levels[0]]
    return {
        "date": datetime.now(timezone.utc).date().isoformat(),
        "machine": platform.platform(),
        "server": f"transformers serve {args.serve_args}".strip(),
        "family": args.server_family,
        "rows": rows,
    }


def batching(args: argparse.Namespace, episodes: list[Episode]) -> dict[str, object]:
    steps = sum(len(e.steps) for e in episodes)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for size in args.sizes.split(","):
            folder = build_checkpoint(args.family, Path(scratch) / size, size=size)
            runtime = TransformersRuntime(str(folder), RuntimeOptions(max_new_tokens=32))
            dialect = dialect_for(runtime.model_id, runtime.model_type, runtime.resize)
            row: dict[str, object] = {"family": args.family, "size": size, "steps": steps}
            outputs = {}
            for batch in (1, args.batch):
                started = time.perf_counter()
                evaluate(
                    episodes,
                    runtime,
                    dialect,
                    SCORERS["aitz"],
                    Path(scratch) / f"{size}-{batch}",
                    batch_size=batch,
                )
                elapsed = time.perf_counter() - started
                row[f"steps_per_s_batch_{batch}"] = round(steps / elapsed, 3)
                lines = (
                    (Path(scratch) / f"{size}-{batch}" / "predictions.jsonl")
                    .read_text()
                    .splitlines()
                )
                outputs[batch] = [json.loads(line)["output"] for line in lines]
            row["batched_vs_sequential"] = round(
                float(row[f"steps_per_s_batch_{args.batch}"]) / float(row["steps_per_s_batch_1"]), 2
            )  # type: ignore[arg-type]
            row["same_predictions"] = outputs[1] == outputs[args.batch]
            rows.append(row)
            print(json.dumps(row), flush=True)
            runtime.close()
    return {
        "date": datetime.now(timezone.utc).date().isoformat(),
        "machine": platform.platform(),
        "batch": args.batch,
        "rows": rows,
    }


if __name__ == "__main__":
    main()
