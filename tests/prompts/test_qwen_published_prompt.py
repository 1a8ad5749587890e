"""The Qwen2/2.5-VL prompt against the pipeline the published agent numbers came from: the Qwen
cookbooks build the system message with qwen-agent's NousFnCallPrompt (the `qwen-agent` package,
Alibaba, Apache-2.0), because those models' chat templates ignore `tools=`. Ours must be the same
text, byte for byte, for the same tools, goal and history.

Deliberate differences (docs/models.md): the tool descriptions are ours (the published action
space and arguments, our words), and the user turn has one space after "The user query:" where the
cookbook's example has two."""

from __future__ import annotations

import pytest
from PIL import Image

pytest.importorskip(
    "qwen_agent", reason="pip install qwen-agent soundfile (the test extra has them)"
)
from qwen_agent.llm.fncall_prompts.nous_fncall_prompt import (
    ContentItem,
    Message,
    NousFnCallPrompt,
)

from vlagent.prompts import get_dialect
from vlagent.tools import ToolCall, computer_tools, mobile_tools


def _texts(message: dict) -> str:  # type: ignore[type-arg]
    return "".join(part["text"] for part in message["content"] if part.get("text") is not None)


@pytest.mark.parametrize("family", ["qwen2-vl", "qwen2.5-vl"])
@pytest.mark.parametrize("tools", [mobile_tools(), computer_tools()])
def test_the_system_message_is_what_qwen_agent_builds(family: str, tools) -> None:  # type: ignore[no-untyped-def]
    dialect = get_dialect(family)
    history = [
        ToolCall(
            "mobile_use",
            {"action": "open", "text": "File Manager"},
            {"action": "open", "text": "File Manager"},
        )
    ]
    ours = dialect.render(
        "Open the file manager app", history, Image.new("RGB", (1080, 2400)), tools
    )
    messages = ours.inline_messages()
    user = _texts(messages[1])
    theirs = NousFnCallPrompt().preprocess_fncall_messages(
        messages=[
            Message(role="system", content=[ContentItem(text="You are a helpful assistant.")]),
            Message(
                role="user", content=[ContentItem(text=user), ContentItem(image="file:///x.png")]
            ),
        ],
        functions=[t["function"] for t in ours.tools or []],
        lang=None,
    )
    theirs_dumped = [m.model_dump() for m in theirs]
    assert _texts(messages[0]) == _texts(theirs_dumped[0])  # byte for byte
    assert user == (
        "The user query: Open the file manager app\nTask progress (You have done the following "
        'operation on the current device): Step 1: {"name": "mobile_use", "arguments": '
        '{"action": "open", "text": "File Manager"}}; '
    )
