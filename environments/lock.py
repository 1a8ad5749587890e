"""One run per device: a second run on a phone or display in use fails at once, naming the holder.

The lock is an advisory ``flock`` on a file named after the device in the system's temporary
folder. The kernel releases it when its holder exits in any way (crash and SIGKILL included), so
a lock is never stale; the file only says who holds it.
"""

from __future__ import annotations

import fcntl
import os
import re
import tempfile
import time
import weakref
from pathlib import Path

from vlagent.environments.base import EnvironmentUnavailable

LOCK_DIR = Path(tempfile.gettempdir()) / "vlagent-locks"


class DeviceLock:
    """Held from construction until :meth:`release` (or the process ends)."""

    def __init__(self, kind: str, name: str) -> None:
        LOCK_DIR.mkdir(mode=0o777, exist_ok=True)
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        self.path = LOCK_DIR / f"{kind}-{safe}.lock"
        self.what = f"{kind} {name}"
        self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(self._fd, 200).decode(errors="replace").strip() or "another process"
            os.close(self._fd)
            self._fd = None
            raise EnvironmentUnavailable(
                f"{self.what} is in use by another vlagent run ({holder}); wait for it to end or "
                "stop it: two runs on one device act on each other's screens"
            ) from None
        os.ftruncate(self._fd, 0)
        os.write(self._fd, f"pid {os.getpid()}, since {time.strftime('%H:%M:%S')}".encode())
        # An environment that is dropped without close() frees its device when it is collected.
        self._finalizer = weakref.finalize(self, os.close, self._fd)

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            self._finalizer()  # closes the file once
            self._fd = None
