"""The adb file sync protocol (``sync:``) of the virtual device: ``adb pull`` and ``adb push``
of the phone's files."""

from __future__ import annotations

import asyncio
import struct
from typing import Protocol

from vlagent.environments.virtual_android.phone import Phone

SYNC_CHUNK = 64 * 1024


class Stream(Protocol):
    """An open adb stream of the device: what the host sent, and a way to answer."""

    inbox: asyncio.Queue[bytes | None]

    async def write(self, data: bytes) -> None: ...


class _SyncInput:
    """What the host sent on a sync stream, taken by size whatever its WRTE boundaries were."""

    def __init__(self, stream: Stream) -> None:
        self.stream, self.buffer = stream, bytearray()

    async def take(self, size: int) -> bytes | None:
        """The next ``size`` bytes; None when the stream closed first."""
        while len(self.buffer) < size:
            chunk = await self.stream.inbox.get()
            if chunk is None:
                return None
            self.buffer.extend(chunk)
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    async def take_file(self) -> bytes | None:
        """A pushed file: its DATA chunks up to DONE; None when the stream closed first."""
        content = bytearray()
        while True:
            chunk_header = await self.take(8)
            if chunk_header is None:
                return None
            kind, size = chunk_header[:4], struct.unpack("<I", chunk_header[4:])[0]
            if kind == b"DONE":
                return bytes(content)
            body = await self.take(size)
            if body is None:
                return None
            content.extend(body)


def _sync_fail(message: bytes) -> bytes:
    """A sync FAIL answer carrying ``message``."""
    return b"FAIL" + struct.pack("<I", len(message)) + message


def _sync_file(data: bytes | None) -> bytes:
    """The answer to RECV: the file in DATA chunks, then DONE; FAIL when there is no file."""
    if data is None:
        return _sync_fail(b"No such file or directory")
    out = b"".join(
        b"DATA" + struct.pack("<I", len(data[i : i + SYNC_CHUNK])) + data[i : i + SYNC_CHUNK]
        for i in range(0, len(data), SYNC_CHUNK)
    )
    return out + b"DONE" + struct.pack("<I", 0)


async def sync(stream: Stream, phone: Phone) -> None:
    """The file sync protocol, version 1: STAT, RECV (pull), SEND (push), LIST, QUIT."""
    received = _SyncInput(stream)
    while True:
        header = await received.take(8)
        if header is None:
            return
        request, length = header[:4], struct.unpack("<I", header[4:])[0]
        if request == b"QUIT":
            return
        argument = await received.take(length)
        if argument is None:
            return
        path = argument.decode("utf-8", "replace")
        if request == b"STAT":
            data = phone.files.get(path)
            mode, size = (0o100644, len(data)) if data is not None else (0, 0)
            await stream.write(b"STAT" + struct.pack("<3I", mode, size, 0))
        elif request == b"RECV":
            await stream.write(_sync_file(phone.files.get(path)))
        elif request == b"SEND":
            content = await received.take_file()
            if content is None:
                return
            phone.files[path.rsplit(",", 1)[0]] = content  # the path is "PATH,MODE"
            await stream.write(b"OKAY" + struct.pack("<I", 0))
        elif request == b"LIST":
            await stream.write(b"DONE" + bytes(16))
        else:
            await stream.write(_sync_fail(f"unsupported sync request {request!r}".encode()))
            return
