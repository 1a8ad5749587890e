"""Every family on its published chat template (agent/testing/chat_templates, with sources), and our
prompts against the published agent pipelines' own output, byte for byte.

The tiny checkpoints carry the published templates, so what is tested here is what a real
checkpoint's processor writes. Deliberate differences from the published pipelines are listed in
each test (and in docs/models.md) and applied to their text before comparing: nothing else may
differ."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from vlagent.agent.runtimes.base import RuntimeOptions
from vlagent.agent.runtimes.local import TransformersRuntime
from vlagent.agent.testing import published_template
from vlagent.prompts import dialect_for
from vlagent.tools import ToolCall, computer_tools, mobile_tools

Checkpoint = Callable[..., Path]
GOLDEN = Path(__file__).parents[1] / "data" / "golden"


def test_the_qwen3_vl_template_is_the_published_file_to_the_byte() -> None:
    # The sha256 and size of Qwen/Qwen3-VL-8B-Instruct's chat_template.json, as pinned by
    # several public projects that check their model snapshot file by file.
    data = published_template("qwen3-vl").read_bytes()
    assert len(data) == 5499
    assert (
        hashlib.sha256(data).hexdigest()
        == "5c72a170d2a4a1a3bc5adad2e689ae28138a9700e5b8c96c0266331e86c0acce"
    )


def test_the_ui_tars_15_template_is_the_published_file_to_the_byte() -> None:
    # The sha256 and size of ByteDance-Seed/UI-TARS-1.5-7B's chat_template.json as its publisher
    # committed it (2025-04-16), read from a public git mirror of the checkpoint repository. Its
    # text is Qwen2.5-VL's template: UI-TARS-1.5 renders exactly as Qwen2.5-VL does.
    data = published_template("ui-tars-1.5").read_bytes()
    assert len(data) == 1050
    assert (
        hashlib.sha256(data).hexdigest()
        == "ad60d90252ed0b0705ba14e2d0ad0fec0beac1ea955642b54059b36052d8bc96"
    )
    qwen25 = json.loads(published_template("qwen2.5-vl").read_text(encoding="utf-8"))
    assert json.loads(data)["chat_template"] == qwen25["chat_template"]


def test_the_templates_render_as_transformers_own_tests_of_the_published_checkpoints_say(
    checkpoint: Checkpoint,
) -> None:
    llava = TransformersRuntime(str(checkpoint("llava-onevision"))).processor
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "image"},
                {"type": "text", "text": "What is shown in this image?"},
            ],
        }
    ]
    # transformers tests/models/llava_onevision/test_processor_llava_onevision.py
    assert llava.apply_chat_template(messages, add_generation_prompt=True) == (
        "<|im_start|>user <image>\nWhat is shown in this image?<|im_end|><|im_start|>assistant\n"
    )
    idefics2 = TransformersRuntime(str(checkpoint("idefics2"))).processor
    conversation = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What do these images show?"},
                {"type": "image"},
                {"type": "image"},
                "What do these images show?",
            ],
        },
        {
            "role": "assistant",
            "content": [{"type": "text", "text": "The first image shows the statue."}],
        },
        {"role": "user", "content": [{"type": "text", "text": "And who is that?"}]},
    ]
    # transformers tests/models/idefics2/test_processor_idefics2.py (HuggingFaceM4/idefics2-8b)
    assert idefics2.apply_chat_template(conversation, add_generation_prompt=True) == (
        "User: What do these images show?<image><image><end_of_utterance>\n"
        "Assistant: The first image shows the statue.<end_of_utterance>\n"
        "User: And who is that?<end_of_utterance>\nAssistant:"
    )


@pytest.mark.parametrize(
    ("family", "name", "template", "takes_tools"),
    [
        ("qwen2-vl", None, None, False),
        ("qwen2.5-vl", None, None, False),
        ("qwen2.5-vl", "UI-TARS-1.5-7B", "ui-tars-1.5", False),
        ("qwen3-vl", None, None, True),
        ("llava-onevision", None, None, False),
        ("idefics2", None, None, False),
    ],
)
def test_which_published_templates_write_tools(
    family: str, name: str | None, template: str | None, takes_tools: bool, checkpoint: Checkpoint
) -> None:
    runtime = TransformersRuntime(str(checkpoint(family, name, template)))
    assert runtime.template_takes_tools is takes_tools


def _mobile_open(app: str) -> ToolCall:
    return ToolCall("mobile_use", {"action": "open", "text": app}, {"action": "open", "text": app})


def _tools_line(text: str) -> str:
    return text.split("<tools>\n", 1)[1].split("\n</tools>", 1)[0]


def test_qwen25_vl_prompt_is_the_cookbooks_printed_prompt(checkpoint: Checkpoint) -> None:
    """QwenLM/Qwen2.5-VL cookbooks/mobile_agent.ipynb printed the prompt it sent Qwen2.5-VL-7B
    (qwen-agent's NousFnCallPrompt, then the published template). Deliberate differences: the
    tool's JSON (the published action space in our words; the cookbook's also carries qwen-agent's
    ``name_for_human`` and ``args_format``), and one space after "The user query:" (two there)."""
    golden = (GOLDEN / "qwen2.5-vl-cookbook-mobile.txt").read_text(encoding="utf-8")
    # The cookbook's processor has the stock pixel budget (ours is smaller by default).
    runtime = TransformersRuntime(
        str(checkpoint("qwen2.5-vl")), RuntimeOptions(max_pixels=16384 * 28 * 28)
    )
    dialect = dialect_for(runtime.model_id, runtime.model_type, runtime.resize)
    goal = "Open the file manager app and view the au_uu_SzH3yR2.mp3 file in MUSIC Folder"
    # The cookbook's screenshot is 1080x2400; stock budget → 1092x2408, as both prompts state.
    prompt = dialect.render(
        goal, [_mobile_open("File Manager")], Image.new("RGB", (1080, 2400)), mobile_tools()
    )
    ours = runtime.chat_text(prompt)
    assert "The screen's resolution is 1092x2408." in golden
    assert "resolution is 1092x2408" in _tools_line(ours)
    expected = golden.replace(_tools_line(golden), _tools_line(ours)).replace(
        "The user query:  ", "The user query: "
    )
    assert ours == expected


def test_qwen3_vl_prompt_is_the_cookbooks_prompt_through_the_published_template(
    checkpoint: Checkpoint,
) -> None:
    """QwenLM/Qwen3-VL cookbooks/mobile_agent.ipynb sends a system message (the tools section and
    a response format) and the user query through the API; the published template renders both.
    Deliberate differences: the tool's JSON (our words), and history as each earlier call's JSON
    (the Qwen team's evaluation format) where the cookbook lists the model's Action sentences."""
    golden = json.loads((GOLDEN / "qwen3-vl-cookbook-mobile.json").read_text(encoding="utf-8"))
    runtime = TransformersRuntime(str(checkpoint("qwen3-vl")))
    processor = runtime.processor
    image = Image.new("RGB", (1080, 2400))
    cookbook = [
        {"role": "system", "content": [{"type": "text", "text": golden["system"]}]},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": golden["user_query"]},
                {"type": "image", "image": image},
            ],
        },
    ]
    theirs = processor.apply_chat_template(cookbook, tokenize=False, add_generation_prompt=True)
    dialect = dialect_for(runtime.model_id, runtime.model_type, runtime.resize)
    history = [_mobile_open("X")]
    prompt = dialect.render(golden["instruction"], history, image, mobile_tools())
    ours = runtime.chat_text(prompt)
    assert "resolution is 999x999" in _tools_line(ours)
    expected = theirs.replace(_tools_line(theirs), _tools_line(ours)).replace(
        golden["history"][0], dialect.history_text(history[0])
    )
    assert ours == expected
    # And the tools section is what Qwen3-VL's own template writes for tools= (empty system text).
    schemas = [json.loads(_tools_line(ours))]
    written = processor.apply_chat_template(
        [{"role": "system", "content": [{"type": "text", "text": ""}]}, cookbook[1]],
        tools=schemas,
        tokenize=False,
        add_generation_prompt=True,
    )
    tools_part = written.split("<|im_end|>")[0]
    assert ours.startswith(tools_part + "\n\n# Response format")


def test_ui_tars_15_first_step_is_the_official_prompt_and_the_screenshot(
    checkpoint: Checkpoint,
) -> None:
    """UI-TARS-1.5's pipeline sends one user turn: its official prompt (the ui-tars package's
    prompt file, filled with the language and the instruction), then the screenshot."""
    official = pytest.importorskip(
        "ui_tars.prompt", reason="pip install ui-tars (the test extra has it)"
    )
    runtime = TransformersRuntime(str(checkpoint("qwen2.5-vl", "UI-TARS-1.5-7B", "ui-tars-1.5")))
    dialect = dialect_for(runtime.model_id, runtime.model_type, runtime.resize)
    assert dialect.name == "ui-tars-1.5"
    goal = "Open the display settings"
    image = Image.new("RGB", (1920, 1080))
    prompt = dialect.render(goal, [], image, computer_tools())
    text = official.COMPUTER_USE_DOUBAO.format(language="English", instruction=goal)
    theirs = runtime.processor.apply_chat_template(
        [
            {
                "role": "user",
                "content": [{"type": "text", "text": text}, {"type": "image", "image": image}],
            }
        ],
        tokenize=False,
        add_generation_prompt=True,
    )
    assert runtime.chat_text(prompt) == theirs
