"""Who runs what, for control loops that run at a fixed rate.

The environment belongs to the thread that drives the run (the caller's, or the event loop's):
it is observed, gated and driven there and nowhere else (an EGL context, a serial port and most
robot SDKs are bound to one thread). Only the model call goes to a worker: one daemon thread per
run, one call at a time. A model call cannot be interrupted halfway, so a decision that misses
its deadline goes on in the background. The step that overran returns a decision with no action
(or raises :class:`StepOverrun`) and the loop goes on; the late decision is recorded when it
arrives, as not executed (it answered a view of the world that is gone). Until the model is free
again no new call starts.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

from vlagent.agent.core.steps import Step
from vlagent.agent.runtimes.base import Completion, RuntimeFailure
from vlagent.environments import Observation
from vlagent.prompts import CoordinateFrame, Prompt
from vlagent.tools.errors import VlagentError

Overrun = Literal["skip", "raise"]
Waited = Literal["answered", "overrun", "stopped"]


class StepOverrun(VlagentError, TimeoutError):
    """The model did not decide within the step's deadline (``on_overrun="raise"``)."""


@dataclass
class Answer:
    """What the worker brings back: the completion, or the runtime's failure, and its time."""

    completion: Completion | None
    failure: str | None
    ms: float


@dataclass
class Thinking:
    """A step whose prompt is with the model: everything the owning thread needs to finish it
    when the answer comes (or to record it unexecuted when it never will)."""

    step: Step
    prompt: Prompt
    frames: dict[str, CoordinateFrame]
    observation: Observation
    answer: Future[Answer]
    since: float = field(default_factory=time.monotonic)
    late_since: float | None = None
    """When the step's deadline passed without an answer (None: not late)."""


class ModelWorker:
    """The one thread a run's model calls are made on, in order, one at a time. A daemon thread:
    a model that hangs never keeps the program from exiting."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], object], Future[Answer] | None] | None] = (
            queue.SimpleQueue()
        )
        self._thread: threading.Thread | None = None
        self.busy: Future[Answer] | None = None
        """The call in progress or queued last (done when the model is free)."""

    def submit(self, call: Callable[[], Completion]) -> Future[Answer]:
        def timed() -> Answer:
            started = time.perf_counter()
            try:
                completion, failure = call(), None
            except RuntimeFailure as exc:
                completion, failure = None, str(exc)
            return Answer(completion, failure, round((time.perf_counter() - started) * 1000, 3))

        future: Future[Answer] = Future()
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="vlagent-model", daemon=True)
            self._thread.start()
        self._jobs.put((timed, future))
        self.busy = future
        return future

    def drop(self, garbage: object) -> None:
        """Let go of ``garbage`` on the worker thread: freeing the last observation's frames
        (0.2 ms per 1280×800 image) happens beside the model call, not in the control loop."""
        if self._thread is not None:
            self._jobs.put((lambda: garbage, None))

    def free(self) -> bool:
        return self.busy is None or self.busy.done()

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            call, future = job
            if future is None:  # something to let go of, here rather than on the owning thread
                continue
            if not future.set_running_or_notify_cancel():
                continue
            try:
                answer = call()
                assert isinstance(answer, Answer)
                future.set_result(answer)
            except BaseException as exc:  # a bug in the runtime: surfaces on the owning thread
                future.set_exception(exc)

    def close(self) -> None:
        """Let the thread end once the call in progress (if any) returns; never waits for it."""
        if self._thread is not None:
            self._jobs.put(None)
            self._thread = None


class StopSignal:
    """``stop()`` from any thread, seen by a wait on the owning thread as soon as it is set."""

    def __init__(self) -> None:
        self.reason = "stopped by the caller"
        self._set = False
        self._lock = threading.Lock()
        self._watchers: set[Callable[[], None]] = set()

    def set(self, reason: str) -> None:
        with self._lock:
            if self._set:
                return
            self._set, self.reason = True, reason
            watchers = list(self._watchers)
        for wake in watchers:
            wake()

    def is_set(self) -> bool:
        return self._set

    def wait_for(self, future: Future[Answer], timeout: float | None) -> Waited:
        """Wait for ``future`` at most ``timeout`` seconds, or until a stop."""
        woken = threading.Event()
        with self._watching(woken.set):
            future.add_done_callback(lambda _: woken.set())
            if not self._set:
                woken.wait(timeout)
        return _outcome(future, self._set)

    async def await_for(self, future: Future[Answer], timeout: float | None) -> Waited:
        """:meth:`wait_for` without blocking the event loop (cancelling it leaves ``future``
        running: a model call cannot be taken back)."""
        loop = asyncio.get_running_loop()
        woken: asyncio.Future[None] = loop.create_future()

        def settle() -> None:
            if not woken.done():
                woken.set_result(None)

        def wake() -> None:
            try:
                loop.call_soon_threadsafe(settle)
            except RuntimeError:  # the loop has closed: nobody waits any more
                pass

        with self._watching(wake):
            future.add_done_callback(lambda _: wake())
            if not self._set:
                await asyncio.wait({woken}, timeout=timeout)
        return _outcome(future, self._set)

    @contextmanager
    def _watching(self, wake: Callable[[], None]) -> Iterator[None]:
        with self._lock:
            self._watchers.add(wake)
        try:
            yield
        finally:
            with self._lock:
                self._watchers.discard(wake)


def _outcome(future: Future[Answer], stopped: bool) -> Waited:
    if future.done():
        return "answered"
    return "stopped" if stopped else "overrun"


def left(budget: float | None) -> float | None:
    """Seconds left until ``budget`` (a ``time.monotonic()`` instant), never below 0."""
    return None if budget is None else max(budget - time.monotonic(), 0.0)


def overrun_error(deadline_s: float, still: bool) -> StepOverrun:
    what = "an earlier decision is still being made" if still else "the model is still deciding"
    return StepOverrun(f"no decision within the {deadline_s:g} s deadline: {what}")
