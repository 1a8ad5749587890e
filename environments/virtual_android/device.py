"""The virtual Android device: a TCP server that the real adb server attaches with
``adb connect 127.0.0.1:PORT``, speaking the ADB device transport (CNXN / OPEN / OKAY / WRTE /
CLSE), shell v2 with exit codes, ``exec:``, and sync for pull and push.

A test and demo target, not an emulator: it shows the small phone of ``phone.py`` and answers the
shell commands of ``shell.py``. It runs in the foreground (``agent virtual-device``) or in a
background thread (``VirtualDevice(...).start()``, for tests).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from vlagent.environments.virtual_android import protocol as p
from vlagent.environments.virtual_android import shell
from vlagent.environments.virtual_android.phone import Phone
from vlagent.environments.virtual_android.profile import PROFILES, CostProfile
from vlagent.environments.virtual_android.sh import Ran
from vlagent.environments.virtual_android.sync import sync

log = logging.getLogger("vlagent.virtual_android")

_T = TypeVar("_T")

FEATURES = "shell_v2,cmd"
OKAY_TIMEOUT_S = 10.0


class _Stream:
    """One open service: ours is ``local``, the host's is ``remote``."""

    def __init__(self, connection: _Connection, local: int, remote: int) -> None:
        self.connection, self.local, self.remote = connection, local, remote
        self.inbox: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.acknowledged = asyncio.Event()
        self.closed = False

    async def write(self, data: bytes) -> None:
        size = self.connection.max_payload
        view = memoryview(data)
        for start in range(0, len(data), size):
            if self.closed:
                return
            self.acknowledged.clear()
            chunk_seconds = self.connection.device.profile.transfer_seconds(
                len(view[start : start + size])
            )
            if chunk_seconds:
                await asyncio.sleep(chunk_seconds)  # the USB cable of the cost profile
            self.connection.send(
                p.Message(p.WRTE, self.local, self.remote, view[start : start + size])
            )
            # One WRTE in flight per stream until the host's OKAY.
            await asyncio.wait_for(self.acknowledged.wait(), OKAY_TIMEOUT_S)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.connection.send(p.Message(p.CLSE, self.local, self.remote))
        self.inbox.put_nowait(None)


class _Connection:
    def __init__(
        self, device: VirtualDevice, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.device, self.reader, self.writer = device, reader, writer
        self.max_payload = p.MAX_PAYLOAD
        self.streams: dict[int, _Stream] = {}
        self.next_id = 1

    def send(self, message: p.Message) -> None:
        if not self.writer.is_closing():
            self.writer.write(message.header())
            if message.data:
                self.writer.write(message.data)

    async def run(self) -> None:
        try:
            while True:
                message = await p.read_message(self.reader)
                await self.handle(message)
        except (asyncio.IncompleteReadError, ConnectionError, p.AdbProtocolError):
            pass
        finally:
            for stream in list(self.streams.values()):
                stream.closed = True
                stream.inbox.put_nowait(None)
            self.writer.close()

    async def handle(self, message: p.Message) -> None:
        if message.command == p.CNXN:
            self.max_payload = min(message.arg1 or p.MAX_PAYLOAD, p.MAX_PAYLOAD)
            banner = (
                f"device::ro.product.name={self.device.name};ro.product.model={self.device.model};"
                f"ro.product.device={self.device.name};features={FEATURES}"
            )
            self.send(p.Message(p.CNXN, p.VERSION, self.max_payload, banner.encode()))
        elif message.command == p.OPEN:
            self.open(message.arg0, bytes(message.data).rstrip(b"\0").decode("utf-8", "replace"))
        elif message.command == p.OKAY:
            stream = self.streams.get(message.arg1)
            if stream is not None:
                stream.acknowledged.set()
        elif message.command == p.WRTE:
            stream = self.streams.get(message.arg1)
            if stream is not None:
                self.send(p.Message(p.OKAY, stream.local, stream.remote))
                stream.inbox.put_nowait(bytes(message.data))
        elif message.command == p.CLSE:
            stream = self.streams.pop(message.arg1, None)
            if stream is not None:
                stream.closed = True
                stream.inbox.put_nowait(None)
        await self.writer.drain()

    def open(self, remote: int, service: str) -> None:
        handler = self.service(service)
        if handler is None:
            self.send(p.Message(p.CLSE, 0, remote))  # refused, as adbd does
            return
        local, self.next_id = self.next_id, self.next_id + 1
        stream = _Stream(self, local, remote)
        self.streams[local] = stream
        self.send(p.Message(p.OKAY, local, remote))
        task = asyncio.get_running_loop().create_task(self.serve(stream, handler))
        self.device.tasks.add(task)
        task.add_done_callback(self.device.tasks.discard)

    async def serve(self, stream: _Stream, handler: Callable[[_Stream], Awaitable[None]]) -> None:
        try:
            await handler(stream)
        except (asyncio.TimeoutError, ConnectionError):
            pass
        except Exception as exc:  # a fault of the phone: this stream ends, the phone goes on
            log.warning("the virtual phone failed a request: %s: %s", type(exc).__name__, exc)
        finally:
            stream.close()
            self.streams.pop(stream.local, None)

    def service(self, name: str) -> Callable[[_Stream], Awaitable[None]] | None:
        kind, _, command = name.partition(":")
        options = kind.split(",")
        phone = self.device.phone
        if options[0] == "shell" and not command and "v2" in options:
            return lambda stream: _interactive_shell(stream, self.device)
        if options[0] == "shell" and command:
            v2 = "v2" in options

            async def run_shell(stream: _Stream) -> None:
                ran = await self.device.run_costed(command)
                if v2:
                    await stream.write(_answer(ran) + _exit(ran.status))
                else:  # without the shell protocol, stderr shares the one stream
                    await stream.write(ran.output + ran.errors)

            return run_shell
        if kind == "exec" and command:

            async def run_exec(stream: _Stream) -> None:
                ran = await self.device.run_costed(command)
                await stream.write(ran.output + ran.errors)

            return run_exec
        if kind == "sync":
            return lambda stream: sync(stream, phone)
        return None


async def _interactive_shell(stream: _Stream, device: VirtualDevice) -> None:
    """``shell,v2,raw:`` with no command: a shell reading command lines from stdin packets, as
    ``sh`` does on a phone (:class:`shell.Session`); ``exit``, a syntax error or the end of its
    input ends it."""
    buffer, text, session = bytearray(), bytearray(), shell.Session(device.phone)
    while True:
        chunk = await stream.inbox.get()
        if chunk is None:
            return
        buffer.extend(chunk)
        for packet_id, data in p.split_shell_packets(buffer):
            if packet_id == p.CLOSE_STDIN:
                ran = device.locked("", session.end)
                await stream.write(_answer(ran) + _exit(ran.status))
                return
            if packet_id != p.STDIN:
                continue
            text.extend(data)
            while b"\n" in text:
                line, _, rest = bytes(text).partition(b"\n")
                text[:] = rest
                command = line.decode("utf-8", "replace")
                await device.cost(command)
                done = device.locked(command, functools.partial(session.feed, command))
                if done is None:
                    continue
                await stream.write(_answer(done))
                if done.ended:
                    await stream.write(_exit(done.status))
                    return


def _exit(status: int) -> bytes:
    return p.shell_packet(p.EXIT, bytes([status & 0xFF]))


def _answer(ran: Ran) -> bytes:
    """What a command printed, as shell protocol packets."""
    out = p.shell_packet(p.STDOUT, ran.output) if ran.output else b""
    return out + (p.shell_packet(p.STDERR, ran.errors) if ran.errors else b"")


class VirtualDevice:
    """A virtual phone listening on ``host:port`` (port 0: any free one, see ``.port``)."""

    def __init__(
        self,
        phone: Phone | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        name: str = "vlagent_virtual",
        model: str = "vlagent-virtual",
        profile: CostProfile = PROFILES["none"],
    ) -> None:
        self.phone = phone or Phone()
        self.profile = profile
        self.host, self.port = host, port
        self.name, self.model = name, model
        self.tasks: set[asyncio.Task[Any]] = set()
        self.commands: list[str] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.StreamWriter] = set()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def serial(self) -> str:
        return f"{self.host}:{self.port}"

    def run(self, command: str) -> tuple[bytes, int]:
        """Run a shell command on the phone (thread-safe: tests read the phone meanwhile): its
        output (stdout then stderr) and exit status."""
        ran = self.execute(command)
        return ran.output + ran.errors, ran.status

    def execute(self, command: str, status: int = 0) -> Ran:
        """Run ``command`` as ``sh -c`` would, ``status`` being ``$?`` where it starts."""
        return self.locked(command, lambda: shell.run(self.phone, command, status))

    def locked(self, command: str, run: Callable[[], _T]) -> _T:
        """``run()`` for ``command`` (recorded in :attr:`commands`) while no other runs."""
        with self._lock:
            if command:
                self.commands.append(command)
            return run()

    async def run_costed(self, command: str) -> Ran:
        """:meth:`execute`, after the time the cost profile says a phone would take."""
        await self.cost(command)
        return self.execute(command)

    async def cost(self, command: str) -> None:
        """Wait as long as the cost profile says a phone takes to run ``command``."""
        seconds = self.profile.command_seconds(command, self.phone.width * self.phone.height)
        if seconds:
            await asyncio.sleep(seconds)

    def state(self) -> dict[str, Any]:
        with self._lock:
            return self.phone.state()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections.add(writer)
        try:
            await _Connection(self, reader, writer).run()
        finally:
            self._connections.discard(writer)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    def serve_forever(self) -> None:
        """Run in the foreground until interrupted."""

        async def main() -> None:
            await self._listen()
            assert self._server is not None
            async with self._server:
                await self._server.serve_forever()

        asyncio.run(main())

    def start(self) -> VirtualDevice:
        """Serve from a background thread; returns once listening."""
        ready = threading.Event()

        def main() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            loop.run_until_complete(self._listen())
            ready.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(
            target=main, name=f"virtual-device-{self.port}", daemon=True
        )
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        """Stop listening and drop every connection (as if the phone were unplugged)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for writer in list(self._connections):
                writer.transport.abort()
            for task in list(self.tasks):
                task.cancel()

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(5)
