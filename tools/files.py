"""The one file layer: files named by data someone else may have written, files written where
someone else may have planted a link, and the private folder that holds locks.

It lives in ``tools`` (the layer every other part may import) so that recordings, datasets,
reports (``agent``) and device locks (``environments``) go through the same few functions.

Reading. A recording or a dataset names its files relative to its own folder, its *root*. A name
is read only when it is relative with no ``..``, when every folder on the way and the file itself
are reached without a symbolic link (each is opened with ``O_NOFOLLOW`` relative to the folder
before it, so a link swapped in after a check is refused too), and when the file is a regular
file (not a folder, FIFO, device or socket) of at most :data:`MAX_FILE_BYTES`, and not a hard
link to a file of another owner than its folder. The root itself is
the user's choice and may be a link.

Writing. Every file a command writes under a root is written to a fresh temporary file in the same
folder (``O_CREAT|O_EXCL|O_NOFOLLOW``: never an existing file, never through a link) and renamed
over its name, so a link planted at the name is replaced and its target is left untouched; the
folders on the way are made or opened without following links.

Locks. :func:`private_folder` is a folder of the user's own (mode 0700, checked) in the temporary
folder; :func:`open_lock_file` opens a file in it with ``O_NOFOLLOW``.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import stat
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from vlagent.tools.errors import VlagentError

MAX_FILE_BYTES = 512 * 1024 * 1024
"""The largest file read from a recording or dataset (a screenshot, a depth map, a trajectory)."""

_FOLDER = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: a FIFO swapped in after the check is opened at once (and then refused), not waited on.
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_LOCK = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_SCRATCH = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class FileError(VlagentError, OSError):
    """A file that cannot be read or written as asked."""


class UnsafeFile(FileError):
    """Refused: a name that leaves its folder, a link, or a file that is not a regular file."""


class MissingFile(FileError, FileNotFoundError):
    """A file a recording or dataset names that is not there."""


def name_parts(name: object) -> list[str]:
    """The folders and file of ``name``, a path relative to its root; refused (:class:`UnsafeFile`)
    when it is empty, absolute, climbs with ``..`` or holds a NUL."""
    if not isinstance(name, str) or not name or "\0" in name:
        raise UnsafeFile(f"{name!r} is not a file name")
    path = PurePosixPath(name)
    if path.is_absolute():
        raise UnsafeFile(f"{name!r} is an absolute path; files are named inside their folder")
    parts = [part for part in path.parts if part != "."]
    if ".." in parts:
        raise UnsafeFile(f"{name!r} climbs out of its folder with '..'")
    if not parts:
        raise UnsafeFile(f"{name!r} names no file")
    return parts


def _refusal(shown: Path, exc: OSError) -> FileError:
    """The layer's error for an ``OSError`` met on the way to ``shown``."""
    if isinstance(exc, FileError):
        return exc
    if exc.errno == errno.ENOENT:
        return MissingFile(f"{shown} is missing")
    if exc.errno in (errno.ELOOP, errno.EMLINK):
        return UnsafeFile(f"{shown} is a symbolic link, which is not followed here")
    if exc.errno == errno.ENOTDIR:
        return UnsafeFile(f"{shown}: a part of the path is not a folder")
    if exc.errno == errno.EISDIR:
        return UnsafeFile(f"{shown} is a folder, not a file")
    return FileError(f"cannot use {shown}: {exc.strerror or exc}")


@contextlib.contextmanager
def _folder(root: Path, parts: Sequence[str], create: bool = False) -> Iterator[int]:
    """A descriptor of ``root/parts…``, each part opened without following a link (made first
    when ``create``); closed on leaving."""
    shown = Path(root)
    try:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise _refusal(shown, exc) from None
    try:
        for part in parts:
            shown = shown / part
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o755, dir_fd=fd)
            following = os.open(part, _FOLDER, dir_fd=fd)
            os.close(fd)
            fd = following
    except OSError as exc:
        link = exc.errno in (errno.ENOTDIR, errno.ELOOP) and _is_link(fd, shown.name)
        os.close(fd)
        if link:
            raise UnsafeFile(f"{shown} is a symbolic link, which is not followed here") from None
        raise _refusal(shown, exc) from None
    try:
        yield fd
    finally:
        os.close(fd)


def _is_link(folder: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _regular(folder: int, name: str, shown: Path, limit: int) -> os.stat_result:
    """The status of ``name`` in ``folder``, not following a link; refused unless a regular file
    of at most ``limit`` bytes (and, when hard-linked, of the folder's owner)."""
    try:
        status = os.stat(name, dir_fd=folder, follow_symlinks=False)
    except OSError as exc:
        raise _refusal(shown, exc) from None
    if stat.S_ISLNK(status.st_mode):
        raise UnsafeFile(f"{shown} is a symbolic link, which is not followed here")
    if not stat.S_ISREG(status.st_mode):
        raise UnsafeFile(f"{shown} is not a regular file (a folder, FIFO, device or socket)")
    if status.st_size > limit:
        raise UnsafeFile(f"{shown} is larger than {limit:,} bytes")
    if status.st_nlink > 1 and status.st_uid != os.fstat(folder).st_uid:
        # A hard link is a link too: another user's file linked into a folder someone else owns.
        raise UnsafeFile(f"{shown} is a hard link to a file of another owner than its folder")
    return status


def check_inside(root: Path, name: object, limit: int = MAX_FILE_BYTES) -> Path:
    """``root/name`` when it is a regular file inside ``root`` reached without a link; else
    :class:`MissingFile` or :class:`UnsafeFile`. Reading it later must still go through
    :func:`read_inside` (the file may change in between)."""
    *folders, last = name_parts(name)
    with _folder(root, folders) as fd:
        _regular(fd, last, Path(root).joinpath(*folders, last), limit)
    return Path(root).joinpath(*folders, last)


def read_inside(root: Path, name: object, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of ``root/name``, read under the rules of this module (see its docstring)."""
    *folders, last = name_parts(name)
    shown = Path(root).joinpath(*folders, last)
    with _folder(root, folders) as fd:
        status = _regular(fd, last, shown, limit)
        try:
            handle = os.open(last, _READ, dir_fd=fd)
        except OSError as exc:
            raise _refusal(shown, exc) from None
        with os.fdopen(handle, "rb") as source:
            opened = os.fstat(source.fileno())
            if (opened.st_dev, opened.st_ino) != (status.st_dev, status.st_ino):
                raise UnsafeFile(f"{shown} was replaced while it was read")
            try:
                data = source.read(limit + 1)
            except OSError as exc:
                raise _refusal(shown, exc) from None
    if len(data) > limit:
        raise UnsafeFile(f"{shown} is larger than {limit:,} bytes")
    return data


Content = bytes | Callable[[BinaryIO], object]
"""What :func:`write_inside` writes: bytes, or a function that writes to the open file."""


def write_inside(root: Path, name: str, content: Content, sync: bool = False) -> Path:
    """Write ``root/name`` (folders made as needed) through a temporary file and a rename: never
    through a link, never into an existing file. ``sync``: on disk before the rename (crash-safe
    recordings). Returns the path written."""
    *folders, last = name_parts(name)
    shown = Path(root).joinpath(*folders, last)
    with _folder(root, folders, create=True) as fd:
        scratch, handle = _scratch_file(fd, last, shown)
        try:
            with os.fdopen(handle, "wb") as sink:
                if isinstance(content, bytes):
                    sink.write(content)
                else:
                    content(sink)
                sink.flush()
                if sync:
                    os.fsync(sink.fileno())
            os.replace(scratch, last, src_dir_fd=fd, dst_dir_fd=fd)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                os.unlink(scratch, dir_fd=fd)
            if isinstance(exc, OSError):
                raise _refusal(shown, exc) from None
            raise
    return shown


def _scratch_file(folder: int, name: str, shown: Path) -> tuple[str, int]:
    """A new temporary file beside ``name`` in ``folder``: its name and an open descriptor."""
    for _ in range(100):
        scratch = f".{name[:200]}.{secrets.token_hex(6)}.tmp"
        try:
            return scratch, os.open(scratch, _SCRATCH, 0o644, dir_fd=folder)
        except FileExistsError:
            continue
        except OSError as exc:
            raise _refusal(shown, exc) from None
    raise FileError(f"cannot make a temporary file beside {shown}")


def write_file(path: Path, content: Content, sync: bool = False) -> Path:
    """:func:`write_inside` for a path the user named: its folder is theirs to choose (links
    followed), the file itself is written through a temporary file and a rename."""
    path = Path(path)
    return write_inside(path.parent, path.name, content, sync)


class PrivateFolderError(FileError, PermissionError):
    """The user's private folder exists but is not private (another owner, a wider mode, a link)."""


def machine_temp() -> Path:
    """The machine's own temporary folder, whatever ``$TMPDIR`` says: locks must be found by every
    process of this user (X keeps its sockets in /tmp for the same reason)."""
    return Path("/tmp") if os.path.isdir("/tmp") else Path(tempfile.gettempdir())


def private_folder(*names: str) -> Path:
    """``vlagent-<uid>/names…`` in the machine's temporary folder: made with mode 0700, and
    checked (owned by this user, no access for others, not a link); else
    :class:`PrivateFolderError`, one line."""
    uid = os.getuid()
    base = machine_temp() / f"vlagent-{uid}"
    for depth in range(len(names) + 1):
        folder = base.joinpath(*names[:depth])
        with contextlib.suppress(FileExistsError):
            os.mkdir(folder, 0o700)
        try:
            fd = os.open(folder, _FOLDER)
        except OSError as exc:
            why = f"cannot open it ({exc.strerror})"
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                why = "it is a symbolic link" if folder.is_symlink() else "it is not a folder"
            raise PrivateFolderError(_not_private(folder, why)) from None
        try:
            status = os.fstat(fd)
        finally:
            os.close(fd)
        if status.st_uid != uid:
            raise PrivateFolderError(_not_private(folder, f"it belongs to user {status.st_uid}"))
        if status.st_mode & 0o077:
            raise PrivateFolderError(
                _not_private(folder, f"others may use it (mode {stat.S_IMODE(status.st_mode):o})")
            )
    return base.joinpath(*names)


def _not_private(folder: Path, why: str) -> str:
    return (
        f"{folder} is not a private folder of yours: {why}; remove it, or set TMPDIR to a "
        "folder only you can write"
    )


def open_lock_file(folder: Path, name: str) -> int:
    """An open descriptor (read-write, made 0600 if new) of the lock file ``folder/name``,
    never through a link; refused unless it is a regular file."""
    (last,) = name_parts(name)
    shown = folder / last
    try:
        fd = os.open(shown, _LOCK, 0o600)
    except OSError as exc:
        raise _refusal(shown, exc) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UnsafeFile(f"{shown} is not a regular file")
    return fd


def touch_file(folder: Path, name: str) -> None:
    """Make the empty file ``folder/name`` if it is not there, never through a link."""
    os.close(open_lock_file(folder, name))


def json_text(value: object, indent: int | None = None) -> str:
    """``value`` as JSON text that any UTF-8 file takes: characters as they are, but where a lone
    surrogate is in a string (a ``\\ud800`` escape read from a file or a model's answer), the
    whole as ASCII escapes (strict UTF-8 would refuse the write and lose the line)."""
    text = json.dumps(value, ensure_ascii=False, indent=indent)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, indent=indent)
    return text


def utf8(text: str) -> bytes:
    """``text`` as UTF-8 for a page or a log: a lone surrogate (a ``\\ud800`` escape read from a
    file or a model's answer) is written as U+FFFD, never an encoding error that loses the file."""
    return text.encode("utf-8", "replace")


def sound_text(text: str) -> str:
    """``text`` as any UTF-8 file or table takes it (a parquet column): lone surrogates as
    U+FFFD."""
    return utf8(text).decode("utf-8")
