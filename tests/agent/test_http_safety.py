"""Every remote call goes through one client (agent/runtimes/http.py), and the API key reaches
only the endpoint's origin, over https or loopback: whatever the endpoint looks like, wherever the
server redirects, whichever proxy the environment names; header values are checked before
anything is sent. Servers are real, on this machine (vlagent.agent.testing.server); the limits on
time and size are tested in test_http_limits.py."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from vlagent.agent.cli import main
from vlagent.agent.runtimes.base import ModelUnavailable, RuntimeFailure, RuntimeOptions
from vlagent.agent.runtimes.endpoints import key_may_go_to, parse_url
from vlagent.agent.runtimes.http import MAX_REDIRECTS, HttpClient, Unanswered
from vlagent.agent.runtimes.remote import OpenAIRuntime
from vlagent.agent.testing.server import Reply, Seen, recording
from vlagent.prompts import get_dialect
from vlagent.tools import mobile_tools

KEY = "sk-test-Zq9x"
AUTH = f"Bearer {KEY}"
CHAT = json.dumps({"choices": [{"message": {"content": "fine"}}]}).encode()
FAST = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
# Examples of seconds each: a failure is reported as found, not shrunk for minutes.
SLOW = settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)


def lan_ip() -> str:
    """An address of this machine that is not loopback: "another machine" by the key's rule."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))
            address = str(s.getsockname()[0])
        except OSError:
            address = "127.0.0.1"
    if address.startswith("127."):
        pytest.skip("this machine has no address but loopback")
    return address


def ok(seen: Seen) -> Reply:
    return 200, {"Content-Type": "application/json"}, CHAT


def client(url: str, key: str | None = KEY, **options: Any) -> HttpClient:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return HttpClient(parse_url(url), headers, [key or ""], **options)


def post(http: HttpClient, url: str, deadline_s: float = 2.0) -> int:
    return http.request("POST", httpx.URL(url), b"{}", time.monotonic() + deadline_s).status


def run_cli(url: str, out: Path, *extra: str) -> int:
    args = [*"run --env memory --goal g --endpoint".split(), url, "--model", "m"]
    return main([*args, *"--dialect json --max-steps 2 --out".split(), str(out), *extra])


def prompt() -> Any:
    return get_dialect("json").render("g", [], Image.new("RGB", (8, 8)), mobile_tools())


# -- which endpoints may carry a key ----------------------------------------------------------

LOOPBACK = st.sampled_from(["127.0.0.1", "localhost", "LOCALHOST", "[::1]"]) | st.builds(
    "127.{}.{}.{}".format, *[st.integers(0, 255)] * 3
)
ELSEWHERE = st.sampled_from(
    [
        *("10.0.0.1", "192.0.2.2", "example.com", "0.0.0.0", "[::ffff:127.0.0.1]", "127.1"),
        *("localhost.", "[fe80::1]", "2130706433", "127.0.0.1.nip.io", "localhost.example.com"),
    ]
)
ODD = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs"], exclude_characters="/?#@\\:"),
    min_size=1,
    max_size=12,
)
# A password may hold what ends a URL's authority: then it is not user information at all.
PASSWORD = ODD | st.builds("{}{}{}".format, ODD, st.sampled_from("#/?@:\\"), ODD)
PORTS = (None, *range(1, 65536))


@FAST
@given(
    scheme=st.sampled_from(["http", "https", "HTTP", "HttpS", "ftp", "file", "ws", ""]),
    user=st.none() | st.tuples(ODD, PASSWORD),
    loopback=st.booleans(),
    host=st.data(),
    port=st.none() | st.integers(-1, 70000),
    path=st.sampled_from(["", "/", "/v1", "/v1/chat/completions", "/a/../v1?x=1#f"]),
)
def test_a_key_goes_only_over_https_or_to_loopback(
    scheme: str,
    user: tuple[str, str] | None,
    loopback: bool,
    host: st.DataObject,
    port: int | None,
    path: str,
) -> None:
    name = host.draw(LOOPBACK if loopback else ELSEWHERE)
    password = f"PW{user[1]}" if user else ""
    userinfo = f"{user[0]}:{password}@" if user else ""
    text = f"{scheme}://{userinfo}{name}{'' if port is None else f':{port}'}{path}"
    plain = not any(c in password for c in "#/?@:\\")  # user information as written
    https = scheme.lower() == "https"
    try:
        client(text).close()
    except ModelUnavailable as exc:
        message = str(exc)
        assert "\n" not in message and KEY not in message
        assert not password or password not in message
        may_be_refused = user or scheme.lower() not in ("http", "https") or "?" in path
        assert may_be_refused or not (loopback or https) or port not in PORTS, message
    else:
        assert key_may_go_to(parse_url(text))  # what is connected to: as httpx reads it
        assert not plain or (user is None and (loopback or https)), text


def test_userinfo_in_the_endpoint_is_refused_without_printing_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli("http://user:PASSWORD@127.0.0.1/v1", tmp_path / "r") == 3
    out, err = capsys.readouterr()
    assert "PASSWORD" not in out + err and len(err.strip().splitlines()) == 1
    assert "user name or password" in err


# -- header values ----------------------------------------------------------------------------


@FAST
@given(key=st.text(min_size=1, max_size=40))
@example(key=" ")  # whitespace around a value is not part of it, and h11 will not send it
@example(key="k3y \t")
def test_header_values_are_checked_before_anything_is_sent(key: str) -> None:
    with recording(ok) as (url, seen):
        try:
            http = client(url, key)
        except ModelUnavailable as exc:
            assert any(not " " <= c <= "~" for c in key)
            assert "\n" not in str(exc) and (len(key) < 4 or key not in str(exc))
            assert seen == []
            return
        assert post(http, url + "/v1") == 200
        assert [s.authorization for s in seen] == [f"Bearer {key}".strip()]


# -- redirects --------------------------------------------------------------------------------

REFUSED = {"lan", "ftp", "userinfo", "no-location"}


@pytest.fixture(scope="module")
def hops() -> Iterator[dict[str, Any]]:
    """Three servers that redirect by a chain of (status, where) hops: two loopback ones (A is
    the endpoint) and one on this machine's other address (another machine, by the rule)."""
    world: dict[str, Any] = {"chain": []}

    def answer(seen: Seen) -> Reply:
        found = re.search(r"/hop/(\d+)", seen.path)
        index = int(found.group(1)) if found else len(world["chain"])
        if index >= len(world["chain"]):
            return ok(seen)
        status, where = world["chain"][index]
        location = world["targets"][where].format(n=index + 1)
        return status, ({"Location": location} if where != "no-location" else {}), b""

    with contextlib.ExitStack() as stack:
        a, seen_a = stack.enter_context(recording(answer))
        b, seen_b = stack.enter_context(recording(answer))
        lan, seen_lan = stack.enter_context(recording(answer, lan_ip()))
        port = a.rsplit(":", 1)[1]
        world["targets"] = {
            "path": "/hop/{n}",
            "same": a + "/hop/{n}",
            "other-port": b + "/hop/{n}",
            "localhost": f"http://localhost:{port}/hop/{{n}}",
            "scheme-relative": "//" + b.split("//")[1] + "/hop/{n}",
            "https": f"https://127.0.0.1:{port}/hop/{{n}}",
            "lan": lan + "/hop/{n}",
            "ftp": "ftp://127.0.0.1/hop/{n}",
            "userinfo": f"http://u:p@127.0.0.1:{port}/hop/{{n}}",
            "no-location": "",
        }
        world.update(a=a, seen=(seen_a, seen_b, seen_lan))
        yield world


def expected(chain: list[tuple[int, str]]) -> str:
    for index, (_, where) in enumerate(chain):
        if where in REFUSED:  # checked as each redirect comes, the last one too
            return "refused"
        if index >= MAX_REDIRECTS:
            return "too many"
        if where == "https":
            return "unanswered"  # a TLS handshake with a plain-http server
    return "ok"


@FAST
@given(
    chain=st.lists(
        st.tuples(
            st.sampled_from([301, 302, 303, 307, 308]),
            st.sampled_from(["path", "same", "other-port", "localhost", "scheme-relative"])
            | st.sampled_from(["https", *sorted(REFUSED)]),
        ),
        max_size=MAX_REDIRECTS + 2,
    )
)
def test_the_key_follows_no_redirect_off_its_origin(
    hops: dict[str, Any], chain: list[tuple[int, str]]
) -> None:
    hops["chain"] = chain
    for seen in hops["seen"]:
        seen.clear()
    http = client(hops["a"])
    try:
        outcome = "ok" if post(http, hops["a"] + "/hop/0") == 200 else "status"
    except Unanswered:
        outcome = "unanswered"
    except RuntimeFailure as exc:
        outcome = "too many" if "more than" in str(exc) else "refused"
        assert "\n" not in str(exc)
    seen_a, seen_b, seen_lan = hops["seen"]
    endpoint = hops["a"].split("//")[1]
    assert all(s.authorization in (None, AUTH) for s in seen_a)
    assert all(s.host == endpoint for s in seen_a if s.authorization)
    assert [s for s in seen_b if s.authorization] == []
    assert seen_lan == []  # plain http to another machine: never followed, key or not
    assert outcome == expected(chain)


def test_a_307_to_plain_http_on_another_host_is_not_followed(
    hops: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VLAGENT_API_KEY", KEY)
    hops["chain"] = [(307, "lan")]
    for seen in hops["seen"]:
        seen.clear()
    assert run_cli(hops["a"] + "/hop/0", tmp_path / "r") == 4
    assert hops["seen"][2] == []
    last = json.loads((tmp_path / "r" / "trajectory.jsonl").read_text().splitlines()[-1])
    assert "not followed" in last["reason"]


# -- proxies from the environment -------------------------------------------------------------

PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY", "https_proxy")


@contextlib.contextmanager
def environment(**values: str) -> Iterator[None]:
    cleared = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    with mock.patch.dict(os.environ, {**cleared, **values}, clear=True):
        yield


@SLOW
@given(
    variable=st.sampled_from(PROXY_VARIABLES[:4]),
    on_lan=st.booleans(),
    key=st.booleans(),
    use_env_proxy=st.booleans(),
)
def test_a_key_goes_through_a_proxy_only_when_asked_and_never_in_clear_off_this_machine(
    variable: str, on_lan: bool, key: bool, use_env_proxy: bool
) -> None:
    with contextlib.ExitStack() as stack:
        endpoint, at_endpoint = stack.enter_context(recording(ok))
        proxy, at_proxy = stack.enter_context(recording(ok, lan_ip() if on_lan else "127.0.0.1"))
        stack.enter_context(environment(**{variable: proxy}))
        try:
            http = client(endpoint, KEY if key else None, use_env_proxy=use_env_proxy)
            post(http, endpoint + "/v1/chat/completions")
        except (ModelUnavailable, RuntimeFailure) as exc:
            assert key and use_env_proxy and on_lan and "proxy" in str(exc)
    proxied = [s for s in at_proxy if s.authorization]
    assert len(proxied) == (1 if key and use_env_proxy and not on_lan else 0)
    if key and not use_env_proxy:
        assert [s.authorization for s in at_endpoint] == [AUTH]  # straight to the endpoint
    if not key:
        assert len(at_proxy) == 1  # a request without a key still takes the proxy


def test_with_http_proxy_set_the_key_goes_straight_to_the_endpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VLAGENT_API_KEY", KEY)
    with recording(ok) as (endpoint, at_endpoint), recording(ok) as (proxy, at_proxy):
        with environment(http_proxy=proxy):
            run_cli(endpoint, tmp_path / "r")
    assert at_proxy == [] and AUTH in [s.authorization for s in at_endpoint]


QUERY_KEY = "gw/Key+AB~cd"


@pytest.mark.parametrize("status", [200, 400])
def test_a_key_in_the_endpoints_query_is_masked_however_the_server_quotes_it(
    status: int,
) -> None:
    """A gateway that takes its key in the query: the key is a secret like the API key, masked
    raw, URL-encoded and JSON-escaped, in the answer and in the error."""
    from urllib.parse import quote, urlsplit

    def echo(seen: Seen) -> Reply:
        query = urlsplit(seen.path).query
        words = f"{query} | {quote(QUERY_KEY, safe='')} | {json.dumps(QUERY_KEY)}"
        said = {"choices": [{"message": {"content": words}}]}
        return status, {}, json.dumps(said if status == 200 else {"error": said}).encode()

    with recording(echo) as (url, seen):
        endpoint = f"{url}/v1?key={quote(QUERY_KEY, safe='')}"
        runtime = OpenAIRuntime(endpoint, "m", RuntimeOptions(retries=0))
        try:
            said = runtime.generate([prompt()])[0].text
        except RuntimeFailure as exc:
            said = str(exc)
    assert seen and "key=" in seen[0].path  # the gateway got its key
    for form in (QUERY_KEY, quote(QUERY_KEY, safe=""), json.dumps(QUERY_KEY)[1:-1], "Key+AB"):
        assert form not in said, said


@pytest.mark.parametrize("status", [200, 400, 503])
def test_a_key_the_server_echoes_comes_back_masked(status: int) -> None:
    """In the answer (recorded) and in the error (printed), whatever else masks it later."""

    def echo(seen: Seen) -> Reply:
        said = {"choices": [{"message": {"content": f"your key:\n{seen.authorization}"}}]}
        return status, {}, json.dumps(said if status == 200 else {"error": said}).encode()

    with recording(echo) as (url, seen):
        runtime = OpenAIRuntime(url, "m", RuntimeOptions(api_key=KEY, retries=0))
        try:
            said = runtime.generate([prompt()])[0].text
        except RuntimeFailure as exc:
            said = str(exc)
    assert AUTH in [s.authorization for s in seen]
    assert KEY not in said and "Bearer ***" in said
