"""One HTTP client for every remote call (agent/runtimes/remote.py), and the one place that says
where credentials may go and how long and how much a server may answer.

Every request goes through :meth:`HttpClient.request`, which holds, for every request alike:

- credentials (the ``Authorization`` header, the endpoint's query) go only to the endpoint's own
  origin, over https or in clear text to this machine (loopback), unless ``allow_insecure``;
- redirects are followed here, not by httpx: within the endpoint's origin with the credentials,
  to another origin only over https or to loopback and without them, at most ``MAX_REDIRECTS``;
- proxies from the environment (``HTTP(S)_PROXY``) carry no credentials unless
  ``use_env_proxy``, and then a plain-http hop goes only to a loopback proxy;
- a request ends by its deadline: the name lookup (:func:`addresses_of`) and every connect, read
  and write are cut to the time left;
- a body is read in chunks up to ``MAX_BODY_BYTES``, uncompressed (``Accept-Encoding:
  identity``); :func:`~vlagent.agent.runtimes.endpoints.parse_json` reads it, bounded.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
import urllib.request
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from vlagent.agent.runtimes.base import ModelUnavailable, RuntimeFailure
from vlagent.agent.runtimes.endpoints import (
    header_value,
    key_may_go_to,
    one_line,
    origin,
    shown,
)
from vlagent.tools.secrets import Secret, redact

MAX_BODY_BYTES = 16 * 1024 * 1024
MAX_REDIRECTS = 5
REDIRECTS = frozenset({301, 302, 303, 307, 308})
_WRITE_CHUNK = 64 * 1024
MAX_WAIT_S = 86_400.0
"""The longest a socket waits at once, whatever --timeout says (inf, 1e308): a socket's own
timeout has a ceiling, past which it raises rather than waits."""


class Unanswered(RuntimeFailure):
    """No answer came (connection refused, reset, the deadline): worth another try.
    ``answered``: the server did answer, with a status worth another try (429, 5xx)."""

    def __init__(self, message: str, answered: bool = False) -> None:
        super().__init__(message)
        self.answered = answered


# -- every socket operation cut to the request's deadline ----------------------------------------

_DEADLINE: ContextVar[float | None] = ContextVar("vlagent_http_deadline", default=None)


def _left(timeout: float | None, late: type[Exception]) -> float | None:
    """The time a socket operation may take: httpx's own ``timeout`` bounds one operation only,
    so a server trickling bytes would keep a request alive past any deadline without this."""
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    left = min(deadline - time.monotonic(), MAX_WAIT_S)
    if left <= 0:
        raise late("the request's deadline passed")
    return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        # In pieces: one send of a big buffer waits on a slow reader once per kernel buffer.
        for start in range(0, len(buffer), _WRITE_CHUNK):
            piece = buffer[start : start + _WRITE_CHUNK]
            self._stream.write(piece, _left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        limit = _left(timeout, httpcore.ConnectTimeout)
        return _Stream(self._stream.start_tls(ssl_context, server_hostname, limit))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


def addresses_of(host: str, port: int, within_s: float | None) -> list[str]:
    """The addresses ``host`` names, looked up within ``within_s`` seconds (``TimeoutError``
    after). The system's resolver takes no timeout (a DNS server that does not answer holds it
    for as long as its own retries last), so it runs in a daemon thread, left behind if late."""
    try:
        return [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        pass
    found: list[list[str]] = []
    failed: list[OSError] = []

    def look_up() -> None:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            found.append(list(dict.fromkeys(str(info[4][0]) for info in infos)))
        except (OSError, UnicodeError) as exc:  # no such name; a name IDNA cannot spell
            failed.append(exc if isinstance(exc, OSError) else OSError(str(exc)))

    lookup = threading.Thread(target=look_up, daemon=True, name="vlagent-name-lookup")
    lookup.start()
    lookup.join(within_s)
    if found:
        return found[0]
    if failed:
        raise failed[0]
    raise TimeoutError(f"looking up {host} took longer than {within_s:g} s")


class _Backend(httpcore.NetworkBackend):
    def __init__(self, backend: httpcore.NetworkBackend) -> None:
        self._backend = backend

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = addresses_of(host, port, _left(timeout, httpcore.ConnectTimeout))
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(str(exc)) from None
        except OSError as exc:
            raise httpcore.ConnectError(f"{host}: {exc}") from None
        refused: httpcore.ConnectError | None = None
        for address in addresses:  # as the system orders them, the next when one refuses
            limit = _left(timeout, httpcore.ConnectTimeout)
            try:
                connected = self._backend.connect_tcp(
                    address, port, limit, local_address, socket_options
                )
            except httpcore.ConnectError as exc:
                refused = exc
                continue
            return _Stream(connected)
        raise refused or httpcore.ConnectError(f"{host} has no address")

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        limit = _left(timeout, httpcore.ConnectTimeout)
        return _Stream(self._backend.connect_unix_socket(path, limit, socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def _client(proxy: str | None) -> httpx.Client:
    """A client that follows no redirect, reads no environment (proxies are chosen by
    :meth:`HttpClient._route`) and whose sockets keep to the request's deadline."""
    transport = httpx.HTTPTransport(proxy=proxy, trust_env=True)  # trust_env: SSL_CERT_FILE
    pool = transport._pool
    pool._network_backend = _Backend(pool._network_backend)
    return httpx.Client(transport=transport, follow_redirects=False, trust_env=False)


# -- the client ----------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    body: bytes


class HttpClient:
    """Requests to one endpoint (``base``, a URL from :func:`parse_url`); ``headers`` are its
    credentials, sent only to ``base``'s origin; ``secrets`` are masked in every message."""

    def __init__(
        self,
        base: httpx.URL,
        headers: Mapping[str, str],
        secrets: Iterable[str] = (),
        *,
        allow_insecure: bool = False,
        use_env_proxy: bool = False,
    ) -> None:
        self.origin, self.shown = origin(base), shown(base)
        self._headers = {name: header_value(v, f"the {name} header") for name, v in headers.items()}
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
        # Held while the client lives: each is masked, in every escaped form, wherever text
        # leaves vlagent (tools/secrets.py), as an API key given as a header is.
        self._held = [Secret(s) for s in self._secrets]
        self._carries = bool(self._headers) or bool(base.query)
        self._allow_insecure, self._use_env_proxy = allow_insecure, use_env_proxy
        self._clients: dict[str | None, httpx.Client] = {}
        self._lock = threading.Lock()
        if self._carries and not key_may_go_to(base) and not allow_insecure:
            what = "the API key" if self._headers else "the endpoint's query (it may hold a key)"
            raise ModelUnavailable(
                f"refusing to send {what} in clear text to {self.shown}: use an https endpoint, "
                "or pass --allow-insecure-key if this network is yours"
            )
        try:
            self._client_for(base, self._carries)
        except RuntimeFailure as exc:
            raise ModelUnavailable(str(exc)) from None

    def hide(self, text: str) -> str:
        """``text`` with every secret of this client replaced by ``***`` (a server may echo
        the key it was sent: into an error, or into the answer that is recorded)."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return redact(text)  # and what the server quoted escaped (URL-encoded, in JSON)

    def mask(self, text: str) -> str:
        """``text`` without secrets, as one line: how a server's words go into an error."""
        return one_line(self.hide(text))

    def request(self, method: str, url: httpx.URL, body: bytes | None, deadline: float) -> Answer:
        """``method url`` with ``body`` (JSON), redirects followed by the rules above, the
        answer read by ``deadline`` (``time.monotonic()``). :class:`Unanswered` when no answer
        came, :class:`RuntimeFailure` for an answer vlagent does not take."""
        for _ in range(MAX_REDIRECTS + 1):
            answer, location = self._send(method, url, body, deadline)
            if answer.status not in REDIRECTS:
                return answer
            url = self._redirect_target(url, location)
            if answer.status == 303 or (answer.status in (301, 302) and method == "POST"):
                method, body = "GET", None
        raise RuntimeFailure(
            f"the server at {self.shown} redirected more than {MAX_REDIRECTS} times: "
            "point --endpoint at where it ends"
        )

    def _redirect_target(self, url: httpx.URL, location: str | None) -> httpx.URL:
        refusal = f"the server at {self.shown} redirected to"
        try:
            target = url.join(location) if location else None
        except (httpx.InvalidURL, TypeError, ValueError):
            target = None
        if target is None or target.scheme not in ("http", "https") or not target.host:
            raise RuntimeFailure(f"{refusal} something that is not an http(s) URL; not followed")
        if target.userinfo:
            raise RuntimeFailure(f"{refusal} a URL with a user name or password; not followed")
        if origin(target) != self.origin and not key_may_go_to(target):
            raise RuntimeFailure(
                self.mask(
                    f"{refusal} {shown(target)}, plain http to another machine; not followed: "
                    "point --endpoint at where the server is"
                )
            )
        return target

    def _send(
        self, method: str, url: httpx.URL, body: bytes | None, deadline: float
    ) -> tuple[Answer, str | None]:
        own = origin(url) == self.origin
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Accept-Encoding": "identity",
            **(self._headers if own else {}),
        }
        client = self._client_for(url, carries=own and self._carries)
        token = _DEADLINE.set(deadline)
        try:
            left = min(deadline - time.monotonic(), MAX_WAIT_S)
            if left <= 0:
                raise httpx.TimeoutException("no time left")
            with client.stream(method, url, content=body, headers=headers, timeout=left) as got:
                return Answer(got.status_code, self._read(got, deadline)), got.headers.get(
                    "location"
                )
        except httpx.TimeoutException:
            raise Unanswered("timed out: no whole answer within the request's time") from None
        except (httpx.TransportError, httpx.StreamError) as exc:
            raise Unanswered(self.mask(f"{type(exc).__name__}: {exc}")) from None
        except (httpx.HTTPError, httpx.InvalidURL, UnicodeError) as exc:
            raise RuntimeFailure(
                self.mask(f"the request to {self.shown} failed: {type(exc).__name__}: {exc}")
            ) from None
        finally:
            _DEADLINE.reset(token)

    def _read(self, response: httpx.Response, deadline: float) -> bytes:
        """The body, in chunks, at most ``MAX_BODY_BYTES``, by ``deadline``."""
        too_big = RuntimeFailure(
            f"the server at {self.shown} answered with more than {MAX_BODY_BYTES // 2**20} MiB; "
            "vlagent reads no more than that"
        )
        if response.headers.get("content-encoding", "identity").strip().lower() != "identity":
            raise RuntimeFailure(
                f"the server at {self.shown} answered compressed, though vlagent asked for "
                "Accept-Encoding: identity"
            )
        declared = response.headers.get("content-length", "").strip()
        if declared.isdigit() and (len(declared) > 12 or int(declared) > MAX_BODY_BYTES):
            raise too_big
        chunks, size = [], 0
        for chunk in response.iter_raw():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise too_big
            if time.monotonic() > deadline:
                raise httpx.ReadTimeout("the request's deadline passed")
            chunks.append(chunk)
        return b"".join(chunks)

    def _route(self, url: httpx.URL, carries: bool) -> str | None:
        """The proxy from the environment for ``url``, if one is to be used."""
        if carries and not self._use_env_proxy:
            return None
        proxies = urllib.request.getproxies()
        host = f"[{url.host}]" if ":" in url.host else url.host
        proxy = proxies.get(url.scheme) or proxies.get("all")
        if not proxy or urllib.request.proxy_bypass(host):
            return None
        if carries and url.scheme == "http" and not self._allow_insecure:
            try:
                safe = key_may_go_to(httpx.URL(proxy))
            except (httpx.InvalidURL, ValueError):
                safe = False
            if not safe:
                raise RuntimeFailure(
                    "refusing to send the API key in clear text through the proxy in "
                    f"{url.scheme}_proxy (not on this machine): use an https endpoint, unset "
                    "the proxy, or pass --allow-insecure-key if this network is yours"
                )
        return proxy

    def _client_for(self, url: httpx.URL, carries: bool) -> httpx.Client:
        proxy = self._route(url, carries)
        with self._lock:
            if proxy not in self._clients:
                try:
                    self._clients[proxy] = _client(proxy)
                except (ImportError, ValueError, httpx.InvalidURL) as exc:
                    raise RuntimeFailure(
                        f"the proxy from the environment cannot be used ({type(exc).__name__}): "
                        "fix or unset it"
                    ) from None
            return self._clients[proxy]

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
