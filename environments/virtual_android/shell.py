"""The shell commands the virtual device answers: what the driver and adbutils send.

Command lines are read by :mod:`environments.virtual_android.sh`, the part of mksh (Android's
shell) they use, so a driver that quotes wrongly sees its text mangled here as on a phone.
``input text`` types what Android's own does: every ``%s`` a space, and a character its virtual
keyboard has no key for is an error.
"""

from __future__ import annotations

import base64
import io
import struct
from collections.abc import Callable
from dataclasses import dataclass

from vlagent.environments.virtual_android import sh
from vlagent.environments.virtual_android.phone import ADB_KEYBOARD, APPS, KEYCODES, Phone
from vlagent.environments.virtual_android.sh import Ran

Result = tuple[bytes, int]

INPUT_SOURCES = {"keyboard", "dpad", "gamepad", "touchscreen", "mouse", "stylus", "trackball"}
INPUT_SOURCES |= {"touchpad", "touchnavigation", "joystick"}
KEYBOARD = frozenset(map(chr, range(0x20, 0x7F))) | {"\t", "\n"}
"""The characters Android's virtual keyboard map (Virtual.kcm) has keys for."""


class Failed(Exception):
    """A command failed: ``message`` goes to stderr, ``status`` is its exit status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message, self.status = message, status


def split_commands(line: str) -> list[list[str]]:
    """Every command of ``line`` as the arguments the shell passes (``$?`` read as 0), to cost
    it; ValueError when the shell would not run it."""
    try:
        return [
            [word.expand(0) for word in command]
            for and_or, _ in sh.parse(line)
            for _, pipeline in and_or
            for command in pipeline
        ]
    except (sh.Incomplete, sh.ShellSyntaxError, sh.Unsupported) as exc:
        raise ValueError(str(exc)) from None


def run(phone: Phone, line: str, status: int = 0) -> Ran:
    """Run ``line`` as ``sh -c`` would (one that goes on past its end is a syntax error);
    ``status`` is ``$?`` where it starts."""
    try:
        return sh.run(line, status, program(phone))
    except sh.Incomplete as exc:
        return Ran(errors=sh.PREFIX + f"syntax error: {exc}\n".encode(), status=1, ended=True)


@dataclass
class Session:
    """The shell of one ``adb shell`` session, reading lines: ``$?`` carries from line to line,
    and a command that goes on (an open quote, a trailing ``&&``) waits for the next line."""

    phone: Phone
    status: int = 0
    pending: str = ""

    def feed(self, line: str) -> Ran | None:
        """Run ``line``; None while the command goes on."""
        try:
            ran = sh.run(self.pending + line, self.status, program(self.phone))
        except sh.Incomplete:
            self.pending += line + "\n"
            return None
        self.pending, self.status = "", ran.status
        return ran

    def end(self) -> Ran:
        """The input ended: a command still open is a syntax error, as sh says then."""
        ran = Ran(status=self.status)
        if self.pending:
            ran = run(self.phone, self.pending, self.status)
        self.pending, self.status = "", ran.status
        return ran


def program(phone: Phone) -> sh.Command:
    """The phone's programs, for the shell: ``argv`` and stdin → what the program did."""

    def run_program(argv: list[str], stdin: bytes) -> Ran:
        handler = COMMANDS.get(argv[0])
        if handler is None:
            message = f"{argv[0]}: inaccessible or not found\n".encode()
            return Ran(errors=sh.PREFIX + message, status=127)
        if argv[0] == "cat" and len(argv) == 1:
            return Ran(output=stdin)
        try:
            done = handler(phone, argv[1:])
        except Failed as exc:
            return Ran(errors=exc.message.encode(), status=exc.status)
        except (IndexError, ValueError) as exc:
            return Ran(errors=f"{argv[0]}: bad arguments: {exc}\n".encode(), status=1)
        return done if isinstance(done, Ran) else Ran(output=done[0], status=done[1])

    return run_program


def _keycode(name: str) -> str:
    name = name.upper().removeprefix("KEYCODE_")
    if name.isdigit():
        return KEYCODES.get(int(name), name)
    return name


def input_text(text: str) -> str:
    """What Android's ``input text TEXT`` types: each ``%s`` is a space (there is no way to
    write a literal ``%s``); a character without a key fails as ``cmd input`` does."""
    typed = text.replace("%s", " ")
    if not KEYBOARD.issuperset(typed):
        raise Failed(
            "\nException occurred while executing 'text':\njava.lang.NullPointerException: "
            "Attempt to get length of null array\n",
            255,
        )
    return typed


def _input(phone: Phone, args: list[str]) -> Result:
    """``input [SOURCE] [-d DISPLAY] VERB ARGS`` (InputShellCommand.onCommand)."""
    if args and args[0] in INPUT_SOURCES:
        args = args[1:]
    if args[:1] == ["-d"]:
        args = args[2:]
    verb, rest = args[0], args[1:]
    if verb == "tap":
        phone.tap(float(rest[0]), float(rest[1]))
    elif verb == "swipe":
        duration = int(rest[4]) if len(rest) > 4 else 300
        x1, y1, x2, y2 = (float(v) for v in rest[:4])
        phone.swipe(x1, y1, x2, y2, duration)
    elif verb == "text":
        # Only the first argument is read, as on Android; a newline is the Enter key.
        for number, line in enumerate(input_text(rest[0]).split("\n")):
            if number:
                phone.key("ENTER")
            phone.type_text(line)
    elif verb == "keyevent":
        for key in rest:
            if key.startswith("--"):
                continue
            phone.key(_keycode(key))
    else:
        return f"Error: Unknown command: {verb}\n".encode(), 1
    return b"", 0


def _screencap(phone: Phone, args: list[str]) -> Result:
    png = "-p" in args
    path = next((a for a in args if not a.startswith("-")), None)
    image = phone.render()
    if png:
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", compress_level=1)
        data = buffer.getvalue()
    else:
        # width, height, format (1 = RGBA_8888), colour space (Android 12+), then RGBA pixels.
        # (RGBX packs the opaque alpha byte screencap sends, in one pass.)
        data = b"".join(
            (struct.pack("<4I", image.width, image.height, 1, 0), image.tobytes("raw", "RGBX"))
        )
    if path:
        phone.files[path] = data
        return b"", 0
    return data, 0


def _wm(phone: Phone, args: list[str]) -> Result:
    if args[0] == "size":
        return f"Physical size: {phone.width}x{phone.height}\n".encode(), 0
    if args[0] == "density":
        return f"Physical density: {phone.density}\n".encode(), 0
    return b"", 1


def _dumpsys(phone: Phone, args: list[str]) -> Result:
    if args and args[0] not in ("window", "display", "activity"):
        return b"", 0
    top = phone.foreground
    activity = APPS.get(top, ("", ".Launcher"))[1]
    return (
        f"  mCurrentRotation=ROTATION_0\n  mRotation=0\n  mCurrentOrientation=0 orientation=0\n"
        f"  mCurrentFocus=Window{{1a2b3c u0 {top}/{top}{activity}}}\n"
        f"  mFocusedApp=ActivityRecord{{4d5e6f u0 {top}/{activity} t1}}\n"
    ).encode(), 0


def _am(phone: Phone, args: list[str]) -> Result:
    if args[0] == "start":
        component = args[args.index("-n") + 1] if "-n" in args else ""
        package = component.split("/")[0]
        if not phone.start(package):
            return (f"Error: Activity class {{{component}}} does not exist.\n").encode(), 1
        return f"Starting: Intent {{ cmp={component} }}\n".encode(), 0
    if args[0] == "force-stop":
        if args[1] in phone.stack:
            phone.stack.remove(args[1])
        return b"", 0
    if args[0] == "broadcast":
        action = args[args.index("-a") + 1] if "-a" in args else ""
        if action == DEMO:
            return _demo(phone, args)
        message = args[args.index("--es") + 2] if "--es" in args else ""
        if not phone.ime_installed or action not in ("ADB_INPUT_TEXT", "ADB_INPUT_B64"):
            return b"Broadcast completed: result=0\n", 0
        if action == "ADB_INPUT_B64":
            message = base64.b64decode(message).decode("utf-8")
        phone.type_text(message)
        return b"Broadcast completed: result=0\n", 0
    return b"", 1


DEMO = "com.android.systemui.demo"


def _demo(phone: Phone, args: list[str]) -> Result:
    """System UI demo mode: ``-e command enter|exit|clock`` (``-e hhmm 1200``), honoured only
    after ``settings put global sysui_demo_allowed 1``, as on a phone."""
    extras = {args[i + 1]: args[i + 2] for i, word in enumerate(args[:-2]) if word == "-e"}
    command = extras.get("command", "")
    if phone.demo_allowed and command == "clock" and len(extras.get("hhmm", "")) == 4:
        phone.demo_clock = f"{extras['hhmm'][:2]}:{extras['hhmm'][2:]}"
    elif phone.demo_allowed and command == "exit":
        phone.demo_clock = None
    return b"Broadcast completed: result=0\n", 0


def _settings(phone: Phone, args: list[str]) -> Result:
    if args[:3] == ["put", "global", "sysui_demo_allowed"] and len(args) == 4:
        phone.demo_allowed = args[3] == "1"
        return b"", 0
    if args[:3] == ["get", "global", "sysui_demo_allowed"]:
        return (b"1\n" if phone.demo_allowed else b"0\n"), 0
    return f"settings {' '.join(args)}: not known to the virtual phone\n".encode(), 255


def _monkey(phone: Phone, args: list[str]) -> Result:
    package = args[args.index("-p") + 1]
    if not phone.start(package):
        return b"** No activities found to run, monkey aborted.\n", 1
    return b"Events injected: 1\n", 0


def _pm(phone: Phone, args: list[str]) -> Result:
    if args[:2] == ["list", "packages"]:
        return "".join(f"package:{p}\n" for p in phone.packages()).encode(), 0
    return b"", 1


def _ime(phone: Phone, args: list[str]) -> Result:
    if args and args[0] == "list" and phone.ime_installed:
        return f"{ADB_KEYBOARD}/.AdbIME\n".encode(), 0
    return b"", 0


def _uiautomator(phone: Phone, args: list[str]) -> Result:
    if not args or args[0] != "dump":
        return b"", 1
    path = args[1] if len(args) > 1 and not args[1].startswith("-") else "/sdcard/window_dump.xml"
    phone.files[path] = phone.dump().encode("utf-8")
    return f"UI hierchary dumped to: {path}\n".encode(), 0


def _cat(phone: Phone, args: list[str]) -> Ran:
    """toybox cat: each file in turn; a missing one is said on stderr, and the status is 1."""
    done = Ran()
    for path in args:
        if path in phone.files:
            done.output += phone.files[path]
        else:
            done.errors += f"cat: {path}: No such file or directory\n".encode()
            done.status = 1
    return done


def _rm(phone: Phone, args: list[str]) -> Ran:
    """toybox rm: a missing file is said on stderr (status 1) unless ``-f``."""
    done, force = Ran(), any(a.startswith("-") and "f" in a for a in args)
    for path in args:
        if path.startswith("-"):
            continue
        if phone.files.pop(path, None) is None and not force:
            done.errors += f"rm: {path}: No such file or directory\n".encode()
            done.status = 1
    return done


def _getprop(phone: Phone, args: list[str]) -> Result:
    props = {
        "ro.product.model": "vlagent-virtual",
        "ro.build.version.sdk": "34",
        "ro.build.version.release": "14",
        "ro.product.manufacturer": "vlagent",
    }
    if args:
        return (props.get(args[0], "") + "\n").encode(), 0
    return "".join(f"[{k}]: [{v}]\n" for k, v in props.items()).encode(), 0


COMMANDS: dict[str, Callable[[Phone, list[str]], Result | Ran]] = {
    "input": _input,
    "screencap": _screencap,
    "wm": _wm,
    "dumpsys": _dumpsys,
    "am": _am,
    "monkey": _monkey,
    "pm": _pm,
    "ime": _ime,
    "uiautomator": _uiautomator,
    "settings": _settings,
    "cat": _cat,
    "rm": _rm,
    "getprop": _getprop,
}
"""The phone's programs (echo, true, false and exit are the shell's own, in :mod:`sh`)."""
