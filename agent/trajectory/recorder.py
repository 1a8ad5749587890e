"""The trajectory recorder: an observer of the loop that never loses a finished step.

Crash safety comes from ordering. A step's screenshot is encoded on a background thread while
the model thinks, written to a temporary file, fsynced and renamed; only then is the step's line
appended with a single ``write`` and fsynced. A process killed at any moment leaves every
finished step readable, and at most a torn last line, which the reader accepts.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from PIL import Image

from vlagent.agent.trajectory.files import write_npy, write_png
from vlagent.agent.trajectory.records import End, Header, Step
from vlagent.tools.errors import VlagentError
from vlagent.tools.secrets import redact_data

TRAJECTORY_FILE = "trajectory.jsonl"
SCREENS_DIR = "screens"


class RecorderError(VlagentError, RuntimeError):
    """The run directory cannot be used (exists with content, not writable)."""


def _cannot_write(run_dir: Path, exc: OSError) -> str:
    return (
        f"cannot write the trajectory in {run_dir}: {exc.strerror or exc}; the steps before are "
        "kept; free some space or record elsewhere with --out"
    )


class Recorder:
    """Writes ``trajectory.jsonl`` and ``screens/NNNNNN.png`` into ``run_dir``."""

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        if self.run_dir.exists() and not self.run_dir.is_dir():
            raise RecorderError(
                f"{self.run_dir} is a file, not a directory; pass --out with a new directory"
            )
        if self.run_dir.exists() and any(self.run_dir.iterdir()):
            raise RecorderError(f"{self.run_dir} is not empty; pass --out with a new directory")
        try:
            (self.run_dir / SCREENS_DIR).mkdir(parents=True, exist_ok=True)
            self._fd = os.open(
                self.run_dir / TRAJECTORY_FILE,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_APPEND | os.O_CLOEXEC,
                0o644,
            )
        except OSError as exc:
            raise RecorderError(f"cannot write the trajectory in {self.run_dir}: {exc}") from None
        self._encoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vlagent-png")
        self._pending: dict[int, Future[Path]] = {}
        self._extra: dict[int, list[Future[Path]]] = {}
        self.started = False
        self.closed = False

    @property
    def path(self) -> Path:
        return self.run_dir / TRAJECTORY_FILE

    def _append(self, record: dict[str, Any]) -> None:
        # Every line passes here: every string of it is redacted (tools/secrets.py), and the
        # report and exports read these lines.
        record = redact_data(record)
        # backslashreplace: a lone surrogate in model text is written as its JSON escape, never
        # an encoding error that would lose the step.
        line = (json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n").encode(
            "utf-8", "backslashreplace"
        )
        # One write call: a signal cannot split a line between two Python bytecodes.
        view = memoryview(line)
        try:
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            os.fsync(self._fd)
        except OSError as exc:  # a full disk, a removed drive: the user's situation, said so
            raise RecorderError(_cannot_write(self.run_dir, exc)) from None

    def start(self, header: Header) -> None:
        self._append(header.model_dump(mode="json"))
        self.started = True

    def screenshot(self, index: int, image: Image.Image) -> str:
        """Start encoding step ``index``'s screenshot; returns its path relative to the run."""
        name = f"{SCREENS_DIR}/{index:06d}.png"
        self._pending[index] = self._encoder.submit(write_png, self.run_dir, name, image, True)
        return name

    def view(self, index: int, name: str, image: Image.Image) -> str:
        """Start encoding a further image of step ``index`` (a second camera)."""
        path = f"{SCREENS_DIR}/{index:06d}-{name}.png"
        self._extra.setdefault(index, []).append(
            self._encoder.submit(write_png, self.run_dir, path, image, True)
        )
        return path

    def depth(self, index: int, name: str, depth: Any) -> str:
        """Start writing a depth map of step ``index`` (metres, as float32 ``.npy``)."""
        path = f"{SCREENS_DIR}/{index:06d}-{name}.depth.npy"
        self._extra.setdefault(index, []).append(
            self._encoder.submit(write_npy, self.run_dir, path, depth, True)
        )
        return path

    def write_step(self, step: Step) -> None:
        """Append the step's line once its images are on disk."""
        pending = [self._pending.pop(step.index, None), *self._extra.pop(step.index, [])]
        for job in pending:
            if job is None:
                continue
            try:
                job.result()
            except OSError as exc:
                raise RecorderError(_cannot_write(self.run_dir, exc)) from None
        self._append(step.record())

    def close(self, end: End) -> None:
        """Write the closing line and release the file. Safe to call twice."""
        if self.closed:
            return
        self.closed = True
        self._encoder.shutdown(wait=True)
        try:
            if self.started:
                self._append(end.model_dump(mode="json"))
        except RecorderError:
            pass  # the steps before are on disk; a reader takes the run as killed
        finally:
            os.close(self._fd)
        if not self.started:
            # The run never began (the first observation failed): leave no empty run behind.
            self.path.unlink(missing_ok=True)
            for folder in (self.run_dir / SCREENS_DIR, self.run_dir):
                try:
                    folder.rmdir()
                except OSError:
                    pass
