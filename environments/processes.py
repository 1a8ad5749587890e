"""Stopping the helper programs environments start (Xvfb, xclip, a launched app, a test server)."""

from __future__ import annotations

import subprocess
from typing import Any


def stop_process(process: subprocess.Popen[Any], timeout_s: float = 5.0) -> None:
    """Ask ``process`` to end (SIGTERM); kill it if it has not within ``timeout_s``; reap it."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
