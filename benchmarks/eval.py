"""Evaluation throughput, batched vs sequential, side by side in one run (not a test).

Runs ``agent eval``'s runner on the AITZ episode of the test data, repeated to ``--episodes``
episodes, with random-weight Qwen2.5-VL checkpoints built here (tiny and ~33M "mid"), once with
batch size 1 and once with ``--batch`` prompts per generate call, and reports steps per second.

    python benchmarks/eval.py [--episodes 4] [--batch 4] [--sizes tiny,mid] [--out FILE]
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

from agent.evaluation import SCORERS, evaluate, load_dataset  # noqa: E402
from agent.runtime import RuntimeOptions  # noqa: E402
from agent.runtimes.local import TransformersRuntime  # noqa: E402
from agent.testing import build_checkpoint  # noqa: E402
from prompts import dialect_for  # noqa: E402

AITZ = Path(__file__).resolve().parents[1] / "tests" / "data" / "aitz-episode"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=4)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--sizes", default="tiny,mid")
    parser.add_argument("--family", default="qwen2.5-vl")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/eval.json"))
    args = parser.parse_args()
    base = load_dataset(AITZ, "aitz")[0]
    episodes = [replace(base, id=f"{base.id}-{i}") for i in range(args.episodes)]
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
                evaluate(episodes, runtime, dialect, SCORERS["aitz"], Path(scratch) / f"{size}-{batch}",
                         batch_size=batch)
                elapsed = time.perf_counter() - started
                row[f"steps_per_s_batch_{batch}"] = round(steps / elapsed, 3)
                lines = (Path(scratch) / f"{size}-{batch}" / "predictions.jsonl").read_text().splitlines()
                outputs[batch] = [json.loads(line)["output"] for line in lines]
            row["batched_vs_sequential"] = round(
                float(row[f"steps_per_s_batch_{args.batch}"]) / float(row["steps_per_s_batch_1"]), 2)  # type: ignore[arg-type]
            row["same_predictions"] = outputs[1] == outputs[args.batch]
            rows.append(row)
            print(json.dumps(row), flush=True)
            runtime.close()
    report = {"date": datetime.now(timezone.utc).date().isoformat(), "machine": platform.platform(),
              "batch": args.batch, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
