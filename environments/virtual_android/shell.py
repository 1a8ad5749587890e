"""The shell commands the virtual device answers: what the driver and adbutils send.

The command line is split the way the device's shell would (POSIX quoting, ``;`` and ``&&``
between commands), so a driver that escapes text wrongly sees it mangled here as on a phone.
"""

from __future__ import annotations

import base64
import io
import shlex
import struct
from collections.abc import Callable

from vlagent.environments.virtual_android.phone import ADB_KEYBOARD, APPS, KEYCODES, Phone

Result = tuple[bytes, int]


def split_commands(line: str) -> list[list[str]]:
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    for token in lexer:
        if token in (";", "&&", "&", "||", "|"):
            commands.append([])
        else:
            commands[-1].append(token)
    return [c for c in commands if c]


def run(phone: Phone, line: str) -> Result:
    """Run a command line; the output of every command, the last exit status."""
    try:
        commands = split_commands(line)
    except ValueError as exc:
        return f"/system/bin/sh: syntax error: {exc}\n".encode(), 2
    output, status = b"", 0
    for argv in commands:
        handler = COMMANDS.get(argv[0])
        if handler is None:
            out, status = f"/system/bin/sh: {argv[0]}: inaccessible or not found\n".encode(), 127
        else:
            try:
                out, status = handler(phone, argv[1:])
            except (IndexError, ValueError) as exc:
                out, status = f"{argv[0]}: bad arguments: {exc}\n".encode(), 1
        output += out
    return output, status


def _echo(phone: Phone, args: list[str]) -> Result:
    return (" ".join(args) + "\n").encode(), 0


def _keycode(name: str) -> str:
    name = name.upper().removeprefix("KEYCODE_")
    if name.isdigit():
        return KEYCODES.get(int(name), name)
    return name


def _input(phone: Phone, args: list[str]) -> Result:
    if args and args[0] in ("touchscreen", "keyboard"):
        args = args[1:]
    verb, rest = args[0], args[1:]
    if verb == "tap":
        phone.tap(float(rest[0]), float(rest[1]))
    elif verb == "swipe":
        duration = int(rest[4]) if len(rest) > 4 else 300
        x1, y1, x2, y2 = (float(v) for v in rest[:4])
        phone.swipe(x1, y1, x2, y2, duration)
    elif verb == "text":
        # As on Android: the text arrives as one argument; %s stands for a space.
        phone.type_text(" ".join(rest).replace("%s", " "))
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


def _cat(phone: Phone, args: list[str]) -> Result:
    out = b""
    for path in args:
        if path not in phone.files:
            return out + f"cat: {path}: No such file or directory\n".encode(), 1
        out += phone.files[path]
    return out, 0


def _rm(phone: Phone, args: list[str]) -> Result:
    for path in args:
        if not path.startswith("-"):
            phone.files.pop(path, None)
    return b"", 0


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


COMMANDS: dict[str, Callable[[Phone, list[str]], Result]] = {
    "echo": _echo,
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
    "true": lambda p, a: (b"", 0),
    "false": lambda p, a: (b"", 1),
}
