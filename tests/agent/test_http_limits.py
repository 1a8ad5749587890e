"""A request to a server ends by its deadline however the server trickles, reads at most
16 MiB, and nothing a server sends (any status, headers, body, nesting or number) ends in a crash:
each ends in one line with the remote runtime's exit code (agent/runtimes/http.py)."""

from __future__ import annotations

import json
import math
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.agent.test_http_safety import CHAT, SLOW, client, post, prompt, run_cli
from vlagent.agent.runtimes.base import ModelUnavailable, RuntimeFailure, RuntimeOptions
from vlagent.agent.runtimes.endpoints import MAX_JSON_DEPTH, MAX_NUMBER_CHARS, parse_json
from vlagent.agent.runtimes.http import MAX_BODY_BYTES, Unanswered
from vlagent.agent.runtimes.remote import OpenAIRuntime
from vlagent.agent.testing.server import Reply, Seen, raw, recording

# -- deadlines --------------------------------------------------------------------------------


def trickle(mode: str, gap: float) -> Any:
    """A reply that never ends within a second: bytes ``gap`` seconds apart."""

    def reply(head: bytes, conn: socket.socket, stop: threading.Event) -> None:
        if b"/models" in head:
            conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            return
        start = {
            "body": b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n",
            "chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            "head": b"HTTP/1.1 200 OK\r\n",
            "silent": b"",
        }[mode]
        conn.sendall(start)
        piece = {"body": b" ", "chunked": b"1\r\n \r\n", "head": b"X-A: b\r\n"}.get(mode)
        for _ in range(int(5 / gap)):  # then it hangs up: a client that waits fails, not hangs
            if stop.wait(gap):
                return
            if piece:
                conn.sendall(piece)

    return reply


@SLOW
@given(
    mode=st.sampled_from(["body", "chunked", "head", "silent"]),
    gap=st.floats(0.02, 0.4),
    deadline_s=st.floats(0.5, 1.0),
)
def test_a_request_ends_by_its_deadline_however_the_server_trickles(
    mode: str, gap: float, deadline_s: float
) -> None:
    with raw(trickle(mode, gap)) as url:
        http = client(url)
        started = time.monotonic()
        with pytest.raises(Unanswered, match="timed out"):
            post(http, url + "/v1/chat/completions", deadline_s)
        # The trickle goes on for 5 s; a second's slack is for a busy machine, not the client.
        assert time.monotonic() - started < deadline_s + 1.0


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_name_lookup_that_never_answers_ends_by_the_deadline(
    monkeypatch: pytest.MonkeyPatch, scheme: str
) -> None:
    """A DNS server that does not answer holds the system's resolver for as long as its own
    retries last (it takes no timeout): the request still ends by its deadline."""
    released = threading.Event()
    system_lookup = socket.getaddrinfo

    def unanswered(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "model.invalid":
            released.wait(30)
        return system_lookup(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", unanswered)
    url = f"{scheme}://model.invalid:8000"
    try:
        http = client(url, key=None)
        started = time.monotonic()
        with pytest.raises(Unanswered, match="timed out"):
            post(http, url + "/v1/chat/completions", 0.5)
        assert time.monotonic() - started < 2.0  # the lookup would hold it for 30 s
    finally:
        released.set()


def test_a_name_with_several_addresses_is_reached_at_the_one_that_answers() -> None:
    """``localhost`` may name ::1 first; the server listens on 127.0.0.1 only."""

    def reply(head: bytes, conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(CHAT), CHAT))

    with raw(reply) as url:
        named = url.replace("127.0.0.1", "localhost")
        assert post(client(named), named + "/v1/chat/completions") == 200


def test_a_server_that_reads_nothing_cannot_hold_the_upload() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:  # never accepts nor reads
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        http = client(url)
        started = time.monotonic()
        with pytest.raises(Unanswered):
            http.request("POST", httpx.URL(url), b"x" * MAX_BODY_BYTES, time.monotonic() + 1)
        assert time.monotonic() - started < 2.5  # the server would hold it for ever


def test_a_trickling_server_does_not_outlive_the_time_limit(tmp_path: Path) -> None:
    with raw(trickle("body", 0.2)) as url:
        started = time.monotonic()
        code = run_cli(url, tmp_path / "r", "--time-limit", "1", "--timeout", "30")
        assert time.monotonic() - started < 4
    assert code == 1
    last = json.loads((tmp_path / "r" / "trajectory.jsonl").read_text().splitlines()[-1])
    assert last["status"] == "time_limit" and "time limit ran out" in last["reason"]


# -- nothing a server sends is a crash --------------------------------------------------------

DEEP = st.integers(MAX_BODY_BYTES // 2**20 + 50, 100_000).map(lambda n: b"[" * n + b"]" * n)
BODIES = st.one_of(
    st.just(CHAT),
    DEEP,
    st.integers(65, 6000).map(lambda n: b'{"choices": ' + b"7" * n + b"}"),
    st.sampled_from([b"NaN", b"[Infinity]", b'{"a": 1e999}', b'{"a": -1e400}', b"\xff\xfe"]),
    st.integers(65, 300).map(lambda n: b'{"choices": [{"message": {"content": ' * n),
    st.binary(max_size=64),
)
HEADERS = st.dictionaries(
    st.sampled_from(["Content-Encoding", "Location", "Content-Length", "Transfer-Encoding"]),
    st.sampled_from(["gzip", "identity", "chunked", "0", "99999999999999999", "ftp://x", "/a"]),
    max_size=3,
)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    status=st.sampled_from([100, 101, 204, 304]) | st.integers(200, 599),
    headers=HEADERS,
    body=BODIES,
)
def test_whatever_a_server_answers_ends_in_one_line_not_a_crash(
    status: int, headers: dict[str, str], body: bytes
) -> None:
    response = f"HTTP/1.1 {status} X\r\n".encode() + b"".join(
        f"{k}: {v}\r\n".encode() for k, v in {"Content-Length": str(len(body)), **headers}.items()
    )

    def reply(head: bytes, conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(response + b"\r\n" + body)

    with raw(reply) as url:
        started = time.monotonic()
        try:
            runtime = OpenAIRuntime(url, "m", RuntimeOptions(timeout_s=1, retries=0))
            runtime.generate([prompt()])
        except (ModelUnavailable, RuntimeFailure) as exc:
            assert "\n" not in str(exc) and len(str(exc)) < 1000
        assert time.monotonic() - started < 3.5  # two requests of at most 1 s each


@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000 + b"]" * 100_000, b'{"choices": ' + b"9" * 5000 + b"}"],
    ids=["100000-deep-array", "5000-digit-int"],
)
def test_a_deep_array_or_a_long_number_is_a_model_error(body: bytes, tmp_path: Path) -> None:
    def answer(seen: Seen) -> Reply:
        return (404, {}, b"") if seen.method == "GET" else (200, {}, body)

    with recording(answer) as (url, _):
        assert run_cli(url, tmp_path / "r") == 4
    last = json.loads((tmp_path / "r" / "trajectory.jsonl").read_text().splitlines()[-1])
    assert last["status"] == "error" and "other than JSON" in last["reason"]


def test_an_answer_over_the_size_limit_is_refused_while_it_streams() -> None:
    def reply(head: bytes, conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        piece = b"%x\r\n" % 2**20 + b" " * 2**20 + b"\r\n"
        for _ in range(MAX_BODY_BYTES // 2**20 + 2):
            conn.sendall(piece)

    with raw(reply) as url:
        with pytest.raises(RuntimeFailure, match="more than 16 MiB"):
            post(client(url), url + "/v1/chat/completions")


@pytest.mark.parametrize("timeout", ["inf", "1e308"])
def test_a_boundless_timeout_is_not_a_crash(timeout: str, tmp_path: Path) -> None:
    with recording(lambda seen: (200, {}, CHAT)) as (url, _):
        assert run_cli(url, tmp_path / "r", "--timeout", timeout) in (1, 4)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=20,
)


def nested(value: Any, depth: int) -> Any:
    for _ in range(depth):
        value = [value]
    return value


@settings(max_examples=200, deadline=None)
@given(value=JSON, depth=st.integers(0, 80), digits=st.integers(1, 5000))
def test_the_server_s_json_is_read_within_limits_or_refused_in_one_line(
    value: Any, depth: int, digits: int
) -> None:
    number = b"7" * digits  # written out: Python itself reads no more than 4300 digits
    text = b"[" * depth + b"[" + json.dumps(value).encode() + b", " + number + b"]" + b"]" * depth
    try:
        assert parse_json(text) == nested([value, int(number)], depth)
    except ValueError as exc:
        assert "\n" not in str(exc)
        assert (
            depth + 1 + _depth(value) > MAX_JSON_DEPTH
            or digits > MAX_NUMBER_CHARS
            or any(len(str(abs(n))) > MAX_NUMBER_CHARS for n in _ints(value))
            or any(not math.isfinite(x) or len(repr(x)) > MAX_NUMBER_CHARS for x in _floats(value))
        )
    else:
        assert depth + 1 + _depth(value) <= MAX_JSON_DEPTH and digits <= MAX_NUMBER_CHARS


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_bytes_are_json_or_a_one_line_refusal(body: bytes) -> None:
    try:
        parse_json(body)
    except ValueError as exc:
        assert "\n" not in str(exc)


def _leaves(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for child in value.values():
            yield from _leaves(child)
    elif isinstance(value, list):
        for child in value:
            yield from _leaves(child)
    else:
        yield value


def _ints(value: Any) -> list[int]:
    return [x for x in _leaves(value) if isinstance(x, int) and not isinstance(x, bool)]


def _floats(value: Any) -> list[float]:
    return [x for x in _leaves(value) if isinstance(x, float)]


def _depth(value: Any) -> int:
    children = value.values() if isinstance(value, dict) else value
    if not isinstance(value, (dict, list)):
        return 0
    return 1 + max((_depth(child) for child in children), default=0)
