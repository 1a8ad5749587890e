"""One run per device: a second run on a phone or display in use fails at once, naming the holder.

The lock is an advisory ``flock`` on a file named after the device's *identity*, not after the
spelling the user typed: ``:0``, ``:0.1``, ``unix:0`` and ``localhost:0`` are one X server (a
screen of it shares its keyboard and pointer), and ``localhost:5555``, ``127.0.0.1:5555`` and
``emulator-5554`` are one phone. The files live in the user's private folder (mode 0700, checked;
see :func:`vlagent.tools.files.private_folder`) and are opened without following links. The
kernel releases a lock when its holder exits in any way (crash and SIGKILL included), so a lock is
never stale; the file only says who holds it.
"""

from __future__ import annotations

import fcntl
import ipaddress
import os
import re
import socket
import time
import weakref

from vlagent.environments.base import EnvironmentUnavailable
from vlagent.tools.files import FileError, open_lock_file, private_folder

LOCKS = "locks"
"""The folder of the lock files, inside the user's private folder."""

_DISPLAY = re.compile(
    r"(?:(?P<protocol>[A-Za-z0-9]+)/)?(?P<host>.*?):(?P<number>[0-9]+)(?:\.[0-9]+)?"
)
_X_SOCKET = re.compile(r"(?:unix:)?/tmp/\.X11-unix/X(?P<number>[0-9]+)(?:\.[0-9]+)?")
_EMULATOR = re.compile(r"emulator-(?P<console>[0-9]+)")
_LEGACY_IPV4 = re.compile(r"[0-9a-fx.]+")
# This machine's names as /etc/hosts spells them on common systems (no name lookup: it may hang).
_LOCAL_NAMES = frozenset(
    {
        "",
        "unix",
        "local",
        "localhost",
        "localhost.localdomain",
        "ip6-localhost",
        "ip6-loopback",
        "localhost6",
        "localhost6.localdomain6",
    }
)


def _host(host: str) -> str:
    """A host as one spelling: an address in its short form (IPv4 for an IPv4-mapped one), any
    spelling of this machine (a loopback address, its name) as ``127.0.0.1``, a name in lower
    case."""
    host = host.strip().strip("[]").lower()
    host = host.rstrip(":.")  # DECnet's "host::N", a name's root dot: the same host
    if host in _LOCAL_NAMES or host == socket.gethostname().lower().rstrip("."):
        return "127.0.0.1"
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(
            host.split("%")[0]
        )
    except ValueError:
        if not _LEGACY_IPV4.fullmatch(host):
            return host
        try:  # the C library also reads "127.1", "0x7f000001", "2130706433" as addresses
            address = ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return host
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback or address.is_unspecified:
        return "127.0.0.1"
    return str(address)


def display_identity(display: str) -> str:
    """The X server ``display`` names, one spelling for all: ``N`` for this machine's display N
    (``:N``, ``:N.S``, ``unix:N``, ``localhost:N``, ``127.0.0.1:N``, this host's name, the
    socket path), ``host:N`` for another machine's. A name that is no display name is its own
    identity (nothing can connect to it)."""
    text = display.strip()
    if "/tmp/" in text.replace("//", "/"):
        # A socket path by any spelling of it: "//tmp/.X11-unix//X1", "unix:/tmp/./.X11-unix/X1".
        before, unix, path = text.rpartition("unix:")
        text = before + unix + re.sub(r"/+", "/", os.path.normpath(path))
    found = _X_SOCKET.fullmatch(text) or _DISPLAY.fullmatch(text)
    if found is None:
        return text
    number = int(found.group("number"))
    host = _host(found.groupdict().get("host") or "")
    return str(number) if host == "127.0.0.1" else f"{host}:{number}"


def serial_identity(serial: str) -> str:
    """The phone ``serial`` names, one spelling for all: a network device as ``address:port``
    (``localhost``, any loopback address and this host's name as ``127.0.0.1``), an emulator
    ``emulator-N`` as the adb port it listens on (``127.0.0.1:N+1``, where ``adb connect`` reaches
    the same emulator), any other serial (USB) as it is."""
    text = serial.strip()
    emulator = _EMULATOR.fullmatch(text)
    if emulator is not None:
        return f"127.0.0.1:{int(emulator.group('console')) + 1}"
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host:
        return text
    return f"{_host(host)}:{int(port)}"


IDENTITIES = {"display": display_identity, "android": serial_identity}
"""How each kind of device is named once; a kind not listed is named as given."""


def lock_name(kind: str, name: str) -> str:
    """The lock file of device ``name`` of ``kind``: its identity, made a safe file name."""
    identity = IDENTITIES.get(kind, str.strip)(name)
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", identity)
    return f"{kind}-{safe}.lock"


class DeviceLock:
    """Held from construction until :meth:`release` (or the process ends)."""

    def __init__(self, kind: str, name: str) -> None:
        self.what = f"{kind} {name}"
        try:
            folder = private_folder(LOCKS)
            self.path = folder / lock_name(kind, name)
            self._fd: int | None = open_lock_file(folder, self.path.name)
        except FileError as exc:
            raise EnvironmentUnavailable(f"cannot lock {self.what}: {exc}") from None
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
