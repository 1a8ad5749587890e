"""GPU figures for one agent step of full-size models, through vlagent's own runtime (not a test).

Random-weight models in the published architectures of Qwen2.5-VL-7B-Instruct,
Qwen2.5-VL-3B-Instruct and Qwen3-VL-8B-Instruct (benchmarks/published_configs) are built directly
on the GPU in bf16. Their compute and memory are the real models'; their answers are noise. Each
step is one 1920x1080 screenshot with the ``computer_use`` tools prompt at vlagent's default pixel
budget. It goes dialect → chat template → processor → ``generate``, through
``TransformersRuntime``. The text is tokenized by Qwen's own vocabulary
(benchmarks/qwen_vocab.py), so prompts have the real token counts.

Reported per model: time to first token (preparing the prompt included), decode tokens/s, peak
GPU memory, and the prefill's FLOP/s as a share of the card's bf16 peak (model FLOPs utilisation).
For the first model also: where the prefill's time goes (profiler), sdpa against eager attention
(and flash-attention 2 when importable), prefix reuse at step 2, and batched throughput at
batch 1, 4, 16 and 32. The JSON is rewritten after every section. ``--budget-s`` stops the run
cleanly with what it has measured so far.

    python benchmarks/gpu.py [--models qwen2.5-vl-7b,qwen2.5-vl-3b,qwen3-vl-8b] [--budget-s 300]
    python benchmarks/gpu.py --smoke      # the same code on tiny configs, on CPU (CI runs it)
    python benchmarks/gpu.py --table benchmarks/results/gpu.json   # the docs table of a run

docs/benchmarks.md says how to run it on a lent GPU machine (wheels: benchmarks/gpu_wheels.py).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import signal
import sys
import time
import traceback
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import gpu_measure as measure
from benchmarks.gpu_models import MODELS, build_model, config_of, runtime_for, tokenizer_for
from benchmarks.gpu_table import markdown
from benchmarks.models import screenshot
from benchmarks.qwen_vocab import VocabularyMissing, read_ranks, vocabulary_wheel
from vlagent.prompts import Prompt, dialect_for
from vlagent.tools import ToolCall, computer_tools

ROOT = Path(__file__).resolve().parents[1]
SCREEN = (1920, 1080)
GOAL = "Open the display settings and turn on dark mode"
H200_BF16_TFLOPS = 790.0
"""The H200's dense bf16 rate that MFU is stated against: what 8192-cubed products of random bf16
data reach on the lent machines (its data sheet says about 989). Each run also measures its own
card (``matmul_tflops`` in the report)."""
MODEL_RESERVE_S = 60
"""A model is not started with less of the budget left: building it and one step take that."""
TOKENIZER = (
    "Qwen's BPE vocabulary (qwen.tiktoken from the dashscope wheel), added tokens at their "
    "published ids"
)


@dataclass(frozen=True)
class Plan:
    models: tuple[str, ...]
    device: str
    tiny: bool
    new_tokens: int
    repeats: int
    batches: tuple[int, ...]
    peak_tflops: float | None


class Budget:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()


class Report:
    """The run's JSON, written after every section so a run cut short keeps what it measured."""

    def __init__(self, path: Path, head: dict[str, Any]) -> None:
        self.path = path
        self.partial = path.with_name(path.name + ".partial")
        self.data: dict[str, Any] = {**head, "models": {}, "stopped_early": None}

    def check_writable(self) -> None:
        """Fail before any work when the report cannot be written (the file itself is left)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.partial.write_text("{}\n")
            self.partial.unlink()
        except OSError as exc:
            raise SystemExit(
                f"cannot write the report to {self.path}: {exc.strerror or exc}"
            ) from None

    def put(self, model: str, section: str, value: Any) -> None:
        self.data["models"].setdefault(model, {})[section] = value
        self.write()

    def write(self) -> None:
        # Whole or not at all: a run killed while writing keeps the previous complete file. A run
        # that measured nothing leaves an earlier report where it is.
        if not self.data["models"]:
            return
        self.partial.write_text(json.dumps(self.data, indent=2) + "\n")
        os.replace(self.partial, self.path)


def prompts(runtime: Any, count: int) -> list[Prompt]:
    """``count`` first steps of different runs: the same tools, a different screenshot each."""
    dialect = dialect_for(runtime.model_id, runtime.model_type, runtime.resize)
    return [
        dialect.render(GOAL, [], screenshot(SCREEN, seed=i), computer_tools()) for i in range(count)
    ]


def two_steps(runtime: Any) -> list[Prompt]:
    """Step 1 and step 2 of one run: step 2 carries step 1's click in its history."""
    dialect = dialect_for(runtime.model_id, runtime.model_type, runtime.resize)
    click = {"action": "left_click", "coordinate": [640, 360]}
    history = [ToolCall("computer_use", click, click)]
    return [
        dialect.render(GOAL, [], screenshot(SCREEN, seed=0), computer_tools()),
        dialect.render(GOAL, history, screenshot(SCREEN, seed=1), computer_tools()),
    ]


def run_section(report: Report, budget: Budget, key: str, name: str, work: Any) -> Any:
    """Run one measurement and record it; a failure is recorded (and the run goes on), and a
    section started with under 10 s left is skipped."""
    if budget.left() < 10:
        report.data["stopped_early"] = f"budget of {budget.seconds:.0f} s"
        report.put(key, name, {"skipped": f"the {budget.seconds:.0f} s budget ran out"})
        return None
    started = time.monotonic()
    try:
        value = work()
    except Exception as exc:  # one broken figure must not lose the others
        value = {"error": failure(exc)}
    if isinstance(value, dict):
        value = {**value, "section_s": round(time.monotonic() - started, 1)}
    report.put(key, name, value)
    return value


def failure(exc: BaseException) -> str:
    """One line for the report; the whole traceback goes to stderr (the run's log)."""
    traceback.print_exc(file=sys.stderr)
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


def with_mfu(
    found: dict[str, Any], step: dict[str, Any], peak: float | None, matmul: float | None
) -> dict[str, Any]:
    """FLOP/s of the prefill (as generate runs it, and the bare forward), and their share of the
    card's peak (``*_mfu``) and of what its matrix products reached in this run
    (``*_of_matmul``)."""
    work = found["prefill_flops"]
    for label, ms in (("prefill", step.get("prefill_ms")), ("forward", found["forward_ms"])):
        if ms:
            tflops = work / (ms / 1000) / 1e12
            found[f"{label}_tflops_per_s"] = round(tflops, 3)
            found[f"{label}_mfu"] = round(tflops / peak, 3) if peak else None
            found[f"{label}_of_matmul"] = round(tflops / matmul, 3) if matmul else None
    return found


def measure_model(report: Report, budget: Budget, plan: Plan, key: str, ranks: Any) -> None:
    import torch

    device = measure.Device(plan.device)
    dtype = torch.bfloat16 if device.cuda else torch.float32
    started = time.monotonic()
    tokenizer = tokenizer_for(key, ranks)
    model = build_model(config_of(key, plan.tiny), plan.device, dtype)
    runtime = runtime_for(key, model, tokenizer, plan.new_tokens)
    del model  # the runtime holds it; closing the runtime then frees the device
    report.put(
        key,
        "build",
        {
            "parameters": sum(p.numel() for p in runtime.model.parameters()),
            "weights_gib": device.allocated_gib(),
            "dtype": str(dtype),
            "image_processor": type(runtime.processor.image_processor).__name__,
            "build_s": round(time.monotonic() - started, 1),
        },
    )
    first = prompts(runtime, 1)[0]
    step = run_section(
        report, budget, key, "step", lambda: measure.step(runtime, device, first, plan.repeats)
    )
    found = run_section(
        report, budget, key, "flops", lambda: measure.flops(runtime, device, first, plan.repeats)
    )
    if isinstance(step, dict) and isinstance(found, dict) and "prefill_flops" in found:
        matmul = report.data["machine"].get("matmul_tflops")
        report.put(key, "flops", with_mfu(found, step, plan.peak_tflops, matmul))
    if key == plan.models[0]:
        measure_first_model(report, budget, plan, key, runtime, device, tokenizer, first)
    runtime.close()
    device.release()


def measure_first_model(
    report: Report,
    budget: Budget,
    plan: Plan,
    key: str,
    runtime: Any,
    device: Any,
    tokenizer: Any,
    first: Prompt,
) -> None:
    """The sections run for the first model only: profile, attention kinds, prefix, batches."""
    run_section(report, budget, key, "profile", lambda: measure.profile(runtime, device, first))
    run_section(
        report,
        budget,
        key,
        "attention",
        lambda: measure.attention(runtime, device, first, plan.repeats),
    )
    reusing = runtime_for(key, runtime.model, tokenizer, plan.new_tokens, reuse_prefix=True)
    steps = two_steps(runtime)
    run_section(
        report,
        budget,
        key,
        "prefix",
        lambda: measure.prefix_reuse(runtime, reusing, steps, plan.repeats),
    )
    rows: list[dict[str, Any]] = []
    for size in plan.batches:
        # A batch is generated twice (a warm-up, then timed), each about size / steps-per-second
        # of the last one; leave it out when that would run past the budget.
        if (
            rows
            and "steps_per_s" in rows[-1]
            and 2 * size / rows[-1]["steps_per_s"] > budget.left() - 10
        ):
            rows.append({"size": size, "skipped": "would not finish within the budget"})
            report.data["stopped_early"] = f"budget of {budget.seconds:.0f} s"
            continue
        batch = prompts(runtime, size)
        row = run_section(
            report,
            budget,
            key,
            f"batch_{size}",
            lambda batch=batch: measure.batch(runtime, device, batch),
        )
        rows.append(row if isinstance(row, dict) else {"size": size, "skipped": "budget"})
    base = next((r["steps_per_s"] for r in rows if r.get("size") == 1 and "steps_per_s" in r), None)
    for row in rows:
        if base and "steps_per_s" in row:
            row["vs_batch_1"] = round(row["steps_per_s"] / base, 2)
    report.put(key, "batches", rows)


def machine(device: str) -> dict[str, Any]:
    import torch
    import transformers

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "device": device,
    }
    if device.startswith("cuda"):
        info.update(gpu=torch.cuda.get_device_name(), cuda=torch.version.cuda)
        try:
            info["matmul_tflops"] = measure.matmul_tflops(measure.Device(device))
        except Exception as exc:  # MFU against the stated peak still stands
            info["matmul_tflops"] = None
            info["matmul_error"] = failure(exc)
    return info


def plan_from(args: argparse.Namespace) -> Plan:
    import torch

    cuda = torch.cuda.is_available()
    if not cuda and not args.smoke:
        raise SystemExit("full-size models need a GPU and none is visible; use --smoke on a CPU")
    peak = (
        args.peak_tflops if args.peak_tflops is not None else (H200_BF16_TFLOPS if cuda else None)
    )
    return Plan(
        models=tuple(args.models.split(",")),
        device="cuda" if cuda else "cpu",
        tiny=args.smoke,
        new_tokens=4 if args.smoke else args.new_tokens,
        repeats=1 if args.smoke else args.repeats,
        batches=(1, 2)
        if args.smoke and not cuda
        else tuple(int(b) for b in args.batches.split(",")),
        peak_tflops=peak,
    )


class Interrupted(BaseException):
    """SIGTERM (a time limit's kill): the run stops and says so in its report. Not an Exception,
    so the handlers that keep one failed section from stopping the run let it through."""


def _stop(signum: int, frame: Any) -> None:
    raise Interrupted(signal.Signals(signum).name)


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--smoke", action="store_true", help="tiny configs (on CPU without a GPU)")
    parser.add_argument("--budget-s", type=float, default=300.0)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batches", default="1,4,16,32")
    parser.add_argument("--peak-tflops", type=float, default=None)
    parser.add_argument(
        "--wheels", type=Path, default=ROOT / ".whl", help="where the dashscope wheel is"
    )
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--table", type=Path, default=None, help="print the docs table of a saved run"
    )
    args = parser.parse_args(argv)
    unknown = [m for m in args.models.split(",") if m not in MODELS]
    if unknown:
        parser.error(f"unknown model {unknown[0]!r}; one of {', '.join(MODELS)}")
    if not (math.isfinite(args.budget_s) and args.budget_s > 0):
        parser.error(f"--budget-s must be a positive number of seconds, not {args.budget_s}")
    return args


def table(path: Path) -> int:
    """Print the docs table of a saved report; one line when the file is not one."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SystemExit(f"cannot read a report from {path}: {exc}") from None
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, dict) or not all(isinstance(m, dict) for m in models.values()):
        raise SystemExit(f"{path} is not a report of benchmarks/gpu.py (no 'models' in it)")
    print(markdown(data))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    if args.table is not None:
        return table(args.table)
    budget = Budget(args.budget_s)
    plan = plan_from(args)
    out = args.out or ROOT / "benchmarks" / "results" / (
        "gpu-smoke.json" if args.smoke else "gpu.json"
    )
    head = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "smoke": plan.tiny}
    report = Report(out, head)
    report.check_writable()
    try:
        ranks = read_ranks(vocabulary_wheel(args.wheels))
    except VocabularyMissing as exc:
        raise SystemExit(str(exc)) from None
    signal.signal(signal.SIGTERM, _stop)
    try:
        report.data.update(
            machine=machine(plan.device),
            screen=list(SCREEN),
            new_tokens=plan.new_tokens,
            peak_tflops=plan.peak_tflops,
            tokenizer=TOKENIZER,
        )
        measure_all(report, budget, plan, ranks)
        code = 0
    except (Interrupted, KeyboardInterrupt) as exc:
        report.data["stopped_early"] = f"interrupted ({exc or 'Ctrl-C'})"
        code = 130
    report.data["total_s"] = round(budget.seconds - budget.left(), 1)
    report.write()
    if not report.data["models"]:
        why = report.data["stopped_early"] or "no model"
        print(
            f"nothing was measured ({why}; each model needs {MODEL_RESERVE_S} s of the budget); "
            f"{out} is left as it was",
            file=sys.stderr,
        )
        return code or 1
    print(markdown(report.data))
    print(f"\nwritten to {out}")
    return code


def measure_all(report: Report, budget: Budget, plan: Plan, ranks: Any) -> None:
    """Every model of the plan in turn, while the budget lasts; a model that fails to build or
    load is recorded and the next one goes on."""
    for key in plan.models:
        if budget.left() < MODEL_RESERVE_S:
            report.data["stopped_early"] = f"budget of {budget.seconds:.0f} s, before {key}"
            break
        try:
            measure_model(report, budget, plan, key, ranks)
        except Exception as exc:
            report.put(key, "error", failure(exc))
            measure.Device(plan.device).release()


if __name__ == "__main__":
    sys.exit(main())
