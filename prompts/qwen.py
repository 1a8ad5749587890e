"""Qwen function calling (Qwen2-VL; Qwen2.5-VL and Qwen3-VL follow the same text format).

The model sees the tools through its chat template (``apply_chat_template(..., tools=...)``),
which asks for ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``. History follows the
Qwen team's own evaluation: earlier calls as text, only the current screenshot as an image.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from PIL import Image

from prompts.base import CoordinateFrame, Dialect, Message, ParseError, Prompt, normalize_call
from prompts.jsontext import first_object, loads_or_text, strip_fences
from tools import ToolCall, ToolSet

_THINK = re.compile(r"<think>.*?(?:</think>|$)", re.DOTALL)
_TOOL_CALL = re.compile(r"<tool_call>(.*?)(?=</tool_call>|<tool_call>|$)", re.DOTALL)
_XML_FUNCTION = re.compile(r"<function=([^>\s]+)>(.*?)(?:</function>|$)", re.DOTALL)
_XML_PARAMETER = re.compile(r"<parameter=([^>\s]+)>(.*?)(?:</parameter>|(?=<parameter=)|$)", re.DOTALL)

SYSTEM = "You are a helpful assistant."
ANSWER_FORMAT = (
    'Answer with one tool call: <tool_call>{"name": <tool name>, "arguments": <arguments>}'
    "</tool_call>"
)


class QwenFunctionCalling(Dialect):
    """Qwen2-VL: points are relative, 0–1000 on each axis, whatever the image size."""

    name = "qwen2-vl"

    def frame_for(self, image_size: tuple[int, int]) -> CoordinateFrame:
        return CoordinateFrame(1000, 1000)

    def screen_note(self, frame: CoordinateFrame) -> str:
        return (
            f"The screen's resolution is {frame.width:g}x{frame.height:g}: give points as [x, y] "
            f"with 0 ≤ x ≤ {frame.width:g} and 0 ≤ y ≤ {frame.height:g}, origin at the top left."
        )

    def render(
        self,
        goal: str,
        history: Sequence[ToolCall],
        image: Image.Image,
        toolset: ToolSet,
        feedback: str | None = None,
    ) -> Prompt:
        frame = self.frame_for(image.size)
        lines = [f"The user query: {goal}"]
        if history:
            steps = "; ".join(
                f"Step {i}: {json.dumps({'name': c.name, 'arguments': c.raw()}, ensure_ascii=False)}"
                for i, c in enumerate(history, start=1)
            )
            lines.append(f"Task progress (the actions already taken): {steps};")
        if feedback:
            lines.append(f"Your previous answer was not executed: {feedback}. {ANSWER_FORMAT}.")
        messages: list[Message] = [
            {"role": "system", "content": [{"type": "text", "text": SYSTEM}]},
            {
                "role": "user",
                "content": [{"type": "text", "text": "\n".join(lines) + "\n"},
                            {"type": "image", "image": image}],
            },
        ]
        return Prompt(messages=messages, frame=frame,
                      tools=toolset.function_schemas(self.screen_note(frame)))

    def parse(self, text: str, frame: CoordinateFrame, toolset: ToolSet) -> list[ToolCall]:
        if not isinstance(text, str):
            raise ParseError("the answer is not text")
        visible = _THINK.sub("", text)
        blocks = [m.group(1) for m in _TOOL_CALL.finditer(visible)] or [visible]
        calls = []
        for block in blocks:
            found = _read_call(block)
            if found is not None:
                calls.append(normalize_call(found[0], found[1], frame, toolset))
        if not calls:
            if "<tool_call>" in visible:
                raise ParseError(f"the <tool_call> holds no readable call. {ANSWER_FORMAT}")
            raise ParseError(f"no tool call found. {ANSWER_FORMAT}")
        return calls


def _read_call(block: str) -> tuple[str, dict[str, Any]] | None:
    xml = _XML_FUNCTION.search(block)
    if xml is not None:
        params = {m.group(1): loads_or_text(m.group(2).strip())
                  for m in _XML_PARAMETER.finditer(xml.group(2))}
        return xml.group(1), params
    obj = first_object(strip_fences(block))
    if obj is None or not isinstance(obj.get("name"), str):
        return None
    arguments = obj.get("arguments", obj.get("parameters", {}))
    if isinstance(arguments, str):  # OpenAI style: arguments as a JSON string
        arguments = first_object(arguments)
    if not isinstance(arguments, dict):
        return None
    return obj["name"], arguments
