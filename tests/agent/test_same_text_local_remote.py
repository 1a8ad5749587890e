"""One model reads the same text whether vlagent runs it locally or sends it to a server: the
prompt a real ``transformers serve`` renders from our request is captured on the server side and
compared with the local runtime's rendering of the same prompt, byte for byte."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image

from tests.agent.test_remote_runtime import serving
from vlagent.agent.runtimes.base import RuntimeOptions
from vlagent.agent.runtimes.local import TransformersRuntime
from vlagent.agent.runtimes.remote import OpenAIRuntime
from vlagent.prompts import dialect_for
from vlagent.tools import ToolCall, computer_tools, mobile_tools

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def capturing_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A real ``transformers serve`` (any model folder, per request) that records what it
    renders."""
    home = tmp_path_factory.mktemp("serve-home")
    capture = home / "rendered.jsonl"
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    with serving(
        "tests.agent.serve_capture", [], home, VLAGENT_CAPTURE=str(capture), PYTHONPATH=path
    ) as url:
        yield url, capture


@pytest.mark.parametrize("family", ["qwen2.5-vl", "qwen3-vl", "idefics2", "llava-onevision"])
def test_local_and_remote_runtimes_send_the_same_text(
    family: str, checkpoint: Callable[..., Path], capturing_server: tuple[str, Path]
) -> None:
    url, capture = capturing_server
    folder = str(checkpoint(family))
    local = TransformersRuntime(folder)
    dialect = dialect_for(local.model_id, local.model_type, local.resize)
    tools = computer_tools() if family == "idefics2" else mobile_tools()
    earlier = ToolCall(tools.names[0], {"action": "wait", "time": 1}, {"action": "wait", "time": 1})
    prompt = dialect.render(
        "Open the Clock app",
        [earlier],
        Image.new("RGB", (240, 320), "navy"),
        tools,
        feedback="the point [2000, 10] is off the screen",
    )
    before = capture.read_text(encoding="utf-8").count("\n") if capture.exists() else 0
    OpenAIRuntime(url, folder, RuntimeOptions(max_new_tokens=2, retries=0)).generate([prompt])
    rendered = [
        json.loads(line) for line in capture.read_text(encoding="utf-8").splitlines()[before:]
    ]
    assert rendered, "the server rendered nothing"
    assert rendered[-1] == local.chat_text(prompt)
