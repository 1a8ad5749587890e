"""The OpenAI-compatible runtime: against a real ``transformers serve`` process, and against a
small HTTP server of the test's own for retries, errors and what is sent."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from vlagent.agent.cli import main
from vlagent.agent.runtimes.base import ModelUnavailable, RuntimeFailure, RuntimeOptions
from vlagent.agent.runtimes.remote import OpenAIRuntime, api_base
from vlagent.agent.testing.server import SERVE, free_port
from vlagent.agent.testing.server import serving as start_server
from vlagent.prompts import get_dialect
from vlagent.tools import mobile_tools

# -- a real server ---------------------------------------------------------------------------


@contextlib.contextmanager
def serving(module: str, args: list[str], home: Path, **env: str) -> Iterator[str]:
    """vlagent.agent.testing's server from the repository root; without its extra, a skip
    (locally)."""
    if os.environ.get("CI") != "true":
        pytest.importorskip("fastapi")
        pytest.importorskip("uvicorn")
    with start_server(module, args, home, cwd=Path(__file__).resolve().parents[2], **env) as url:
        yield url


@pytest.fixture(scope="module")
def served(
    checkpoint: Callable[..., Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """``transformers serve`` with a tiny Idefics2 folder on 127.0.0.1; yields its URL."""
    with serving(
        SERVE, ["serve", str(checkpoint("idefics2"))], tmp_path_factory.mktemp("hf-home")
    ) as url:
        yield url


def test_agent_run_against_transformers_serve(
    served: str, checkpoint: Callable[..., Path], tmp_path: Path
) -> None:
    out = tmp_path / "run"
    code = main(
        [
            *"run --env memory --size 320x240 --goal".split(),
            "Tap OK",
            "--endpoint",
            served,
            "--model",
            str(checkpoint("idefics2")),
            *"--max-steps 2 --max-new-tokens 8 --out".split(),
            str(out),
        ]
    )
    assert code in (1, 4)  # a random model: the step limit or too many invalid answers
    lines = [json.loads(line) for line in (out / "trajectory.jsonl").read_text().splitlines()]
    header, steps = lines[0], [line for line in lines if line["type"] == "step"]
    assert header["model"]["runtime"] == "openai" and header["dialect"] == "json"
    assert header["model"]["options"]["endpoint"] == served + "/v1"
    for step in steps:
        assert isinstance(step["output_text"], str)
        assert step["prompt_tokens"] > 64  # the image's 64 perceiver tokens and the text
        assert 1 <= step["completion_tokens"] <= 8
        assert "generate.request" in step["timings_ms"]


def test_agent_eval_keeps_several_requests_in_flight(
    served: str, checkpoint: Callable[..., Path], tmp_path: Path
) -> None:
    """``--concurrency`` against a real server: every step is predicted once, the file lists the
    steps in dataset order, and the answers are the ones one request at a time gets."""
    aitz = Path(__file__).parents[1] / "data" / "aitz-episode"
    outputs = {}
    for concurrency in (1, 3):
        out = tmp_path / f"c{concurrency}"
        assert (
            main(
                [
                    "eval",
                    str(aitz),
                    "--endpoint",
                    served,
                    "--model",
                    str(checkpoint("idefics2")),
                    "--max-new-tokens",
                    "8",
                    "--concurrency",
                    str(concurrency),
                    "--out",
                    str(out),
                ]
            )
            == 0
        )
        lines = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
        assert [line["step"] for line in lines] == [0, 1, 2, 3]
        outputs[concurrency] = [line["output"] for line in lines]
        assert (
            json.loads((out / "metrics.json").read_text())["settings"]["concurrency"] == concurrency
        )
    assert outputs[3] == outputs[1]


def test_concurrency_needs_a_server(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    aitz = Path(__file__).parents[1] / "data" / "aitz-episode"
    assert (
        main(
            [
                "eval",
                str(aitz),
                *"--model scripted:x.txt --concurrency 2 --out".split(),
                str(tmp_path / "e"),
            ]
        )
        == 2
    )
    assert "needs --endpoint" in capsys.readouterr().err


def test_the_server_s_error_message_is_surfaced(served: str) -> None:
    runtime = OpenAIRuntime(served, "/no/such/model", RuntimeOptions(retries=0))
    prompt = get_dialect("json").render("g", [], Image.new("RGB", (64, 64)), mobile_tools())
    with pytest.raises(RuntimeFailure, match="the server"):
        runtime.generate([prompt])


# -- a server of our own, for what a real one rarely does on demand -----------------------------


class Scripted(BaseHTTPRequestHandler):
    """Answers POSTs with the next (status, body) of ``replies`` and keeps the requests."""

    replies: list[tuple[int, Any]] = []
    requests: list[dict[str, Any]] = []
    delay_s = 0.0

    def do_GET(self) -> None:
        self._send(404, {"error": {"message": "no model list here"}})

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        type(self).requests.append(
            {"body": json.loads(self.rfile.read(length)), "auth": self.headers.get("Authorization")}
        )
        time.sleep(self.delay_s)
        status, body = (
            type(self).replies.pop(0) if type(self).replies else (500, "nothing scripted")
        )
        self._send(status, body)

    def _send(self, status: int, body: Any) -> None:
        data = (json.dumps(body) if not isinstance(body, str) else body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client timed out first

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def stub() -> Iterator[tuple[str, type[Scripted]]]:
    handler = type("Handler", (Scripted,), {"replies": [], "requests": [], "delay_s": 0.0})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()


def ok(text: str) -> tuple[int, dict[str, Any]]:
    return 200, {
        "choices": [{"message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 1300, "completion_tokens": 17},
    }


COOKBOOK = '<tool_call>{"name": "mobile_use", "arguments": {"action": "click", "coordinate": [639, 1095]}}</tool_call>'  # noqa: E501


def test_pixel_space_screens_are_sent_at_the_size_the_model_answers_in(
    stub: tuple[str, type[Scripted]],
) -> None:
    url, handler = stub
    handler.replies = [ok(COOKBOOK)]
    runtime = OpenAIRuntime(url, "Qwen/Qwen2.5-VL-7B-Instruct", RuntimeOptions(api_key="sekrit"))
    prompt = get_dialect("qwen2.5-vl", runtime.resize).render(
        "Buy", [], Image.new("RGB", (720, 1280)), mobile_tools()
    )
    completion = runtime.generate([prompt])[0]
    assert completion.text == COOKBOOK
    assert (completion.prompt_tokens, completion.completion_tokens) == (1300, 17)
    request = handler.requests[0]
    assert request["auth"] == "Bearer sekrit"
    messages = request["body"]["messages"]
    assert messages[0]["role"] == "system" and "<tools>" in messages[0]["content"][-1]["text"]
    image_part = next(p for p in messages[1]["content"] if p["type"] == "image_url")
    url_data = image_part["image_url"]["url"]
    assert url_data.startswith("data:image/png;base64,")
    sent = Image.open(io.BytesIO(base64.b64decode(url_data.split(",", 1)[1])))
    assert sent.size == (728, 1288)
    assert "tools" not in request["body"]  # tools travel in the system message


def test_transient_failures_are_retried_with_backoff(
    stub: tuple[str, type[Scripted]], caplog: pytest.LogCaptureFixture
) -> None:
    url, handler = stub
    handler.replies = [(503, {"error": {"message": "busy"}}), (429, "slow down"), ok("fine")]
    runtime = OpenAIRuntime(url, "m", RuntimeOptions(retries=2))
    started = time.monotonic()
    with caplog.at_level("WARNING", logger="vlagent.remote"):
        assert (
            runtime.generate(
                [get_dialect("json").render("g", [], Image.new("RGB", (8, 8)), mobile_tools())]
            )[0].text
            == "fine"
        )
    assert time.monotonic() - started >= 1.5  # 0.5 s then 1 s of backoff
    assert len(handler.requests) == 3
    # Each retry is logged, not silent.
    assert [r.getMessage().split("(")[-1] for r in caplog.records] == ["1 of 2)", "2 of 2)"]
    assert "HTTP 503: busy" in caplog.records[0].getMessage()


def test_retries_are_bounded_and_the_last_error_is_said(stub: tuple[str, type[Scripted]]) -> None:
    url, handler = stub
    handler.replies = [(503, {"error": {"message": "overloaded"}})] * 5
    runtime = OpenAIRuntime(url, "m", RuntimeOptions(retries=1))
    with pytest.raises(
        RuntimeFailure, match=r"did not answer after 2 attempts \(HTTP 503: overloaded\)"
    ):
        runtime.generate(
            [get_dialect("json").render("g", [], Image.new("RGB", (8, 8)), mobile_tools())]
        )
    assert len(handler.requests) == 2


def test_a_client_error_is_not_retried_and_quotes_the_server(
    stub: tuple[str, type[Scripted]],
) -> None:
    url, handler = stub
    handler.replies = [(400, {"detail": "The model `m` does not exist."})]
    runtime = OpenAIRuntime(url, "m", RuntimeOptions(retries=3))
    with pytest.raises(RuntimeFailure, match=r"HTTP 400: The model `m` does not exist"):
        runtime.generate(
            [get_dialect("json").render("g", [], Image.new("RGB", (8, 8)), mobile_tools())]
        )
    assert len(handler.requests) == 1


def test_a_slow_server_times_out(stub: tuple[str, type[Scripted]]) -> None:
    url, handler = stub
    handler.delay_s = 1.0
    handler.replies = [ok("late"), ok("late")]
    runtime = OpenAIRuntime(url, "m", RuntimeOptions(timeout_s=0.2, retries=0))
    with pytest.raises(RuntimeFailure, match="did not answer after 1 attempts.*timed out"):
        runtime.generate(
            [get_dialect("json").render("g", [], Image.new("RGB", (8, 8)), mobile_tools())]
        )


def test_server_side_tool_calls_come_back_as_text(stub: tuple[str, type[Scripted]]) -> None:
    url, handler = stub
    handler.replies = [
        (
            200,
            {
                "choices": [
                    {
                        "message": {
                            "content": None,
                            "tool_calls": [
                                {
                                    "type": "function",
                                    "function": {
                                        "name": "mobile_use",
                                        "arguments": '{"action": "click", "coordinate": [500, 500]}',  # noqa: E501
                                    },
                                }
                            ],
                        }
                    }
                ]
            },
        )
    ]
    runtime = OpenAIRuntime(url, "Qwen/Qwen2-VL-7B-Instruct")
    text = runtime.generate(
        [get_dialect("qwen2-vl").render("g", [], Image.new("RGB", (8, 8)), mobile_tools())]
    )[0].text
    call = get_dialect("qwen2-vl").parse(
        text, get_dialect("qwen2-vl").frame_for((8, 8)), mobile_tools()
    )[0]
    assert call.arguments == {"action": "click", "coordinate": [0.5, 0.5]}


def test_an_unreachable_endpoint_fails_at_start_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="cannot reach the server at http://127.0.0.1:"):
        OpenAIRuntime(f"http://127.0.0.1:{free_port()}", "m")
    assert (
        main(["run", "--env", "memory", "--goal", "g", "--endpoint", "ftp://x", "--model", "m"])
        == 3
    )


@pytest.mark.parametrize(
    ("given", "base"),
    [
        ("http://h:8000", "http://h:8000/v1"),
        ("http://h:8000/v1/", "http://h:8000/v1"),
        ("https://h/v1/chat/completions", "https://h/v1"),
    ],
)
def test_endpoint_forms(given: str, base: str) -> None:
    assert api_base(given) == base


@pytest.mark.parametrize(
    "body",
    [
        {"choices": [{"message": "just a string"}]},
        {"choices": [{"message": {"content": 42}}]},
        {"choices": [{"message": {"content": None, "tool_calls": ["not an object"]}}]},
        {"choices": [{"message": {"content": None, "tool_calls": [{"function": "x"}]}}]},
        ["not", "an", "object"],
    ],
)
def test_a_malformed_answer_is_a_model_error_not_a_crash(
    stub: tuple[str, type[Scripted]], body: Any, tmp_path: Path
) -> None:
    url, handler = stub
    handler.replies = [(200, body)]
    code = main(
        [
            *"run --env memory --goal g --endpoint".split(),
            url,
            *"--model m --dialect json --out".split(),
            str(tmp_path / "run"),
        ]
    )
    assert code == 4  # the run stopped on a model error, recorded; not exit 70
    lines = [
        json.loads(x) for x in (tmp_path / "run" / "trajectory.jsonl").read_text().splitlines()
    ]
    assert lines[1]["error"]["kind"] == "model" and lines[-1]["steps"] == 1


def test_content_parts_are_read_and_text_token_counts_are_not_recorded(
    stub: tuple[str, type[Scripted]],
) -> None:
    url, handler = stub
    handler.replies = [
        (
            200,
            {
                "choices": [
                    {
                        "message": {
                            "content": [
                                {"type": "text", "text": "a"},
                                {"type": "text", "text": "b"},
                                7,
                            ]
                        }
                    }
                ],
                "usage": {"prompt_tokens": "<script>", "completion_tokens": True},
            },
        )
    ]
    runtime = OpenAIRuntime(url, "m")
    completion = runtime.generate(
        [get_dialect("json").render("g", [], Image.new("RGB", (8, 8)), mobile_tools())]
    )[0]
    assert completion.text == "ab"
    assert completion.prompt_tokens is None and completion.completion_tokens is None
