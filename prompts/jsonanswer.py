"""The ``json`` dialect: for families without native tool calling (LLaVA-OneVision, Idefics2).

The tool schemas go into the prompt as text and the model answers with one JSON object
``{"name": ..., "arguments": {...}}``, points relative 0–1000. The prompt also carries a strict
JSON schema of that answer, so a runtime with grammar-constrained decoding (xgrammar) makes every
answer parse and validate.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from PIL import Image

from vlagent.prompts.base import (
    CoordinateFrame,
    Dialect,
    Message,
    ParseError,
    Prompt,
    normalize_call,
)
from vlagent.prompts.qwen import _THINK, _read_call
from vlagent.tools import ToolCall, ToolSet
from vlagent.tools.schema import strict_parameters_schema

SCALE = 1000


def answer_schema(toolset: ToolSet, frame: CoordinateFrame) -> dict[str, Any]:
    """Every answer that names a tool of ``toolset`` with valid arguments and on-screen points."""
    point = {
        "type": "array",
        "prefixItems": [
            {"type": "integer", "minimum": 0, "maximum": int(frame.width)},
            {"type": "integer", "minimum": 0, "maximum": int(frame.height)},
        ],
        "items": False,
        "minItems": 2,
        "maxItems": 2,
    }
    branches = [
        {
            "type": "object",
            "properties": {
                "name": {"const": name},
                "arguments": strict_parameters_schema(toolset[name], point),
            },
            "required": ["name", "arguments"],
            "additionalProperties": False,
        }
        for name in toolset.names
    ]
    return branches[0] if len(branches) == 1 else {"anyOf": branches}


class JsonAnswer(Dialect):
    """Tools described in the prompt, one JSON object back, relative 0–1000 coordinates."""

    name = "json"
    prompt_source = "vlagent's JSON tool prompt (these families publish no agent prompt)"

    relative_extent = SCALE

    def render(
        self,
        goal: str,
        history: Sequence[ToolCall],
        image: Image.Image,
        toolset: ToolSet,
        feedback: str | None = None,
        surface: str = "screen",
    ) -> Prompt:
        frame = self.frame_for(image.size, toolset)
        note = (
            f"Points are [x, y] with x and y integers from 0 to {SCALE}, relative to the "
            "screenshot's width and height, origin at the top left."
        )
        tools = toolset.function_schemas(note)
        listed = "\n".join(json.dumps(t["function"], ensure_ascii=False) for t in tools)
        system = (
            "You operate a device by calling tools. The tools, as JSON schemas:\n"
            f"{listed}\n\n"
            'Answer with exactly one JSON object and nothing else: {"name": <tool name>, '
            '"arguments": <arguments>}.'
        )
        # The screenshot comes first: LLaVA-OneVision's template writes every image of a turn
        # before its text whatever their order, so text that points at the image follows it.
        lines = [f"The image is the current {surface}.", f"Task: {goal}"]
        if history:
            lines.append("Actions taken so far:")
            lines += self.history_lines(history)
        if feedback:
            lines.append(self.feedback_line(feedback))
        messages: list[Message] = [
            {"role": "system", "content": [{"type": "text", "text": system}]},
            {
                "role": "user",
                "content": [
                    {"type": "image", "image": image},
                    {"type": "text", "text": "\n".join(lines)},
                ],
            },
        ]
        return Prompt(messages=messages, frame=frame, json_schema=answer_schema(toolset, frame))

    def parse_answer(self, text: str, frame: CoordinateFrame, toolset: ToolSet) -> list[ToolCall]:
        found = _read_call(_THINK.sub("", text))
        if found is None:
            raise ParseError(
                'no JSON tool call found; answer with one object: {"name": ..., "arguments": {...}}'
            )
        return [normalize_call(found[0], found[1], frame, toolset)]
