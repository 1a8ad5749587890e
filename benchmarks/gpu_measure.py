"""The measurements of benchmarks/gpu.py, one function per figure. Each takes a model already on
its device and returns a dict of plain numbers for the report.

Timings wait for the device (``Device.sync``) before reading the clock: a GPU runs
asynchronously, and an unsynchronised clock measures the queueing of kernels, not their work.
"""

from __future__ import annotations

import contextlib
import importlib.util
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

from vlagent.agent.runtimes.local import TransformersRuntime
from vlagent.prompts import Prompt

GIB = 1024**3


class Device:
    """The few device calls the benchmark needs, the same on a GPU and a CPU."""

    def __init__(self, name: str) -> None:
        import torch

        self.torch = torch
        self.name = name
        self.cuda = name.startswith("cuda")

    def sync(self) -> None:
        if self.cuda:
            self.torch.cuda.synchronize()

    def reset_peak(self) -> None:
        if self.cuda:
            self.torch.cuda.reset_peak_memory_stats()

    def peak_gib(self) -> float | None:
        return round(self.torch.cuda.max_memory_allocated() / GIB, 2) if self.cuda else None

    def allocated_gib(self) -> float | None:
        return round(self.torch.cuda.memory_allocated() / GIB, 2) if self.cuda else None

    def release(self) -> None:
        import gc

        gc.collect()
        if self.cuda:
            self.torch.cuda.empty_cache()


def timed_ms(device: Device, work: Callable[[], Any], repeats: int) -> float:
    """The median wall time of ``work`` in ms, the device drained before and after each run."""
    runs = []
    for _ in range(max(repeats, 1)):
        device.sync()
        started = time.perf_counter()
        work()
        device.sync()
        runs.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(runs), 2)


def matmul_tflops(device: Device, size: int = 8192, repeats: int = 10) -> float | None:
    """What this card reaches on dense bf16 products of random data (size-cubed), in TFLOP/s;
    None on a CPU."""
    if not device.cuda:
        return None
    ms = _matmul_ms(device, size, repeats)
    device.release()  # the operands are gone with _matmul_ms's frame
    return round(2 * size**3 * repeats / (ms / 1000) / 1e12, 1)


def _matmul_ms(device: Device, size: int, repeats: int) -> float:
    torch = device.torch
    a = torch.randn(size, size, device=device.name, dtype=torch.bfloat16)
    b = torch.randn(size, size, device=device.name, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    return timed_ms(device, lambda: [a @ b for _ in range(repeats)], 1)


def model_inputs(runtime: TransformersRuntime, prompts: list[Prompt]) -> Any:
    """The batch exactly as the runtime feeds ``generate`` (chat template, processor, device)."""
    texts = [runtime.chat_text(p) for p in prompts]
    return runtime.processor(
        text=texts, images=[p.images() for p in prompts], padding=True, return_tensors="pt"
    ).to(runtime.device)


def prefill(runtime: TransformersRuntime, inputs: Any) -> Any:
    """One prefill forward as generate runs it: logits for the last position only."""
    import torch

    with torch.inference_mode():
        return runtime.model(**inputs, logits_to_keep=1)


def step(
    runtime: TransformersRuntime, device: Device, prompt: Prompt, repeats: int
) -> dict[str, Any]:
    """One agent step through the runtime (chat template, processor, generate): time to first
    token (preparing the prompt included), decode speed, and the device's memory peak."""
    runtime.generate([prompt])  # warm-up: kernels load, allocator grows
    inputs = model_inputs(runtime, [prompt])
    image_id = runtime.model.config.image_token_id
    image_tokens = int((inputs["input_ids"][0] == image_id).sum())
    runs = []
    for _ in range(max(repeats, 1)):
        device.reset_peak()
        completion = runtime.generate([prompt])[0]
        runs.append((completion, device.peak_gib()))
    timings = [c.timings_ms for c, _ in runs]
    tokens = runs[0][0].completion_tokens or 0
    decode_ms = statistics.median(t["decode"] for t in timings)
    return {
        "prompt_tokens": runs[0][0].prompt_tokens,
        "image_tokens": image_tokens,
        "text_tokens": (runs[0][0].prompt_tokens or 0) - image_tokens,
        "new_tokens": tokens,
        "prepare_ms": round(statistics.median(t["prepare"] for t in timings), 1),
        "prefill_ms": round(statistics.median(t["prefill"] for t in timings), 1),
        "ttft_ms": round(statistics.median(t["prepare"] + t["prefill"] for t in timings), 1),
        "decode_tokens_per_s": round((tokens - 1) / decode_ms * 1000, 1) if decode_ms else None,
        "peak_gib": max((p for _, p in runs if p is not None), default=None),
    }


def flops(
    runtime: TransformersRuntime, device: Device, prompt: Prompt, repeats: int
) -> dict[str, Any]:
    """The prefill's floating-point work, counted by torch's FlopCounterMode on the real forward
    (matrix products, convolutions, and attention by ``_attention_flops``), the forward's time,
    and how long the vision tower takes of it. A count that fails leaves the times."""
    from torch.utils.flop_counter import FlopCounterMode

    inputs = model_inputs(runtime, [prompt])
    result: dict[str, Any] = {}
    try:
        counter = FlopCounterMode(display=False, custom_mapping=_attention_kernels())
        with counter:
            prefill(runtime, inputs)
        result["prefill_flops"] = counter.get_total_flops()
    except Exception as exc:  # the times below are worth having without the count
        result["flops_error"] = f"{type(exc).__name__}: {exc}"
    result["forward_ms"] = timed_ms(device, lambda: prefill(runtime, inputs), repeats)
    result["vision_ms"] = _vision_ms(runtime, device, inputs, repeats)
    return result


def _attention_flops(
    query: Any, key: Any, value: Any, *args: Any, out_shape: Any = None, **kwargs: Any
) -> int:
    """Work of one attention kernel from its shapes (batch, heads, length, head size): the two
    products QK^T and PV, 2*B*H*L*S*(D + Dv). Grouped-query keys and values (fewer heads than the
    query, as transformers passes them with enable_gqa) are read per query head. Causal masking
    is counted in full, as torch's own formula does (for the 7B step about 3% of the total)."""
    batch, heads, length, size = query
    return int(2 * batch * heads * length * key[-2] * (size + value[-1]))


def _attention_kernels() -> dict[Any, Any]:
    """The scaled-dot-product attention kernels on CPU and GPU, counted by ``_attention_flops``:
    torch's formula refuses grouped-query shapes (up to 2.10 at least) and skips the CPU one."""
    import torch

    names = (
        "_scaled_dot_product_flash_attention",
        "_scaled_dot_product_efficient_attention",
        "_scaled_dot_product_cudnn_attention",
        "_scaled_dot_product_flash_attention_for_cpu",
    )
    kernels = [getattr(torch.ops.aten, name, None) for name in names]
    return {kernel: _attention_flops for kernel in kernels if kernel is not None}


def _vision_ms(
    runtime: TransformersRuntime, device: Device, inputs: Any, repeats: int
) -> float | None:
    """The vision tower's share of one prefill, timed with hooks around it."""
    tower = getattr(getattr(runtime.model, "model", None), "visual", None)
    if tower is None:
        return None
    spans: list[float] = []

    def before(*_: Any) -> None:
        device.sync()
        spans.append(time.perf_counter())

    def after(*_: Any) -> None:
        device.sync()
        spans.append(time.perf_counter())

    hooks = [tower.register_forward_pre_hook(before), tower.register_forward_hook(after)]
    try:
        for _ in range(max(repeats, 1)):
            prefill(runtime, inputs)
    finally:
        for hook in hooks:
            hook.remove()
    pairs = [(spans[i + 1] - spans[i]) * 1000 for i in range(0, len(spans) - 1, 2)]
    return round(statistics.median(pairs), 2) if pairs else None


def profile(
    runtime: TransformersRuntime, device: Device, prompt: Prompt, top: int = 12
) -> list[Any]:
    """Where one prefill's time goes: the operators with the most device time (CPU time on a CPU),
    as [name, milliseconds, calls]."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    inputs = model_inputs(runtime, [prompt])
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.cuda else [])
    with torch_profile(activities=activities) as profiler:
        prefill(runtime, inputs)
        device.sync()
    events = profiler.key_averages()

    def spent(event: Any) -> float:
        if device.cuda:
            return float(getattr(event, "self_device_time_total", 0) or 0)
        return float(event.self_cpu_time_total)

    # Operators only: with CUDA traced, each kernel is also listed under its own name, and counting
    # both would show the same time twice.
    operators = [e for e in events if str(getattr(e, "device_type", "CPU")).endswith("CPU")]
    ranked = sorted(operators, key=spent, reverse=True)[:top]
    return [[e.key, round(spent(e) / 1000, 3), e.count] for e in ranked]


def attention(
    runtime: TransformersRuntime, device: Device, prompt: Prompt, repeats: int
) -> dict[str, Any]:
    """The prefill forward under each attention implementation this machine has (sdpa, eager,
    and flash-attention 2 when the package is importable), against sdpa."""
    inputs = model_inputs(runtime, [prompt])
    kinds = ["sdpa", "eager"]
    if importlib.util.find_spec("flash_attn") is not None and device.cuda:
        kinds.append("flash_attention_2")
    result: dict[str, Any] = {}
    try:
        for kind in kinds:
            runtime.model.set_attn_implementation(kind)
            prefill(runtime, inputs)  # warm-up under this kernel
            result[f"{kind}_forward_ms"] = timed_ms(
                device, lambda: prefill(runtime, inputs), repeats
            )
    finally:
        runtime.model.set_attn_implementation("sdpa")
    base = result["sdpa_forward_ms"]
    for kind in kinds[1:]:
        result[f"{kind}_vs_sdpa"] = round(result[f"{kind}_forward_ms"] / base, 2)
    if "flash_attention_2" not in kinds:
        result["flash_attention_2"] = "flash-attn is not installed here"
    return result


def prefix_reuse(
    plain: TransformersRuntime, reusing: TransformersRuntime, steps: list[Prompt], repeats: int
) -> dict[str, Any]:
    """The second step of an agent run with and without reusing the first step's prefix: time to
    first token, tokens reused, whether the greedy answers are the same, and how far apart the
    first answer token's logits are (greedy text alone can hide a difference)."""
    if reusing.prefix is None:
        import transformers

        return {
            "skipped": "prefix reuse is off: not verified to keep answers unchanged for "
            f"{reusing.model_type} on transformers {transformers.__version__}"
        }
    rows = []
    with _first_logits(plain.model) as logits:  # the two runtimes share the model
        for _ in range(max(repeats, 1)):
            reusing.generate([steps[0]])  # keeps the prefix step 2 starts from
            again = reusing.generate([steps[1]])[0]
            fresh = plain.generate([steps[1]])[0]
            rows.append((fresh, again))

    def ttft(c: Any) -> float:
        return float(c.timings_ms["prepare"] + c.timings_ms["prefill"])

    plain_ms = statistics.median(ttft(f) for f, _ in rows)
    reuse_ms = statistics.median(ttft(r) for _, r in rows)
    step2 = logits[1::3], logits[2::3]  # per repeat: step 1 reused, step 2 reused, step 2 plain
    return {
        "step2_prompt_tokens": rows[0][0].prompt_tokens,
        "step2_reused_tokens": rows[0][1].reused_prompt_tokens,
        "step2_ttft_ms_plain": round(plain_ms, 1),
        "step2_ttft_ms_reuse": round(reuse_ms, 1),
        "speedup": round(plain_ms / reuse_ms, 2) if reuse_ms else None,
        "answers_identical": all(f.text == r.text for f, r in rows),
        "first_logits_max_diff": max(float((a - b).abs().max()) for a, b in zip(*step2)),
    }


@contextlib.contextmanager
def _first_logits(model: Any) -> Iterator[list[Any]]:
    """The first answer token's logits of every ``generate`` call of ``model`` inside the block."""
    captured: list[Any] = []
    original = model.generate

    def generate(*args: Any, **kwargs: Any) -> Any:
        output = original(*args, **{**kwargs, "output_logits": True})
        captured.append(output.logits[0].float())
        return output

    model.generate = generate
    try:
        yield captured
    finally:
        del model.generate  # the class's own again


def batch(runtime: TransformersRuntime, device: Device, prompts: list[Prompt]) -> dict[str, Any]:
    """One ``generate`` over ``prompts`` as ``agent eval --batch-size`` runs it: steps per second
    and the device's memory peak."""
    runtime.generate(prompts)  # warm-up at this shape: the allocator grows, kernels are chosen
    device.reset_peak()
    device.sync()
    started = time.perf_counter()
    runtime.generate(prompts)
    device.sync()
    wall = time.perf_counter() - started
    return {
        "size": len(prompts),
        "wall_ms": round(wall * 1000, 1),
        "steps_per_s": round(len(prompts) / wall, 3),
        "peak_gib": device.peak_gib(),
    }
