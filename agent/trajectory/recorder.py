"""The trajectory recorder: an observer of the loop that never loses a finished step, and never
makes the control loop wait for the disk.

Everything that touches the disk runs on one background writer thread, fed through a bounded
queue: the control loop hands over a step's images when it has observed them (so they are
encoded while the model thinks) and the step's line when the step has finished, and goes on.
Crash safety comes from ordering on that thread: a step's images are written (temporary file,
rename) before its line is appended with a single ``write``; how often that reaches the platter
is the ``fsync`` policy. Whatever was handed over is on disk when the process exits normally or
by an exception (``close`` drains the queue; so does an ``atexit`` hook for a run never closed);
with ``fsync="step"`` (the default) each finished step is on disk when it is handed over, so even a
kill loses none; with ``fsync=N`` or ``"end"`` a kill loses at most what was still queued. Every
line already written stays readable, with at most a torn last line, which the reader accepts.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import queue
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from PIL import Image
from pydantic import BaseModel

from vlagent.agent.trajectory.files import write_npy, write_png
from vlagent.agent.trajectory.records import End, Header, Step
from vlagent.tools.errors import VlagentError
from vlagent.tools.secrets import redact_data

TRAJECTORY_FILE = "trajectory.jsonl"
SCREENS_DIR = "screens"

Fsync = Literal["step", "end"] | int
"""When the trajectory reaches the disk itself: after each ``step`` (every line and image), every
N steps, or at the ``end`` only. A process that dies loses nothing written either way; a power
loss may lose what was not yet synced."""


MADE_HERE = frozenset(
    {"type", "format", "version", "run_id", "started_at", "ended_at", "status", "screenshot"}
    | {"screen_hash", "image_name", "views", "depth", "versions", "dialect", "index", "steps"}
    | {"tools", "limits", "screen", "totals", "timings_ms"}
)
"""Top-level fields whose strings vlagent makes (kinds, times, file names, hashes, statuses, the
tools' schemas): no secret is in them, and a mask there would break the record (a PIN 0000 in
``screens/000001.png``) and show where the secret matched."""


def _field_names(model: type[BaseModel]) -> set[str]:
    names = set(model.model_fields)
    for field in model.model_fields.values():
        for inner in (field.annotation, *get_args(field.annotation)):
            for kind in (inner, *get_args(inner)):
                if isinstance(kind, type) and issubclass(kind, BaseModel):
                    names |= _field_names(kind)
    return names


FIELD_NAMES = frozenset(_field_names(Header) | _field_names(Step) | _field_names(End))
"""The records' own field names (``max_steps``): kept as they are whatever a secret is."""


def _redacted(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v if k in MADE_HERE else redact_data(v, FIELD_NAMES) for k, v in record.items()}


class RecorderError(VlagentError, RuntimeError):
    """The run directory cannot be used (exists with content, not writable)."""


def _cannot_write(run_dir: Path, exc: OSError) -> str:
    return (
        f"cannot write the trajectory in {run_dir}: {exc.strerror or exc}; the steps before are "
        "kept; free some space or record elsewhere with --out"
    )


@dataclass(frozen=True)
class Keep:
    """What a trajectory keeps of each step beyond its line: the first image (``screens``), the
    further cameras (``views``), depth maps (``depth``) and the prompt's text (``prompt``)."""

    screens: bool = True
    views: bool = True
    depth: bool = True
    prompt: bool = True


@dataclass(frozen=True)
class Captured:
    """The files a step's images will be written to, relative to the run folder."""

    screenshot: str | None
    views: dict[str, str] | None
    depth: dict[str, str] | None


def image_digest(image: Image.Image) -> str:
    """The step line's ``screen_hash``: a digest of the pixels and size."""
    digest = hashlib.blake2b(image.tobytes(), digest_size=16)
    digest.update(repr(image.size).encode())
    return digest.hexdigest()


_LIVE: weakref.WeakSet[Recorder] = weakref.WeakSet()


@atexit.register
def _flush_at_exit() -> None:
    """A run the program never closed (it raised past its loop): what was handed over is
    written before the interpreter goes (no end line: the reader takes the run as killed)."""
    for recorder in list(_LIVE):
        recorder.flush()


Job = Callable[[], None]


class Recorder:
    """Writes ``trajectory.jsonl`` and ``screens/NNNNNN.png`` into ``run_dir`` on a writer thread.

    ``fsync``: see :data:`Fsync` (default: every step). ``keep``: what is written besides the
    lines. ``queue_size``: how many steps may wait for the disk; when the disk falls that far
    behind, handing over the next one waits (the loop slows down rather than lose steps).
    ``writer_s`` and ``written_bytes`` say what the writer spent."""

    def __init__(
        self,
        run_dir: str | Path,
        *,
        fsync: Fsync = "step",
        keep: Keep | None = None,
        queue_size: int = 16,
    ) -> None:
        if not (fsync in ("step", "end") or (isinstance(fsync, int) and fsync >= 1)):
            raise ValueError(f"fsync {fsync!r}: use 'step', 'end' or a number of steps (1 or more)")
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
        self.fsync: Fsync = fsync
        self.keep = keep or Keep()
        # Two jobs a step (its images, its line): the queue holds queue_size steps.
        self._jobs: queue.Queue[Job | None] = queue.Queue(maxsize=2 * max(1, queue_size))
        self._digests: dict[int, str] = {}
        self._error: RecorderError | None = None
        self._unsynced = 0
        self._thread: threading.Thread | None = None
        self.writer_s = 0.0
        self.written_bytes = 0
        self.started = False
        self.closed = False
        _LIVE.add(self)

    @property
    def path(self) -> Path:
        return self.run_dir / TRAJECTORY_FILE

    # -- the control loop's side ---------------------------------------------------------------

    def start(self, header: Header) -> None:
        record = header.model_dump(mode="json")
        self._hand_over(lambda: self._append(record, sync=True))
        self.started = True

    def capture(
        self,
        index: int,
        image: Image.Image | None,
        views: Mapping[str, Image.Image],
        depth: Mapping[str, Any],
        digest_of: str = "",
    ) -> Captured:
        """Hand over step ``index``'s images (``image`` None: an observation of state alone,
        whose ``digest_of`` text stands for the pixels); returns the files they will be."""
        keep = self.keep
        shot = f"{SCREENS_DIR}/{index:06d}.png" if image is not None and keep.screens else None
        view_files = {n: f"{SCREENS_DIR}/{index:06d}-{n}.png" for n in views} if keep.views else {}
        depth_files = (
            {n: f"{SCREENS_DIR}/{index:06d}-{n}.depth.npy" for n in depth} if keep.depth else {}
        )

        def write() -> None:
            self._digests[index] = (
                image_digest(image)
                if image is not None
                else hashlib.blake2b(digest_of.encode(), digest_size=16).hexdigest()
            )
            sync = self.fsync == "step"
            pictures = [(shot, image)] if shot is not None and image is not None else []
            pictures += [(path, views[name]) for name, path in view_files.items()]
            for path, picture in pictures:
                self._count(write_png(self.run_dir, path, picture, sync))
            for name, path in depth_files.items():
                self._count(write_npy(self.run_dir, path, depth[name], sync))

        self._hand_over(write)
        return Captured(shot, view_files or None, depth_files or None)

    def write_step(self, line: Step | Callable[[str], Step], index: int | None = None) -> None:
        """Hand over a finished step's line: a record, or a function that makes it from the
        ``screen_hash`` of step ``index`` (computed on the writer thread from its pixels)."""

        def write() -> None:
            if isinstance(line, Step):
                record = line
            else:
                record = line(self._digests.pop(index if index is not None else -1, "0" * 32))
            if not self.keep.prompt:
                record = record.model_copy(update={"prompt_text": "", "prompt_from": None})
            self._append(record.record(), sync=self._due())

        self._hand_over(write)
        if self.fsync == "step":
            # Durable at hand-over: a step is on disk (synced) when the run's step returns, so
            # even a SIGKILL loses no finished step. fsync=N or "end" trade that for control rate.
            self.flush()
            if self._error is not None:
                raise self._error

    def flush(self) -> None:
        """Wait until everything handed over is written (raises nothing; see ``error``)."""
        if self._thread is not None and self._thread.is_alive():
            self._jobs.join()

    @property
    def error(self) -> RecorderError | None:
        """Why the writer stopped writing, if it did (the steps before are on disk)."""
        return self._error

    def close(self, end: End) -> None:
        """Write what is queued, then the closing line, and release the file. Safe to call
        twice. Raises nothing: a write that failed is in ``error``."""
        if self.closed:
            return
        record = end.model_dump(mode="json")
        if self.started:
            self._hand_over(lambda: self._append(record, sync=True), check=False)
        self.closed = True
        self._jobs.put(None)
        if self._thread is not None:
            self._thread.join()
        _LIVE.discard(self)
        os.close(self._fd)
        if not self.started:
            # The run never began (the first observation failed): leave no empty run behind.
            self.path.unlink(missing_ok=True)
            for folder in (self.run_dir / SCREENS_DIR, self.run_dir):
                try:
                    folder.rmdir()
                except OSError:
                    pass

    def _hand_over(self, job: Job, check: bool = True) -> None:
        if self.closed:
            raise RecorderError(f"the trajectory in {self.run_dir} is closed already")
        if check and self._error is not None:
            raise self._error
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="vlagent-recorder", daemon=True)
            self._thread.start()
        self._jobs.put(job)

    # -- the writer thread ---------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                if job is None:
                    self._sync_now()
                    return
                if self._error is None:  # after a failure nothing more is written
                    started = time.perf_counter()
                    try:
                        job()
                    except OSError as exc:
                        self._error = RecorderError(_cannot_write(self.run_dir, exc))
                    except RecorderError as exc:
                        self._error = exc
                    except Exception as exc:  # a bug: said, never a writer that stops silently
                        self._error = RecorderError(
                            f"internal error while recording in {self.run_dir}: "
                            f"{type(exc).__name__}: {exc}"
                        )
                    self.writer_s += time.perf_counter() - started
            finally:
                self._jobs.task_done()

    def _due(self) -> bool:
        self._unsynced += 1
        return self.fsync == "step" or (
            isinstance(self.fsync, int) and self._unsynced >= self.fsync
        )

    def _sync_now(self) -> None:
        if self._unsynced and self._error is None:
            try:
                os.fsync(self._fd)
            except OSError as exc:
                self._error = RecorderError(_cannot_write(self.run_dir, exc))
        self._unsynced = 0

    def _count(self, path: Path) -> None:
        try:
            self.written_bytes += path.stat().st_size
        except OSError:
            pass

    def _append(self, record: dict[str, Any], sync: bool) -> None:
        # Every line passes here: every string of it is redacted (tools/secrets.py), and the
        # report and exports read these lines.
        record = _redacted(record)
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
            self.written_bytes += len(line)
            if sync:
                os.fsync(self._fd)
                self._unsynced = 0
        except OSError as exc:  # a full disk, a removed drive: the user's situation, said so
            raise RecorderError(_cannot_write(self.run_dir, exc)) from None
