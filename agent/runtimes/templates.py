"""How the local runtime uses a checkpoint's own chat template: whether it writes tools itself.

A template that takes ``tools=`` renders the tools section the model was trained on; one that
fails with tools (or ignores them) is used without them, and the dialect writes the tools into the
system message.
"""

from __future__ import annotations

import logging
from typing import Any

from vlagent.agent.runtimes.base import ModelUnavailable

log = logging.getLogger("vlagent.local")

PROBE_TOOL = {
    "type": "function",
    "function": {
        "name": "vlagent_probe_tool",
        "description": "probe",
        "parameters": {"type": "object", "properties": {}},
    },
}


def template_takes_tools(processor: Any, model_id: str) -> bool:
    """Whether the chat template writes ``tools=`` itself. A template that fails with tools
    but works without them is used without them (the dialect writes the tools section)."""
    probe = [{"role": "user", "content": [{"type": "text", "text": "probe"}]}]
    try:
        text = processor.apply_chat_template(
            probe, tools=[PROBE_TOOL], tokenize=False, add_generation_prompt=True
        )
    except Exception as exc:  # jinja errors have no common base: any failure is a bad template
        failure = exc
    else:
        return "vlagent_probe_tool" in str(text)
    try:
        processor.apply_chat_template(probe, tokenize=False, add_generation_prompt=True)
    except Exception as exc:
        raise ModelUnavailable(
            f"{model_id} has no usable chat template ({type(exc).__name__}: {exc}); "
            "vlagent renders prompts with the checkpoint's own template"
        ) from None
    log.info(
        "the chat template of %s fails when given tools (%s: %s); the tools are written "
        "into the system message instead",
        model_id,
        type(failure).__name__,
        failure,
    )
    return False
