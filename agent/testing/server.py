"""A real OpenAI-compatible server on this machine, for tests and benchmarks: ``transformers
serve`` (or a module wrapping it) on a free port of 127.0.0.1, offline, with a private HF home."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

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
    try:
        while True:
            try:
                urllib.request.urlopen(url + "/health", timeout=1).read()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"the server did not start: {(home / 'serve.log').read_text()[-2000:]}"
                    ) from None
                time.sleep(0.3)
        yield url
    finally:
        stop_process(server, timeout_s=30)
        log.close()
