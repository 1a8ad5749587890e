"""The tables of a benchmarks/gpu.py run, as docs/benchmarks.md shows them, and its targets."""

from __future__ import annotations

from typing import Any

TARGETS = (
    ("time to first token, 7B step", "qwen2.5-vl-7b", "step", "ttft_ms", "<=", 150.0),
    ("prefill MFU, 7B", "qwen2.5-vl-7b", "flops", "prefill_mfu", ">=", 0.40),
)
BATCH_TARGET = ("batch 16 vs batch 1, steps/s", 16, 3.0)
COLUMNS = (
    "model",
    "parameters",
    "weights GiB",
    "image + text tokens",
    "TTFT ms (prepare + prefill)",
    "decode tok/s",
    "peak GiB",
    "prefill TFLOP/s",
    "MFU prefill / forward",
    "vision ms of forward ms",
)


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 10 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _model_row(key: str, sections: dict[str, Any]) -> str:
    build = sections.get("build", {})
    step = sections.get("step", {})
    found = sections.get("flops", {})
    problem = next((_problem(v) for v in (sections, step, found) if _problem(v)), "")
    cells = [
        key,
        _cell(build.get("parameters")),
        _cell(build.get("weights_gib")),
        f"{_cell(step.get('image_tokens'))} + {_cell(step.get('text_tokens'))}",
        f"{_cell(step.get('ttft_ms'))} "
        f"({_cell(step.get('prepare_ms'))} + {_cell(step.get('prefill_ms'))})",
        _cell(step.get("decode_tokens_per_s")),
        _cell(step.get("peak_gib")),
        _cell(found.get("prefill_tflops_per_s")),
        f"{_cell(found.get('prefill_mfu'))} / {_cell(found.get('forward_mfu'))}",
        f"{_cell(found.get('vision_ms'))} of {_cell(found.get('forward_ms'))}",
    ]
    row = "| " + " | ".join(cells) + " |"
    return row + (f"\n|  |{problem} |" + " |" * 8 if problem else "")


def _first_model(key: str, sections: dict[str, Any]) -> list[str]:
    lines = []
    attention = sections.get("attention", {})
    if attention:
        parts = [
            f"{k.removesuffix('_forward_ms')} {v:,.0f} ms"
            for k, v in attention.items()
            if k.endswith("_forward_ms")
        ]
        lines.append(
            f"- {key}, prefill forward by attention kind: " + ", ".join(parts) + _problem(attention)
        )
    prefix = sections.get("prefix", {})
    if prefix:
        lines.append(
            f"- {key}, step 2 with prefix reuse: {_cell(prefix.get('step2_reused_tokens'))} of "
            f"{_cell(prefix.get('step2_prompt_tokens'))} tokens reused, time to first token "
            f"{_cell(prefix.get('step2_ttft_ms_plain'))} → "
            f"{_cell(prefix.get('step2_ttft_ms_reuse'))} ms "
            f"({_cell(prefix.get('speedup'))}×), "
            f"answers identical: {prefix.get('answers_identical')}, first-token logits "
            f"{_cell(prefix.get('first_logits_max_diff'))} apart at most" + _problem(prefix)
        )
    batches = sections.get("batches", [])
    if batches:
        lines += [
            "",
            "| batch | steps/s | vs batch 1 | wall ms | peak GiB |",
            "| --- | --- | --- | --- | --- |",
        ]
        for row in batches:
            cells = [
                row.get(k) for k in ("size", "steps_per_s", "vs_batch_1", "wall_ms", "peak_gib")
            ]
            lines.append("| " + " | ".join(map(_cell, cells)) + f" |{_problem(row)}")
    top = sections.get("profile")
    if isinstance(top, dict):
        lines += ["", f"Profile of one {key} prefill: not taken{_problem(top)}"]
    if isinstance(top, list) and top:
        lines += [
            "",
            f"Top operators of one {key} prefill (ms, calls): "
            + "; ".join(f"{n} {ms:,.1f} ({c})" for n, ms, c in top[:8]),
        ]
    return lines


def _problem(section: dict[str, Any]) -> str:
    text = section.get("error") or section.get("skipped")
    return f" ({text})" if text else ""


def targets(report: dict[str, Any]) -> list[str]:
    """Each target of the issue with the measured figure and met / missed / not measured."""
    lines = []
    models = report.get("models", {})
    for label, key, section, field, sense, bound in TARGETS:
        value = models.get(key, {}).get(section, {}).get(field)
        lines.append(_verdict(label, value, sense, bound))
    label, size, bound = BATCH_TARGET
    rows: list[dict[str, Any]] = next(
        (m.get("batches", []) for m in models.values() if m.get("batches")), []
    )
    value = next((r.get("vs_batch_1") for r in rows if r.get("size") == size), None)
    lines.append(_verdict(label, value, ">=", bound))
    return lines


def _verdict(label: str, value: Any, sense: str, bound: float) -> str:
    if value is None:
        return f"- {label}: not measured (target {sense} {bound:g})"
    met = value <= bound if sense == "<=" else value >= bound
    return f"- {label}: {value:g}, target {sense} {bound:g}: {'met' if met else 'MISSED'}"


def markdown(report: dict[str, Any]) -> str:
    machine = report.get("machine", {})
    head = (
        f"Run {report.get('date', '?')} on {machine.get('gpu') or machine.get('device')} "
        f"(torch {machine.get('torch')}, transformers {machine.get('transformers')})"
        + (", smoke mode: tiny configs, figures mean nothing" if report.get("smoke") else "")
        + f"; {report.get('new_tokens')} new tokens per answer."
    )
    lines = [
        head,
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + " --- |" * len(COLUMNS),
    ]
    models = report.get("models", {})
    lines += [_model_row(key, sections) for key, sections in models.items()]
    for key, sections in models.items():
        extra = _first_model(key, sections)
        if extra:
            lines += [""] + extra
    if report.get("smoke"):
        lines += ["", "Targets: not judged in smoke mode."]
    else:
        lines += ["", "Targets:"] + targets(report)
    if report.get("stopped_early"):
        lines.append(f"\nStopped early: {report['stopped_early']}.")
    return "\n".join(lines)
