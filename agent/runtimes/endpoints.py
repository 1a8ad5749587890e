"""What may be sent where, and what a server's words may be: the rules of
agent/runtimes/http.py that need no connection — an endpoint URL, where credentials may travel,
header values, and a server's JSON and text as vlagent takes them."""

from __future__ import annotations

import ipaddress
import json
import math
import re
from typing import Any

import httpx

from vlagent.agent.runtimes.base import ModelUnavailable

MAX_JSON_DEPTH = 64
MAX_NUMBER_CHARS = 64
_HEADER_TEXT = re.compile(r"[\x20-\x7e]*")
_LONG_DIGITS = re.compile(rb"\d{%d}" % (MAX_NUMBER_CHARS + 1))
_CONTAINERS = (dict, list)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


# -- URLs ----------------------------------------------------------------------------------------


def parse_url(text: str, what: str = "--endpoint") -> httpx.URL:
    """``text`` as an http(s) URL with a host and no user information, or a one-line
    :class:`ModelUnavailable` that prints neither a password nor a query."""
    try:
        url = httpx.URL(text.strip())
        valid = url.scheme in ("http", "https") and bool(url.host)
    except (httpx.InvalidURL, TypeError, ValueError):
        valid = False
    if not valid:
        echo = (
            repr(text[:200]) if not re.search(r"[@?#]", text) else "(not shown: it has @, ? or #)"
        )
        raise ModelUnavailable(
            f"{what} {echo} is not an http(s) URL with a host, e.g. http://127.0.0.1:8000/v1"
        )
    if url.userinfo:
        raise ModelUnavailable(
            f"{what} {shown(url)} (as shown) holds a user name or password: remove it, and give "
            "an API key in VLAGENT_API_KEY instead (an endpoint is printed and recorded)"
        )
    return url


def shown(url: httpx.URL | str) -> str:
    """``url`` as it may be printed or recorded: no user, password, query or fragment."""
    if isinstance(url, str):
        try:
            url = httpx.URL(url.strip())
        except (httpx.InvalidURL, TypeError, ValueError):
            return "(an endpoint that is not a URL)"
    netloc = url.netloc.decode("ascii", "replace")
    return one_line(f"{url.scheme}://{netloc}{url.path}", 300)


def origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host, url.port)


def key_may_go_to(url: httpx.URL | str) -> bool:
    """Credentials travel over https, or in clear text only to this machine (loopback)."""
    url = url if isinstance(url, httpx.URL) else httpx.URL(url)
    if url.scheme == "https" or url.host == "localhost":
        return True
    try:
        return ipaddress.ip_address(url.host).is_loopback
    except ValueError:
        return False


def header_value(value: str, what: str) -> str:
    """``value`` if an HTTP header can carry it as it is (printable ASCII: no CR, LF or NUL);
    else a one-line :class:`ModelUnavailable` that does not show it."""
    if not _HEADER_TEXT.fullmatch(value):
        raise ModelUnavailable(
            f"{what} holds a character an HTTP header cannot carry (a line break, a control or a "
            "non-ASCII character): fix it (its value is not shown)"
        )
    # Whitespace around a field value is not part of it (RFC 9110 5.5), and h11 refuses to
    # send it: a key pasted with a space after it is the key.
    return value.strip(" \t")


def one_line(text: str, limit: int = 300) -> str:
    """``text`` (a server's words) as one printable line of at most ``limit`` characters."""
    flat = _CONTROL.sub(" ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# -- JSON ----------------------------------------------------------------------------------------


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_NUMBER_CHARS:
        raise ValueError(f"a number of more than {MAX_NUMBER_CHARS} digits")
    return int(text)


def _float(text: str) -> float:
    value = float(text) if len(text) <= MAX_NUMBER_CHARS else math.inf
    if not math.isfinite(value):
        raise ValueError(f"a number too long or out of range ({one_line(text, 24)})")
    return value


def _constant(name: str) -> Any:
    raise ValueError(f"{name}, which is not JSON")


def parse_json(body: bytes) -> Any:
    """A server's JSON, nested at most ``MAX_JSON_DEPTH`` deep, integers of at most
    ``MAX_NUMBER_CHARS`` digits, finite floats of at most that many characters; anything else a
    ValueError saying what, in one line."""
    # Each integer through a Python hook triples the time of a big body: only when a run of
    # digits that long is there at all (in a string or not) are integers checked one by one.
    hook = _int if _LONG_DIGITS.search(body) else int
    try:
        value = json.loads(body, parse_int=hook, parse_float=_float, parse_constant=_constant)
    except RecursionError:
        raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError as exc:
        raise ValueError(one_line(str(exc), 200)) from None
    # Level by level, containers only: deep enough to be refused at MAX_JSON_DEPTH, and no
    # Python step per leaf beyond one comprehension.
    level, depth = ([value] if type(value) in _CONTAINERS else []), 1
    while level:
        if depth > MAX_JSON_DEPTH:
            raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
        below: list[Any] = []
        for item in level:
            children = item.values() if type(item) is dict else item
            below += [child for child in children if type(child) in _CONTAINERS]
        level, depth = below, depth + 1
    return value
