"""The ADB device transport, as a device speaks it (docs/environments.md).

Every message is a 24-byte little-endian header — command, arg0, arg1, data length, data
checksum, command ^ 0xffffffff — then the data. Version 0x01000001 and later skip checksums.
Shell v2 wraps a command's output in packets: one id byte, a 4-byte length, the bytes.
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass

from vlagent.tools.errors import VlagentError

CNXN = 0x4E584E43
OPEN = 0x4E45504F
OKAY = 0x59414B4F
WRTE = 0x45545257
CLSE = 0x45534C43
AUTH = 0x48545541
NAMES = {CNXN: "CNXN", OPEN: "OPEN", OKAY: "OKAY", WRTE: "WRTE", CLSE: "CLSE", AUTH: "AUTH"}

VERSION = 0x01000001
MAX_PAYLOAD = 1024 * 1024  # what adbd offers since Android 9
HEADER = struct.Struct("<6I")

# Shell v2 packet ids.
STDIN, STDOUT, STDERR, EXIT, CLOSE_STDIN, WINDOW_SIZE = range(6)


class AdbProtocolError(VlagentError):
    """The peer sent something that is not an ADB message."""


@dataclass(frozen=True)
class Message:
    command: int
    arg0: int
    arg1: int
    data: bytes | memoryview = b""  # a memoryview: a slice of a large answer, not copied

    def header(self) -> bytes:
        # Our CNXN says VERSION, which skips checksums: the field is 0, as adbd sends it.
        return HEADER.pack(
            self.command, self.arg0, self.arg1, len(self.data), 0, self.command ^ 0xFFFFFFFF
        )

    def __repr__(self) -> str:
        return f"{NAMES.get(self.command, hex(self.command))}({self.arg0}, {self.arg1}, {bytes(self.data[:40])!r})"  # noqa: E501


async def read_message(reader: asyncio.StreamReader) -> Message:
    header = await reader.readexactly(HEADER.size)
    command, arg0, arg1, length, _checksum, magic = HEADER.unpack(header)
    if magic != command ^ 0xFFFFFFFF:
        raise AdbProtocolError(f"bad magic in header {header.hex()}")
    if length > 16 * 1024 * 1024:
        raise AdbProtocolError(f"message of {length} bytes is too long")
    data = await reader.readexactly(length) if length else b""
    return Message(command, arg0, arg1, data)


def shell_packet(packet_id: int, data: bytes) -> bytes:
    return struct.pack("<BI", packet_id, len(data)) + data


def split_shell_packets(buffer: bytearray) -> list[tuple[int, bytes]]:
    """Complete shell v2 packets at the front of ``buffer`` (consumed); a partial one stays."""
    packets = []
    while len(buffer) >= 5:
        packet_id, length = struct.unpack("<BI", buffer[:5])
        if len(buffer) < 5 + length:
            break
        packets.append((packet_id, bytes(buffer[5 : 5 + length])))
        del buffer[: 5 + length]
    return packets
