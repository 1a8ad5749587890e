"""Qwen function calling: Qwen2-VL, Qwen2.5-VL and Qwen3-VL share one text format and differ in
their coordinate space (docs/models.md).

The model sees the tools through its chat template (``apply_chat_template(..., tools=...)``),
which asks for ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``. For templates that
ignore ``tools=`` the prompt also carries the same section as text (:func:`tools_section`).
History follows the Qwen team's own evaluation: earlier calls as text, only the current screenshot
as an image.
"""

from __future__ import annotations

import json
import re
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
from vlagent.prompts.families import family_named
from vlagent.prompts.jsontext import first_object, loads_or_text, strip_fences
from vlagent.prompts.resize import ResizeRule
from vlagent.tools import ToolCall, ToolSet

# Each pattern is linear on any text (benchmarks/parse_scaling.py): a lazy body stops at a fixed
# tag, and a name excludes "<" so that a run of unclosed "<function=" tags is not rescanned from
# each one (that was quadratic).
_THINK = re.compile(r"<think>.*?(?:</think>|$)", re.DOTALL)
_TOOL_CALL = re.compile(r"<tool_call>(.*?)(?=</tool_call>|<tool_call>|$)", re.DOTALL)
_XML_FUNCTION = re.compile(r"<function=([^<>\s]+)>(.*?)(?:</function>|$)", re.DOTALL)
_XML_PARAMETER = re.compile(
    r"<parameter=([^<>\s]+)>(.*?)(?:</parameter>|(?=<parameter=)|$)", re.DOTALL
)

SYSTEM = "You are a helpful assistant."
ANSWER_FORMAT = (
    'Answer with one tool call, as the tools section says: <tool_call>{"name": <function-name>, '
    '"arguments": <args-json-object>}</tool_call>'
)
"""The one answer instruction of a parse error: the same wording as the system message's."""


def _default_resize(family: str) -> ResizeRule | None:
    found = family_named(family)
    return found.resize if found is not None else None


def tools_section(tools: list[dict[str, Any]]) -> str:
    """The tools section Qwen's function-calling prompt writes into the system message: the
    published text, to the byte (qwen-agent's ``NousFnCallPrompt``, which the Qwen cookbooks use
    for Qwen2-VL and Qwen2.5-VL, whose chat templates ignore ``tools=``; Qwen3-VL's template writes
    the same). Models answer best in the words they were trained on, so these are not ours to
    rephrase; a test compares them with qwen-agent's output."""
    lines = "\n".join(json.dumps(tool, ensure_ascii=False) for tool in tools)
    return (
        "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
        "You are provided with function signatures within <tools></tools> XML tags:\n"
        f"<tools>\n{lines}\n</tools>\n\n"
        "For each function call, return a json object with function name and arguments within "
        "<tool_call></tool_call> XML tags:\n"
        '<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>'
    )


class QwenFunctionCalling(Dialect):
    """Qwen2-VL: points are relative, 0–1000 on each axis, whatever the image size."""

    name = "qwen2-vl"
    default_resize = _default_resize("qwen2-vl")
    prompt_source = (
        "the Qwen cookbooks' mobile/computer agent prompt: qwen-agent NousFnCallPrompt's "
        "tools section (written by vlagent, identical text), then the chat template"
    )

    def screen_note(self, frame: CoordinateFrame, surface: str = "screen") -> str:
        return (
            f"The {surface}'s resolution is {frame.width:g}x{frame.height:g}: give points as [x, "
            f"y] with 0 ≤ x ≤ {frame.width:g} and 0 ≤ y ≤ {frame.height:g}, origin at the top left."
        )

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
        lines = [f"The user query: {goal}"]
        if history:
            # The Qwen cookbooks' wording: "Step 1: {...}; Step 2: {...}; "
            done = "".join(f"{line}; " for line in self.history_lines(history))
            lines.append(
                f"Task progress (You have done the following operation on the current device): "
                f"{done}"
            )
        if feedback:
            lines.append(self.feedback_line(feedback))
        messages: list[Message] = [
            {"role": "system", "content": [{"type": "text", "text": SYSTEM}]},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "\n".join(lines)},
                    {"type": "image", "image": image},
                ],
            },
        ]
        tools = toolset.function_schemas(self.screen_note(frame, surface))
        return Prompt(
            messages=messages,
            frame=frame,
            tools=tools,
            tools_text=tools_section(tools),
            model_image_size=self.pixel_size(frame),
        )

    def parse_answer(self, text: str, frame: CoordinateFrame, toolset: ToolSet) -> list[ToolCall]:
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


class Qwen25FunctionCalling(QwenFunctionCalling):
    """Qwen2.5-VL: points are absolute pixels of the smart-resized image the model was shown."""

    name = "qwen2.5-vl"
    default_resize = _default_resize("qwen2.5-vl")
    pixel_space = True


RESPONSE_FORMAT_QWEN3 = (
    "# Response format\n\nResponse format for every step:\n"
    "1) Thought: one concise sentence explaining the next move (no multi-step reasoning).\n"
    "2) Action: a short imperative describing what to do in the UI.\n"
    "3) A single <tool_call>...</tool_call> block containing only the JSON: "
    '{"name": <function-name>, "arguments": <args-json-object>}.\n\n'
    "Rules:\n- Output exactly in the order: Thought, Action, <tool_call>.\n"
    "- Be brief: one sentence for Thought, one for Action.\n"
    "- Do not output anything else outside those three parts.\n"
    "- If finishing, use action=terminate in the tool call."
)
"""The answer format the Qwen3-VL mobile-agent cookbook appends to the tools section (Qwen's
words)."""


class Qwen3FunctionCalling(QwenFunctionCalling):
    """Qwen3-VL: points are relative. The Qwen cookbooks state one size and map back with the
    same number: 999x999 and x/999 for ``mobile_use``, 1000x1000 and x/1000 for
    ``computer_use``. The tool description states the size this frame divides by.

    The prompt is the Qwen3-VL mobile-agent cookbook's: a system message that is the tools section
    exactly as Qwen3-VL's chat template writes it for ``tools=`` (after an empty system text),
    followed by the cookbook's response format (Thought, Action, one ``<tool_call>``); then the
    user query, the task progress and the screenshot."""

    name = "qwen3-vl"
    default_resize = _default_resize("qwen3-vl")
    prompt_source = (
        "the Qwen3-VL mobile-agent cookbook's prompt (its template's tools section and "
        "the cookbook's response format), then the chat template"
    )

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
        tools = toolset.function_schemas(self.screen_note(frame, surface))
        system = "\n\n" + tools_section(tools) + "\n\n" + RESPONSE_FORMAT_QWEN3
        done = "".join(f"{line}; " for line in self.history_lines(history))
        # The cookbook's wording, its full stops included (a goal that ends with one gets two).
        text = (
            f"The user query: {goal}.\nTask progress (You have done the following operation "
            f"on the current device): {done}.\n"
        )
        if feedback:
            text += self.feedback_line(feedback) + "\n"
        messages: list[Message] = [
            {"role": "system", "content": [{"type": "text", "text": system}]},
            {
                "role": "user",
                "content": [{"type": "text", "text": text}, {"type": "image", "image": image}],
            },
        ]
        return Prompt(messages=messages, frame=frame, model_image_size=self.pixel_size(frame))

    def relative_extent_for(self, toolset: ToolSet | None) -> float:
        if toolset is not None and "mobile_use" in toolset and "computer_use" not in toolset:
            return 999
        return 1000


def _read_call(block: str) -> tuple[str, dict[str, Any]] | None:
    xml = _XML_FUNCTION.search(block)
    if xml is not None:
        params = {
            m.group(1): loads_or_text(m.group(2).strip())
            for m in _XML_PARAMETER.finditer(xml.group(2))
        }
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
