"""A persistent command channel to one device through the adb server.

adbutils opens two connections per command and sleeps 10 ms as it closes each, so every tap costs
about 22 ms whatever the device does. This channel speaks the adb server's host protocol itself:

- short commands (``input tap``, ``wm size``…) go to one long-lived shell session
  (``shell,v2,raw:`` with no command: the device's ``sh`` reading from stdin). Each command is
  followed by ``echo <marker>$?``; the marker line ends its output and carries its exit status.
  Several commands can be written at once and their answers read in order (pipelining).
- bulk output (``screencap``) goes through ``exec:`` on a fresh connection, read to its end into
  one buffer sized from the header (no copies while reading).

A fault (the device or the adb server gone, a timeout) closes the session and raises
:class:`ChannelError`; the next command opens a new one. Retrying is the caller's decision:
only the caller knows whether repeating a command is safe.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import cast

from PIL import Image

from vlagent.tools.errors import VlagentError

DEFAULT_PORT = 5037
STDIN, STDOUT, STDERR, EXIT = 0, 1, 2, 3
_PACKET = struct.Struct("<BI")
QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)  # Linux only


class ChannelError(VlagentError, ConnectionError):
    """The adb server or the device did not answer as the protocol says."""


class AdbServerGone(ChannelError):
    """No adb server listens where the channel looks for it."""


@dataclass(frozen=True)
class ShellResult:
    output: bytes
    status: int
    errors: bytes = b""

    @property
    def text(self) -> str:
        """stdout then stderr, decoded, as a terminal would show them."""
        return (self.output + self.errors).decode("utf-8", "replace")


def server_address() -> tuple[str, int]:
    """Where adb clients find the server: 127.0.0.1 and ``ANDROID_ADB_SERVER_PORT`` or 5037."""
    return "127.0.0.1", int(os.environ.get("ANDROID_ADB_SERVER_PORT") or DEFAULT_PORT)


def wm_size(wm_output: str) -> str:
    """The screen size ``wm size`` reports: the override if set, else the physical size."""
    sizes: dict[str, str] = dict(re.findall(r"(Physical|Override) size: (\d+x\d+)", wm_output))
    return sizes.get("Override") or sizes.get("Physical", "")


class AdbChannel:
    """Commands to device ``serial`` through the adb server at ``host:port``."""

    def __init__(
        self, serial: str, host: str | None = None, port: int | None = None, timeout: float = 30.0
    ) -> None:
        default_host, default_port = server_address()
        self.serial, self.timeout = serial, timeout
        self.host, self.port = host or default_host, port or default_port
        self._session: socket.socket | None = None
        self._pending = bytearray()  # session bytes read past the last answer
        # A marker no command output contains by chance.
        self._marker = f"__vlagent_{secrets.token_hex(6)}_"
        self._end = re.compile(re.escape(self._marker).encode() + rb"(\d+)\n")
        self.sessions_opened = 0

    # -- connections -----------------------------------------------------------------------------

    def open_service(self, service: str) -> socket.socket:
        """A connection to ``service`` on the device (after ``host:transport:SERIAL``)."""
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except OSError as exc:
            raise AdbServerGone(
                f"the adb server at {self.host}:{self.port} cannot be reached "
                f"({exc.strerror or exc}); start it with adb start-server"
            ) from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            for request in (f"host:transport:{self.serial}", service):
                _request(sock, request)
        except BaseException:
            sock.close()
            raise
        return sock

    def close(self) -> None:
        """Close the shell session (safe to call twice; the next command opens another)."""
        session, self._session = self._session, None
        self._pending.clear()
        if session is not None:
            session.close()

    # -- short commands through the session ------------------------------------------------------

    def shell(self, command: str, timeout: float | None = None) -> ShellResult:
        """Run one command in the persistent shell; its output and exit status."""
        return self.shell_many([command], timeout)[0]

    def shell_many(self, commands: list[str], timeout: float | None = None) -> list[ShellResult]:
        """Run ``commands`` in order, written in one go and answered in order (pipelined)."""
        self.send_commands(commands, timeout)
        return self.answers(len(commands))

    def send_commands(self, commands: list[str], timeout: float | None = None) -> None:
        """Write ``commands`` to the shell session and return at once: the device runs them while
        the caller does something else (a screenshot on its own connection); :meth:`answers`
        reads what they printed. A fault closes the session, pending answers with it."""
        if any("\n" in command for command in commands):
            raise ValueError("one command per line: a newline would split a command in two")
        if self._session is None:
            self._session = self.open_service("shell,v2,raw:")
            self.sessions_opened += 1
        script = "".join(f"{command}\necho {self._marker}$?\n" for command in commands).encode()
        with self._faults_close():
            assert self._session is not None
            self._session.settimeout(timeout or self.timeout)
            self._session.sendall(_PACKET.pack(STDIN, len(script)) + script)

    def answers(self, count: int) -> list[ShellResult]:
        """The next ``count`` answers of commands sent with :meth:`send_commands`, in order."""
        with self._faults_close():
            return [self._answer() for _ in range(count)]

    @contextmanager
    def _faults_close(self) -> Iterator[None]:
        try:
            yield
        except ChannelError:
            self.close()
            raise
        except OSError as exc:
            self.close()
            raise ChannelError(f"the shell session to {self.serial} broke ({_why(exc)})") from None

    def _answer(self) -> ShellResult:
        assert self._session is not None
        output, errors = bytearray(), bytearray()
        while True:
            packet_id, data = self._packet()
            if packet_id == STDERR:
                errors += data
            elif packet_id == EXIT:
                # The shell itself ended (a syntax error ends a non-interactive sh).
                self.close()
                return ShellResult(bytes(output), data[0] if data else 255, bytes(errors))
            elif packet_id == STDOUT:
                output += data
                found = self._end.search(output)
                if found is not None:
                    return ShellResult(
                        bytes(output[: found.start()]), int(found.group(1)), bytes(errors)
                    )

    def _packet(self) -> tuple[int, bytes]:
        assert self._session is not None
        header = _read_exactly(self._session, _PACKET.size, self._pending)
        packet_id, length = _PACKET.unpack(header)
        return packet_id, _read_exactly(self._session, length, self._pending)

    # -- bulk output ----------------------------------------------------------------------------

    def exec_out(self, command: str, timeout: float | None = None) -> bytes:
        """The raw stdout of ``command`` (``exec:``, as ``adb exec-out``), read to its end."""
        sock = self.open_service(f"exec:{command}")
        try:
            sock.settimeout(timeout or self.timeout)
            return _read_to_end(sock)
        except ChannelError:
            raise
        except OSError as exc:
            raise ChannelError(
                f"reading {command.split(' ', 1)[0]} from {self.serial} failed ({_why(exc)})"
            ) from None
        finally:
            sock.close()

    def screencap_raw(self, timeout: float | None = None) -> memoryview:
        """``screencap`` without ``-p``: header and RGBA pixels, in one buffer sized from the
        header, so the image can be made from it without another copy."""
        sock = self.open_service("exec:screencap")
        try:
            sock.settimeout(timeout or self.timeout)
            try:
                head = _receive(sock, 12)
            except ChannelError:
                return memoryview(b"")  # no screenshot: the decoder says so
            width, height, _format = struct.unpack("<3I", head)
            if width * height > 64_000_000:  # text (an error message), not a header
                return memoryview(head + _read_to_end(sock))
            # Android 12+ adds a 4-byte colour space to the 12-byte header.
            buffer = bytearray(16 + width * height * 4)
            buffer[:12] = head
            view = memoryview(buffer)
            filled = 12
            while filled < len(buffer):
                got = sock.recv_into(view[filled:])
                if not got:
                    break
                filled += got
            return view[:filled]
        except ChannelError:
            raise
        except OSError as exc:
            raise ChannelError(
                f"reading the screenshot from {self.serial} failed ({_why(exc)})"
            ) from None
        finally:
            sock.close()


def _request(sock: socket.socket, request: str) -> None:
    """Send one host-protocol request (hex length + text) and read OKAY, or raise with FAIL's
    text."""
    payload = request.encode()
    try:
        sock.sendall(b"%04x" % len(payload) + payload)
        status = _receive(sock, 4)
        if status == b"OKAY":
            return
        if status == b"FAIL":
            length = int(_receive(sock, 4), 16)
            reason = _receive(sock, length).decode("utf-8", "replace")
            raise ChannelError(f"adb: {reason}")
    except ChannelError as exc:
        if str(exc).startswith("adb: "):
            raise
        raise ChannelError(
            f"the adb server closed the connection on {request.split(':', 1)[0]} "
            "(the device is going away or refused the service)"
        ) from None
    except OSError as exc:
        raise ChannelError(f"the adb server dropped the connection ({_why(exc)})") from None
    raise ChannelError(f"the adb server answered {status!r} to {request.split(':', 1)[0]}")


def _receive(sock: socket.socket, size: int) -> bytes:
    """Exactly ``size`` bytes, never reading past them (what follows belongs to someone else)."""
    data = bytearray()
    while len(data) < size:
        _quick_ack(sock)
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ChannelError("the connection closed (the device or the adb server went away)")
        data += chunk
    return bytes(data)


def _read_exactly(sock: socket.socket, size: int, pending: bytearray) -> bytes:
    """``size`` bytes: first from ``pending`` (bytes read ahead), then from the socket."""
    while len(pending) < size:
        _quick_ack(sock)
        chunk = sock.recv(max(65536, size - len(pending)))
        if not chunk:
            raise ChannelError("the connection closed (the device or the adb server went away)")
        pending += chunk
    data = bytes(pending[:size])
    del pending[:size]
    return data


def _quick_ack(sock: socket.socket) -> None:
    """Acknowledge what arrives at once. The adb server writes small answers with Nagle's
    algorithm on: its second small write waits for our ACK of the first, which Linux delays by
    up to 40 ms. Linux clears this flag on its own, so it is set before every read."""
    if QUICKACK is not None:
        sock.setsockopt(socket.IPPROTO_TCP, QUICKACK, 1)


def _read_to_end(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def _why(exc: OSError) -> str:
    return (
        "timed out"
        if isinstance(exc, socket.timeout)
        else (exc.strerror or str(exc) or type(exc).__name__)
    )


def decode_raw_screencap(data: bytes | memoryview) -> Image.Image:
    """``screencap`` without ``-p``: width, height, format (and on Android 12+ a colour space),
    then RGBA pixels. Raises ValueError when the bytes do not add up."""
    if len(data) < 12:
        raise ValueError(f"{len(data)} bytes is no screenshot")
    width, height, pixel_format = struct.unpack("<3I", data[:12])
    pixels = width * height * 4
    header = len(data) - pixels
    if pixel_format != 1 or header not in (12, 16) or width == 0 or height == 0:
        raise ValueError(
            f"unexpected raw screenshot: {width}x{height}, format {pixel_format}, {len(data)} bytes"
        )
    # A memoryview is read in place (Pillow takes any buffer; its stubs say bytes).
    pixels_view = cast(bytes, data[header:])
    return Image.frombuffer("RGBA", (width, height), pixels_view, "raw", "RGBA", 0, 1).convert(
        "RGB"
    )
