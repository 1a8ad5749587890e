"""The remote runtime: an OpenAI-compatible chat-completions server (vLLM, SGLang,
``transformers serve``). This is how a model bigger than one GPU is used: the server shards it
(vLLM with tensor parallelism; Ray across machines) and vlagent sends it screenshots over HTTP.

Tools are written into the system message (the dialect's own tools section), so the server needs
no tool-call parser and answers in the text the dialect reads. Screenshots are sent as PNG data
URLs; for dialects that answer in pixels of the resized image, the image is sent already resized
to exactly that size, so the server's own resize leaves it unchanged (as long as the server's
pixel budget is not smaller than ours).
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import reprlib
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from PIL import Image

from vlagent.agent.runtimes.base import (
    Completion,
    ModelUnavailable,
    Runtime,
    RuntimeFailure,
    RuntimeOptions,
    answer_deadline,
)
from vlagent.agent.runtimes.endpoints import (
    header_value,
    key_may_go_to,
    one_line,
    parse_json,
    parse_url,
    shown,
)
from vlagent.agent.runtimes.http import HttpClient, Unanswered
from vlagent.prompts import Prompt, family_for
from vlagent.prompts.resize import ResizeError, user_budget
from vlagent.tools.secrets import Secret

__all__ = ["OpenAIRuntime", "api_base", "image_url", "key_may_go_to", "shown"]

log = logging.getLogger("vlagent.remote")

RETRY_STATUSES = {408, 429, 500, 502, 503, 504}
BACKOFF_S = 0.5
MAX_PARALLEL = 8
_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 200


def api_base(endpoint: str) -> str:
    """``http://host:8000``, ``…/v1`` or ``…/v1/chat/completions`` → ``http://host:8000/v1``."""
    url = parse_url(endpoint)
    path = url.path.rstrip("/").removesuffix("/chat/completions")
    path = path if path.endswith("/v1") else path + "/v1"
    return f"{url.scheme}://{url.netloc.decode('ascii')}{path}"


def image_url(image: Image.Image, size: tuple[int, int] | None) -> str:
    if size is not None and image.size != size:
        image = image.resize(size, Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _server_message(body: bytes) -> str:
    """The error message a server put in its body: OpenAI style, FastAPI style, or the text."""
    try:
        data = parse_json(body)
    except ValueError:
        return one_line(body.decode("utf-8", "replace")) or "(empty body)"
    if isinstance(data, dict):
        error = data.get("error", data.get("detail", data.get("message")))
        if isinstance(error, dict):
            error = error.get("message", error)
        if error is not None:
            return one_line(str(error))
    return one_line(body.decode("utf-8", "replace"))


class OpenAIRuntime(Runtime):
    """Chat completions over HTTP, with timeouts and bounded retries. Every request goes
    through one :class:`~vlagent.agent.runtimes.http.HttpClient` (agent/runtimes/http.py)."""

    name = "openai"

    def __init__(self, endpoint: str, model: str, options: RuntimeOptions | None = None) -> None:
        self.base = api_base(endpoint)
        self.shown = shown(self.base)
        # A query some gateways take a key in: sent with every request, never shown.
        self._query = parse_url(endpoint).query.decode("ascii")
        self.model_id = model
        self.options = options or RuntimeOptions()
        self.api_key = (
            self.options.api_key
            or os.environ.get("VLAGENT_API_KEY")
            or os.environ.get("OPENAI_API_KEY")
        )
        # Held while the runtime lives: the key is masked in every output (tools/secrets.py).
        self._key = Secret(self.api_key) if self.api_key else None
        # Checked before any connection is made: a key is never sent in clear text off this
        # machine, nor through a proxy unless asked.
        if self.api_key:
            header_value(self.api_key, "the API key (VLAGENT_API_KEY or OPENAI_API_KEY)")
        query_values = [value for _, value in urllib.parse.parse_qsl(self._query) if len(value) > 3]
        self.http = HttpClient(
            httpx.URL(self._url("")),
            {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {},
            secrets=[self.api_key or "", self._query, *query_values],
            allow_insecure=self.options.allow_insecure_key,
            use_env_proxy=self.options.use_env_proxy,
        )
        family = family_for(model)
        if family is not None and family.resize is not None:
            try:
                self.resize = user_budget(
                    family.resize, self.options.min_pixels, self.options.max_pixels
                )
            except ResizeError as exc:
                raise ModelUnavailable(str(exc)) from None
        self._check_reachable()

    def _url(self, path: str) -> str:
        return self.base + path + (f"?{self._query}" if self._query else "")

    def _check_reachable(self) -> None:
        deadline = time.monotonic() + min(self.options.timeout_s, 10.0)
        try:
            self._request("GET", "/models", None, deadline)
        except Unanswered as exc:
            if not exc.answered:
                raise ModelUnavailable(
                    f"cannot reach the server at {self.shown}: {exc}; start it (e.g. vllm serve "
                    "MODEL) or fix --endpoint"
                ) from None
        except RuntimeFailure:
            pass  # it answered: some servers cannot list models, which is fine

    def _request(
        self, method: str, path: str, body: bytes | None, deadline: float
    ) -> dict[str, Any]:
        """One request's answer as a JSON object; :class:`Unanswered` when worth another try,
        :class:`RuntimeFailure` (one line) for any other answer."""
        answer = self.http.request(method, httpx.URL(self._url(path)), body, deadline)
        if not 200 <= answer.status < 300:
            message = self.http.mask(f"HTTP {answer.status}: {_server_message(answer.body)}")
            if answer.status in RETRY_STATUSES:
                raise Unanswered(message, answered=True)
            raise RuntimeFailure(f"the server refused the request ({message})")
        try:
            data = parse_json(answer.body)
        except ValueError as exc:
            raise RuntimeFailure(
                self.http.mask(f"the server answered with something other than JSON: {exc}")
            ) from None
        if not isinstance(data, dict):
            raise RuntimeFailure(
                self.http.mask(f"the server answered with unexpected JSON: {_quoted(data)}")
            )
        return data

    def payload(self, prompt: Prompt) -> dict[str, Any]:
        """The chat-completions request body for ``prompt``."""
        messages = []
        for message in prompt.inline_messages():
            content = message["content"]
            if isinstance(content, str):
                messages.append({"role": message["role"], "content": content})
                continue
            parts = [
                {"type": "text", "text": part["text"]}
                if part["type"] == "text"
                else {
                    "type": "image_url",
                    "image_url": {
                        "url": image_url(
                            part["image"], part.get("model_size") or prompt.model_image_size
                        )
                    },
                }
                for part in content
            ]
            messages.append({"role": message["role"], "content": parts})
        body: dict[str, Any] = {
            "model": self.model_id,
            "messages": messages,
            "max_tokens": self.options.max_new_tokens,
            "temperature": self.options.temperature,
        }
        if self.options.seed is not None:
            body["seed"] = self.options.seed
        if prompt.json_schema is not None and self.options.constrained != "off":
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "tool_call", "schema": prompt.json_schema, "strict": True},
            }
        return body

    def _complete(self, prompt: Prompt, run_deadline: float | None) -> Completion:
        """Retries with backoff; every attempt ends by ``--timeout`` and all of them by the
        run's deadline (``--time-limit``), if it has one."""
        body = json.dumps(self.payload(prompt)).encode()
        started = time.perf_counter()
        last = ""
        for attempt in range(self.options.retries + 1):
            if attempt:
                pause = BACKOFF_S * 2 ** (attempt - 1)
                if run_deadline is not None and time.monotonic() + pause >= run_deadline:
                    break
                time.sleep(pause)
            deadline = time.monotonic() + self.options.timeout_s
            if run_deadline is not None:
                deadline = min(deadline, run_deadline)
            try:
                answer = self._request("POST", "/chat/completions", body, deadline)
                return self._read(answer, round((time.perf_counter() - started) * 1000, 3))
            except Unanswered as exc:
                last = str(exc)
                if run_deadline is not None and time.monotonic() >= run_deadline:
                    break
                if attempt < self.options.retries:
                    log.warning(
                        "the server at %s did not answer (%s); retrying (%d of %d)",
                        self.shown,
                        last,
                        attempt + 1,
                        self.options.retries,
                    )
        else:
            raise RuntimeFailure(
                f"the server at {self.shown} did not answer after {self.options.retries + 1} "
                f"attempts ({last})"
            )
        raise RuntimeFailure(
            f"the run's time limit ran out while waiting for the server at {self.shown} "
            f"({last or 'no time left for another try'})"
        )

    def _read(self, answer: dict[str, Any], elapsed_ms: float) -> Completion:
        """The completion in ``answer``, with no secret of this runtime in it or its errors."""
        try:
            completion = _completion(answer, elapsed_ms)
        except RuntimeFailure as exc:
            raise RuntimeFailure(self.http.mask(str(exc))) from None
        completion.text = self.http.hide(completion.text)
        return completion

    def generate(self, prompts: list[Prompt]) -> list[Completion]:
        run_deadline = answer_deadline()  # read here: the pool's threads do not see it
        if len(prompts) <= 1:
            return [self._complete(p, run_deadline) for p in prompts]
        # Servers batch concurrent requests themselves (continuous batching).
        with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(prompts))) as pool:
            return list(pool.map(lambda p: self._complete(p, run_deadline), prompts))

    def close(self) -> None:
        self.http.close()

    def describe(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "endpoint": self.shown,
            "max_new_tokens": self.options.max_new_tokens,
            "temperature": self.options.temperature,
            "seed": self.options.seed,
            "timeout_s": self.options.timeout_s,
            "retries": self.options.retries,
        }
        if self.resize is not None:
            options["resize"] = {
                "factor": self.resize.factor,
                "min_pixels": self.resize.min_pixels,
                "max_pixels": self.resize.max_pixels,
            }
        return {"id": self.model_id, "runtime": self.name, "options": options}


def _completion(answer: Any, elapsed_ms: float) -> Completion:
    """The text (and token counts) of a chat completion. Anything of the wrong shape is a
    :class:`RuntimeFailure` saying what came, never a crash: a server may be broken or hostile."""
    try:
        message = answer["choices"][0]["message"]
    except (KeyError, IndexError, TypeError):
        raise RuntimeFailure(
            f"the server's answer has no choices[0].message: {_quoted(answer)}"
        ) from None
    if not isinstance(message, dict):
        raise RuntimeFailure(
            f"the server's choices[0].message is not an object: {_quoted(message)}"
        )
    content = message.get("content")
    if isinstance(content, list):  # content parts: keep the text ones
        content = "".join(
            p.get("text", "")
            for p in content
            if isinstance(p, dict) and isinstance(p.get("text"), str)
        )
    if content is not None and not isinstance(content, str):
        raise RuntimeFailure(f"the server's message content is not text: {_quoted(content)}")
    text = content or ""
    # A server started with a tool-call parser returns calls apart from the text; give them back
    # to the dialect in the form it reads.
    calls = message.get("tool_calls") or []
    for call in calls if isinstance(calls, list) else []:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            raise RuntimeFailure(f"the server sent a tool call of the wrong shape: {_quoted(call)}")
        arguments = function.get("arguments", "{}")
        text += (
            f'\n<tool_call>\n{{"name": {json.dumps(function.get("name"))}, '
            f'"arguments": {arguments if isinstance(arguments, str) else json.dumps(arguments)}}}'
            "\n</tool_call>"
        )
    usage = answer.get("usage") if isinstance(answer, dict) else None
    usage = usage if isinstance(usage, dict) else {}
    return Completion(
        text=text,
        prompt_tokens=_count(usage.get("prompt_tokens")),
        completion_tokens=_count(usage.get("completion_tokens")),
        timings_ms={"request": elapsed_ms},
    )


def _quoted(value: Any) -> str:
    """A server's value as it may be put in an error: short, one line, any size or nesting."""
    return one_line(_REPR.repr(value), 200)


def _count(value: Any) -> int | None:
    """A token count as the server gave it, if it is one (a string is not recorded)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None
