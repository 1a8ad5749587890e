"""The shell language of the virtual phone: the part of mksh (Android's ``/system/bin/sh``) that
adb clients and the driver use, held to mksh itself by tests/environments/test_virtual_shell.py.

Words: bare, ``'...'`` (literal), ``"..."`` (a backslash escapes only ``\\ " $ `` and the
backquote; ``$?`` expands), ``\\x`` outside quotes; ``$?`` is the last command's status; a
``$`` that starts no expansion is itself. Commands: ``;`` ``&`` ``&&`` ``||`` and pipelines
``|``; ``#`` at a word's start begins a comment. Builtins as mksh has them: ``echo`` (``-n -e
-E`` and backslash escapes), ``true``, ``false``, ``exit``.

What it does not implement (other ``$`` expansions, globs, redirections, subshells, assignments,
compound commands) is refused with a message, never run differently from a phone.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from vlagent.tools.errors import VlagentError

PREFIX = b"/system/bin/sh: "
STATUS = None  # a word part standing for $?
Part = str | None


@dataclass
class Ran:
    """What a command line did: its stdout, its stderr, the last status, and whether the shell
    ends after it (``exit``, or a syntax error, which ends a non-interactive sh)."""

    output: bytes = b""
    errors: bytes = b""
    status: int = 0
    ended: bool = False


Command = Callable[[list[str], bytes], Ran]
"""A program the shell runs: its arguments (the name first) and its stdin → what it did."""


class Incomplete(Exception):
    """The command goes on on the next line: an open quote, a trailing ``\\``, ``&&``, ``||``
    or ``|``."""


class ShellSyntaxError(VlagentError, ValueError):
    """A command line the virtual phone's shell cannot parse (mksh would report a syntax error)."""


class Unsupported(Exception):
    pass


@dataclass(frozen=True)
class Word:
    parts: tuple[Part, ...]
    raw: str  # as written, to tell ``A=1`` (an assignment) from ``'A=1'``

    def expand(self, status: int) -> str:
        return "".join(str(status) if part is STATUS else part for part in self.parts)


OPERATORS = ("&&", "||", ";;", ";", "&", "|", "\n")
RESERVED = {"!", "{", "}", "[[", "]]", "case", "do", "done", "elif", "else", "esac", "fi", "for"}
RESERVED |= {"function", "if", "in", "select", "then", "time", "until", "while"}
_EXPANDS = re.compile(r"\$[A-Za-z0-9_{(#$!*@'\"-]")  # $ starting an expansion (or $'...')
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\[.*\])?\+?=")


def tokens(text: str) -> list[Word | str]:
    """``text`` as words and operators (str); a newline is the operator ``"\\n"``."""
    found: list[Word | str] = []
    parts: list[Part] | None = None  # the word being read
    start = i = 0
    while i < len(text):
        c = text[i]
        op = next((o for o in OPERATORS if text.startswith(o, i)), None)
        if c in " \t" or op is not None or (c == "#" and parts is None):
            if parts is not None:
                found.append(Word(tuple(parts), text[start:i]))
                parts = None
            if c == "#" and op is None:
                i = text.find("\n", i) if "\n" in text[i:] else len(text)
            elif op is not None:
                found.append(op)
                i += len(op)
            else:
                i += 1
            continue
        if text.startswith("\\\n", i):  # backslash-newline joins the lines: nothing is left
            i += 2
            continue
        if parts is None:
            parts, start = [], i
        i = _word_part(text, i, parts)
    if parts is not None:
        found.append(Word(tuple(parts), text[start:]))
    return found


def _word_part(text: str, i: int, parts: list[Part]) -> int:
    """Read the part of a word at ``text[i]`` into ``parts``; where the next one starts."""
    c = text[i]
    if c == "'":
        end = text.find("'", i + 1)
        if end < 0:
            raise Incomplete("no closing quote")
        parts.append(text[i + 1 : end])
        return end + 1
    if c == '"':
        return _double_quoted(text, i + 1, parts)
    if c == "\\":
        if i + 1 == len(text):
            raise Incomplete("a backslash ends the line")
        parts.append(text[i + 1])
        return i + 2
    if c == "$":
        return _dollar(text, i, parts)
    if c in "<>()`*?[{}" or (c == "~" and not parts):
        raise Unsupported(f"{c!r} (redirections, subshells, globs, braces and ~ are not run)")
    parts.append(c)
    return i + 1


def _dollar(text: str, i: int, parts: list[Part]) -> int:
    if text.startswith("$?", i):
        parts.append(STATUS)
        return i + 2
    if _EXPANDS.match(text, i):
        raise Unsupported(f"{text[i : i + 2]!r} (only $? is expanded)")
    parts.append("$")
    return i + 1


def _double_quoted(text: str, i: int, parts: list[Part]) -> int:
    chars: list[str] = []
    while i < len(text):
        c = text[i]
        if c == '"':
            parts.append("".join(chars))
            return i + 1
        if c == "\\" and i + 1 < len(text) and text[i + 1] in '$`"\\\n':
            chars.append(text[i + 1] if text[i + 1] != "\n" else "")
            i += 2
        elif c == "$" and (text.startswith("$?", i) or _EXPANDS.match(text, i)):
            parts.append("".join(chars))
            chars = []
            i = _dollar(text, i, parts)
        elif c == "`":
            raise Unsupported("'`' (command substitution is not run)")
        else:
            chars.append(c)
            i += 1
    raise Incomplete("no closing quote")


Pipeline = list[list[Word]]
AndOr = list[tuple[str, Pipeline]]  # ("", first), ("&&" | "||", next)...


def parse(text: str) -> list[tuple[AndOr, bool]]:
    """The and-or lists of ``text``, each with whether it runs in the background (``&``)."""
    lists: list[tuple[AndOr, bool]] = []
    and_or: AndOr = []
    joiner, command, pipeline = "", list[Word](), Pipeline()
    for token in [*tokens(text), "\n"]:
        if isinstance(token, Word):
            command.append(token)
            continue
        if not command:
            if token == "\n":
                continue  # a blank line, or a newline after && || | (the command goes on)
            raise ShellSyntaxError(f"unexpected '{token}'")
        pipeline.append(command)
        command = []
        if token == "|":
            continue
        and_or.append((joiner, pipeline))
        pipeline, joiner = [], ""
        if token in ("&&", "||"):
            joiner = token
        elif token == ";;":
            raise ShellSyntaxError("unexpected ';;'")
        else:
            lists.append((and_or, token == "&"))
            and_or = []
    if pipeline or joiner:
        raise Incomplete(f"the line ends after '{joiner or '|'}'")
    return lists


def run(text: str, status: int, program: Command) -> Ran:
    """Run the command line ``text`` (:class:`Incomplete` when it goes on on the next line);
    ``status`` is ``$?`` where it starts; ``program`` runs what is not a builtin."""
    try:
        lists = parse(text)
        for and_or, _ in lists:
            for _, pipeline in and_or:
                for command in pipeline:
                    _check_command_word(command[0])
    except ShellSyntaxError as exc:
        return Ran(errors=PREFIX + f"syntax error: {exc}\n".encode(), status=1, ended=True)
    except Unsupported as exc:
        return Ran(errors=PREFIX + f"the virtual phone does not run {exc}\n".encode(), status=2)
    ran = Ran(status=status)
    for and_or, background in lists:
        for joiner, pipeline in and_or:
            if (joiner == "&&" and ran.status != 0) or (joiner == "||" and ran.status == 0):
                continue  # skipped: $? stays what it was
            _pipeline(pipeline, ran, program)
            if ran.ended:
                return ran
        if background:
            ran.status = 0  # a background job's status is not waited for
    return ran


def _check_command_word(word: Word) -> None:
    if word.raw in RESERVED:
        raise Unsupported(f"{word.raw!r} (compound commands are not run)")
    if _ASSIGNMENT.match(word.raw):
        raise Unsupported(f"{word.raw!r} (variable assignments are not run)")


def _pipeline(pipeline: Pipeline, ran: Ran, program: Command) -> None:
    """Each command's stdout is the next one's stdin; the last one's is the output."""
    before, stdin = ran.status, b""
    for index, command in enumerate(pipeline):
        done = _simple([word.expand(before) for word in command], stdin, before, program)
        ran.errors += done.errors
        stdin = done.output
        if index == len(pipeline) - 1:
            ran.output += done.output
            ran.status = done.status
            ran.ended = done.ended and len(pipeline) == 1  # exit in a pipeline ends a subshell


def _simple(argv: list[str], stdin: bytes, status: int, program: Command) -> Ran:
    name = argv[0]
    if name == "echo":
        return Ran(output=echo(argv[1:]))
    if name in ("true", "false"):
        return Ran(status=int(name == "false"))
    if name == "exit":
        if len(argv) > 1 and not re.fullmatch(r"-?\d+", argv[1]):
            return Ran(errors=PREFIX + f"exit: {argv[1]}: bad number\n".encode(), status=1)
        return Ran(status=int(argv[1]) & 0xFF if len(argv) > 1 else status, ended=True)
    return program(argv, stdin)


_ESCAPES = {"a": 7, "b": 8, "e": 27, "E": 27, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92}
# \0 and up to 3 octal digits, \x and up to 2 hex digits (a byte); \u, \U: a character.
_NUMERIC = re.compile(r"\\(?:0(?P<o>[0-7]{0,3})|x(?P<x>[0-9A-Fa-f]{1,2})|u(?P<u>[0-9A-Fa-f]{1,4}))")
_LONG = re.compile(r"\\U(?P<u>[0-9A-Fa-f]{1,8})")


def echo(args: list[str]) -> bytes:
    """mksh's ``echo`` (not in POSIX mode, as Android's sh runs): leading ``-n -e -E`` (and their
    combinations, such as ``-ne``) are options; backslash escapes are read unless ``-E``;
    ``\\c`` leaves out the final newline."""
    newline, escapes = True, True
    while args and re.fullmatch(r"-[neE]+", args[0]):
        for flag in args[0][1:]:
            if flag == "n":
                newline = False
            else:
                escapes = flag == "e"
        args = args[1:]
    text = " ".join(args)
    if not escapes:
        return text.encode() + b"\n" * newline
    out, i = bytearray(), 0
    while i < len(text):
        if text.startswith("\\c", i):
            newline, i = False, i + 2
            continue
        numeric = _NUMERIC.match(text, i) or _LONG.match(text, i)
        if numeric is not None:
            out += _character(numeric)
            i = numeric.end()
        elif text[i] == "\\" and text[i + 1 : i + 2] in _ESCAPES:
            out.append(_ESCAPES[text[i + 1]])
            i += 2
        else:
            out += text[i].encode()
            i += 1
    return bytes(out) + b"\n" * newline


def _character(escape: re.Match[str]) -> bytes:
    """A numeric escape's bytes: octal and ``\\x`` give a byte (octal over 255: its low byte as a
    character, as mksh prints it);
    ``\\u`` and ``\\U`` a character, in UTF-8."""
    found = escape.groupdict()
    if found.get("x") is not None:
        return bytes([int(found["x"], 16)])
    if found.get("o") is not None:
        value = int(found["o"] or "0", 8)
        return bytes([value]) if value < 256 else chr(value & 0xFF).encode()
    # mksh writes one to three bytes of UTF-8: a character past U+FFFD is U+FFFD.
    return chr(min(int(found["u"], 16), 0xFFFD)).encode("utf-8", "surrogatepass")
