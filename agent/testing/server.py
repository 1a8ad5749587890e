"""Servers on this machine, for tests and benchmarks: a real OpenAI-compatible one
(``transformers serve``, or a module wrapping it, on a free port of 127.0.0.1, offline, with a
private HF home), and two small ones of the tests' own: :func:`recording` (well-formed HTTP, every
request kept) and :func:`raw` (any bytes at any pace: broken, trickling or endless answers)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from vlagent.agent.runtimes.base import RuntimeFailure
from vlagent.agent.runtimes.endpoints import parse_url
from vlagent.agent.runtimes.http import HttpClient
from vlagent.environments.processes import stop_process

SERVE = "transformers.cli.transformers"
"""The module that runs ``transformers serve`` (``python -m SERVE serve …``)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serving(
    module: str,
    args: list[str],
    home: Path,
    cwd: Path | None = None,
    start_s: float = 120,
    **env: str,
) -> Iterator[str]:
    """``python -m MODULE ARGS… --host 127.0.0.1 --port P --device cpu`` with ``HF_HOME=home`` and
    no network; yields its URL once ``/health`` answers, stops it afterwards. Its output goes to
    ``home/serve.log`` (quoted when it does not start)."""
    port = free_port()
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(home), **env}
    log = (home / "serve.log").open("w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            module,
            *args,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--device",
            "cpu",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=environment,
        cwd=cwd,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + start_s
    client = HttpClient(parse_url(url), {})
    try:
        while True:
            try:
                client.request("GET", httpx.URL(url + "/health"), None, time.monotonic() + 1)
                break
            except RuntimeFailure:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"the server did not start: {(home / 'serve.log').read_text()[-2000:]}"
                    ) from None
                time.sleep(0.3)
        yield url
    finally:
        client.close()
        stop_process(server, timeout_s=30)
        log.close()


@dataclass
class Seen:
    """One request a :func:`recording` server got: the Host header, method, path (the whole URL
    when it came to it as a proxy) and Authorization header."""

    host: str
    method: str
    path: str
    authorization: str | None


Reply = tuple[int, dict[str, str], bytes]


@contextlib.contextmanager
def recording(
    answer: Callable[[Seen], Reply], host: str = "127.0.0.1"
) -> Iterator[tuple[str, list[Seen]]]:
    """An HTTP server on a free port of ``host``: yields its URL and the list of every request it
    got, each answered with ``answer(seen)`` (status, headers, body)."""
    seen: list[Seen] = []

    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            request = Seen(
                self.headers.get("Host", ""),
                self.command,
                self.path,
                self.headers.get("Authorization"),
            )
            seen.append(request)
            status, headers, body = answer(request)
            self.send_response(status)
            for name, value in {"Content-Length": str(len(body)), **headers}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_HEAD = _any

        def log_message(self, *args: object) -> None:
            pass

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    server = type("Server", (ThreadingHTTPServer,), {"address_family": family})((host, 0), Handler)
    # A short poll: shutdown() waits for it, and tests start many of these servers.
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    name = f"[{host}]" if ":" in host else host
    try:
        yield f"http://{name}:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def _read_request(conn: socket.socket) -> bytes:
    """A request's head and its Content-Length body, as bytes."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = conn.recv(65536)
        if not piece:
            return data
        data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        0,
    )
    while len(body) < length:
        piece = conn.recv(65536)
        if not piece:
            break
        body += piece
    return head


@contextlib.contextmanager
def raw(reply: Callable[[bytes, socket.socket, threading.Event], None]) -> Iterator[str]:
    """A TCP server on a free port of 127.0.0.1 that reads each request and lets
    ``reply(head, connection, stop)`` write any bytes at any pace (``stop.wait(s)`` between
    writes ends early when the server stops); yields ``http://127.0.0.1:PORT``."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            while not stop.is_set():
                head = _read_request(conn)
                if not head:
                    return
                reply(head, conn, stop)

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() that waits
        listener.close()
