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
import ipaddress
import json
import logging
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from PIL import Image

from vlagent.agent.runtimes.base import (
    Completion,
    ModelUnavailable,
    Runtime,
    RuntimeFailure,
    RuntimeOptions,
)
from vlagent.prompts import Prompt, ResizeRule, family_for

log = logging.getLogger("vlagent.remote")

RETRY_STATUSES = {408, 429, 500, 502, 503, 504}
BACKOFF_S = 0.5
MAX_PARALLEL = 8


class _Retryable(Exception):
    """A failure worth another try (connection refused, timeout, 5xx, 429). ``answered``: the
    server itself answered (with an error status)."""

    def __init__(self, message: str, answered: bool = False) -> None:
        super().__init__(message)
        self.answered = answered


def api_base(endpoint: str) -> str:
    """``http://host:8000``, ``…/v1`` or ``…/v1/chat/completions`` → ``http://host:8000/v1``."""
    parts = urllib.parse.urlsplit(endpoint.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ModelUnavailable(
            f"--endpoint {shown(endpoint)!r} is not an http(s) URL, e.g. http://127.0.0.1:8000/v1"
        )
    path = parts.path.rstrip("/").removesuffix("/chat/completions")
    path = path if path.endswith("/v1") else path + "/v1"
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def shown(url: str) -> str:
    """``url`` as it may be printed or recorded: no user, password or query (keys hide there)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def key_may_go_to(url: str) -> bool:
    """An API key is sent over https, or in clear text only to this machine (loopback)."""
    parts = urllib.parse.urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme == "https" or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def image_url(image: Image.Image, size: tuple[int, int] | None) -> str:
    if size is not None and image.size != size:
        image = image.resize(size, Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _server_message(body: bytes) -> str:
    """The error message a server put in its body: OpenAI style, FastAPI style, or the text."""
    text = body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text[:300] or "(empty body)"
    if isinstance(data, dict):
        error = data.get("error", data.get("detail", data.get("message")))
        if isinstance(error, dict):
            error = error.get("message", error)
        if error is not None:
            return str(error)[:300]
    return text[:300]


class OpenAIRuntime(Runtime):
    """Chat completions over HTTP, with timeouts and bounded retries."""

    name = "openai"

    def __init__(self, endpoint: str, model: str, options: RuntimeOptions | None = None) -> None:
        self.base = api_base(endpoint)
        self.shown = shown(self.base)
        self._query = urllib.parse.urlsplit(endpoint.strip()).query  # e.g. a key some gateways take
        self.model_id = model
        self.options = options or RuntimeOptions()
        self.api_key = (
            self.options.api_key
            or os.environ.get("VLAGENT_API_KEY")
            or os.environ.get("OPENAI_API_KEY")
        )
        # Checked before any connection is made: a key is never sent in clear text off this machine.
        if self.api_key and not key_may_go_to(self.base) and not self.options.allow_insecure_key:
            raise ModelUnavailable(
                f"refusing to send the API key in clear text to {self.shown}: use an https "
                "endpoint, or pass --allow-insecure-key if this network is yours"
            )
        family = family_for(model)
        if family is not None and family.resize is not None:
            default = family.resize
            self.resize = ResizeRule(
                default.factor,
                self.options.min_pixels or default.min_pixels,
                self.options.max_pixels or default.max_pixels,
            )
        self._check_reachable()

    def _check_reachable(self) -> None:
        try:
            self._request("GET", "/models", None, timeout=min(self.options.timeout_s, 10.0))
        except _Retryable as exc:
            if not exc.answered:
                raise ModelUnavailable(
                    f"cannot reach the server at {self.shown}: {exc}; start it (e.g. vllm serve "
                    "MODEL) or fix --endpoint"
                ) from None
        except RuntimeFailure:
            pass  # it answered: some servers cannot list models, which is fine

    def _request(
        self, method: str, path: str, payload: dict[str, Any] | None, timeout: float
    ) -> dict[str, Any]:
        data = json.dumps(payload).encode() if payload is not None else None
        url = self.base + path + (f"?{self._query}" if self._query else "")
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if self.api_key:
            request.add_header("Authorization", f"Bearer {self.api_key}")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            message = f"HTTP {exc.code}: {_server_message(exc.read())}"
            if exc.code in RETRY_STATUSES:
                raise _Retryable(message, answered=True) from None
            raise RuntimeFailure(f"the server refused the request ({message})") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise _Retryable(f"{type(reason).__name__}: {reason}") from None
        try:
            answer = json.loads(body)
        except ValueError:
            raise RuntimeFailure(
                f"the server answered with something other than JSON: {body[:200]!r}"
            ) from None
        if not isinstance(answer, dict):
            raise RuntimeFailure(f"the server answered with unexpected JSON: {str(answer)[:200]}")
        return answer

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

    def _complete(self, prompt: Prompt) -> Completion:
        body = self.payload(prompt)
        started = time.perf_counter()
        last = ""
        for attempt in range(self.options.retries + 1):
            if attempt:
                time.sleep(BACKOFF_S * 2 ** (attempt - 1))
            try:
                answer = self._request("POST", "/chat/completions", body, self.options.timeout_s)
                break
            except _Retryable as exc:
                last = str(exc)
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
        return _completion(answer, round((time.perf_counter() - started) * 1000, 3))

    def generate(self, prompts: list[Prompt]) -> list[Completion]:
        if len(prompts) <= 1:
            return [self._complete(p) for p in prompts]
        # Servers batch concurrent requests themselves (continuous batching).
        with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(prompts))) as pool:
            return list(pool.map(self._complete, prompts))

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
            f"the server's answer has no choices[0].message: {str(answer)[:200]}"
        ) from None
    if not isinstance(message, dict):
        raise RuntimeFailure(
            f"the server's choices[0].message is not an object: {str(message)[:200]}"
        )
    content = message.get("content")
    if isinstance(content, list):  # content parts: keep the text ones
        content = "".join(
            p.get("text", "")
            for p in content
            if isinstance(p, dict) and isinstance(p.get("text"), str)
        )
    if content is not None and not isinstance(content, str):
        raise RuntimeFailure(f"the server's message content is not text: {str(content)[:200]}")
    text = content or ""
    # A server started with a tool-call parser returns calls apart from the text; give them back
    # to the dialect in the form it reads.
    calls = message.get("tool_calls") or []
    for call in calls if isinstance(calls, list) else []:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            raise RuntimeFailure(
                f"the server sent a tool call of the wrong shape: {str(call)[:200]}"
            )
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


def _count(value: Any) -> int | None:
    """A token count as the server gave it, if it is one (a string is not recorded)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None
