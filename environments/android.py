"""``android``: a phone (or emulator, or the virtual device) through the adb server.

Commands go through :class:`environments.adb_channel.AdbChannel` (one shell session kept open,
screenshots over ``exec:``); adbutils lists, connects and picks devices.

Typed text reaches the device literally (:func:`environments.android_commands.typing_commands`):
it is quoted for the device's shell (``shlex.quote``), so the shell never interprets quotes,
``;``, ``&``, ``$``, backslashes; and written under ``input text``'s own rule (spaces as ``%s``,
a ``%`` and the ``s`` after it in separate commands). Text ``input text`` cannot type (outside
printable ASCII, tab and newline) goes through ADB Keyboard (its base64 broadcast) when it is
installed; otherwise the action fails and says so.
"""

from __future__ import annotations

import base64
import functools
import logging
import re
import shlex
import time
import xml.etree.ElementTree as ET
from typing import Any, ClassVar

from pydantic import BaseModel

from vlagent.environments.adb_channel import AdbChannel, wm_size
from vlagent.environments.adb_server import ServerLease
from vlagent.environments.android_apps import app_package
from vlagent.environments.android_commands import (
    INPUT_TEXT_CHARACTERS,
    DeviceCommands,
    display_rotation,
    typing_commands,
)
from vlagent.environments.android_commands import shell_text as shell_text  # where it was
from vlagent.environments.base import (
    ActionResult,
    DeviceFacts,
    Environment,
    EnvironmentFault,
    EnvironmentUnavailable,
    Observation,
    release_all,
)
from vlagent.environments.lock import DeviceLock, serial_identity
from vlagent.environments.registry import Option
from vlagent.environments.ui_tree import draw_marks, dump_package, for_model, parse_hierarchy
from vlagent.tools import MobileUse, ToolSet, mobile_tools
from vlagent.tools.keys import (
    KEY_MARK,
    SYSTEM_BUTTON_NAMES,
    android_keycode,
    left_out_words,
    typed_pieces,
)

log = logging.getLogger("vlagent.android")

VIRTUAL = "virtual"
"""``--serial virtual``: a virtual phone started for the run (also used when no device is
attached)."""
ADB_KEYBOARD = "com.android.adbkeyboard"
DUMP_PATH = "/sdcard/vlagent_window_dump.xml"
SYSTEM_BUTTONS = {button: f"KEYCODE_{android_keycode(button)}" for button in SYSTEM_BUTTON_NAMES}
"""Each system button is the key of its name: policies judge ``system_button Home`` as ``key
HOME`` (tools/keys.py)."""


def _adbutils() -> Any:
    try:
        import adbutils
    except ImportError as exc:
        raise EnvironmentUnavailable(
            f"the android environment needs adbutils ({exc}): pip install adbutils"
        ) from None
    return adbutils


def _listed(devices: list[Any], serial: str) -> Any:
    """The device of the adb server's list that ``serial`` names: the same serial, else another
    spelling of it (``localhost:5555`` for ``127.0.0.1:5555``); None when none does."""
    same = [d for d in devices if d.serial == serial]
    same = same or [d for d in devices if serial_identity(d.serial) == serial_identity(serial)]
    return same[0] if same else None


class AndroidEnvironment(DeviceCommands, Environment):
    """The device ``serial`` (default: the only device).

    ``serial="virtual"`` starts an embedded virtual phone for the run, on a private adb server;
    so does the default when the adb server has no device ready (a warning says so).
    ``ui_tree``: every observation carries the screen's elements (``uiautomator dump``, reduced
    to those worth a line); ``marks``: also drawn, numbered, on the screenshot (set-of-marks).
    """

    name = "android"
    option_help: ClassVar[dict[str, Option]] = {
        "serial": Option(
            "Device serial, or 'virtual' for the embedded virtual phone (default: the "
            "only device; the virtual phone when none is attached)."
        ),
        "ui_tree": Option(
            "Give the model the screen's elements as a numbered list; it may tap one by its number."
        ),
        "marks": Option("With --ui-tree: also draw the numbers on the screenshot (set-of-marks)."),
    }

    def __init__(
        self, serial: str | None = None, ui_tree: bool = False, marks: bool = False
    ) -> None:
        self._adb = _adbutils()
        self._server = ServerLease(take=False)
        self.embedded: Any = None
        self.ui_tree = ui_tree or marks
        self.marks = marks
        self.closed = False
        if serial == VIRTUAL:
            self._embed()
        else:
            self._server = ServerLease()
            self.client = self._adb.AdbClient()
            try:
                self.serial = self._choose(serial)
            except BaseException:
                self._server.release()
                raise
        self.channel = AdbChannel(self.serial, host=self.client.host, port=self.client.port)
        self._lock: Any = None
        try:
            self._lock = DeviceLock("android", self.serial)
        except EnvironmentUnavailable:
            self.close()
            raise
        try:
            self.width, self.height = (int(v) for v in wm_size(self._shell("wm size")).split("x"))
            density = re.search(r"(\d+)", self._shell("wm density"))
            self.density = int(density.group(1)) if density else 0
            # Enabled input methods: ADB Keyboard must be enabled, not only installed.
            self.ime = ADB_KEYBOARD in self._shell("ime list -s")
            self.screen = (self.width, self.height)  # until the first observation says otherwise
            self.screencap_ms = self._time_screencaps()
            self.screencap = min(self.screencap_ms, key=lambda form: self.screencap_ms[form])
        except (EnvironmentFault, ValueError) as exc:
            self.close()
            raise EnvironmentUnavailable(
                f"device {self.serial} did not answer as expected: {exc}"
            ) from None

    def _embed(self) -> None:
        from vlagent.environments.virtual_android.adb_server import EmbeddedPhone

        self.embedded = EmbeddedPhone()
        self.client = self.embedded.client()
        self.serial = self.embedded.serial

    # -- choosing a device ---------------------------------------------------------------------

    def _choose(self, serial: str | None) -> str:
        try:
            devices = self.client.list()
            known = {serial_identity(d.serial) for d in devices}
            if serial and ":" in serial and serial_identity(serial) not in known:
                self.client.connect(
                    serial, timeout=10
                )  # a network device: attach it like adb connect
                devices = self.client.list()
        except Exception as exc:  # adbutils raises its own and socket errors
            if serial is None:
                return self._no_device(f"the adb server cannot be reached ({exc})")
            raise EnvironmentUnavailable(
                f"cannot reach the adb server: {exc}; is adb installed?"
            ) from None
        ready = [d.serial for d in devices if d.state == "device"]
        listing = ", ".join(f"{d.serial} ({d.state})" for d in devices) or "none"
        if serial is not None:
            found = _listed(devices, serial)
            if found is None:
                raise EnvironmentUnavailable(
                    f"no device {serial!r}; devices found: {listing} (agent devices lists them)"
                )
            if found.state != "device":
                raise EnvironmentUnavailable(
                    f"device {serial} is {found.state}: unlock it and accept USB debugging, or "
                    f"for a network device run adb disconnect {serial} then adb connect {serial}"
                )
            return str(found.serial)  # the server's spelling: the one the lock is named by
        if not ready:
            return self._no_device(f"no Android device is ready (devices: {listing})")
        if len(ready) > 1:
            raise EnvironmentUnavailable(
                f"several devices found: {listing}; pick one with --serial"
            )
        return str(ready[0])

    def _no_device(self, why: str) -> str:
        log.warning(
            "%s: using the embedded virtual phone; plug in a phone with USB debugging on "
            "(or adb connect HOST:PORT) and pass --serial to drive it",
            why,
        )
        self._server.release()  # the default server started for the search is not needed
        self._embed()
        return str(self.serial)

    # -- observe and execute ---------------------------------------------------------------------

    @property
    def toolset(self) -> ToolSet:
        return mobile_tools(elements=self.ui_tree)

    def observe(self) -> Observation:
        elements, said = None, dict[str, str]()  # said: what the dump tells beyond the elements
        dumping = [f"uiautomator dump {DUMP_PATH}", f"cat {DUMP_PATH}"] if self.ui_tree else []
        image, answers = self._capture(self.screencap, dumping)
        if self.ui_tree:
            dump = answers[1]
            try:
                elements = for_model(parse_hierarchy(dump), image.size)
                said = {"foreground": app} if (app := dump_package(dump)) else {}
            except ET.ParseError:
                log.warning(
                    "device %s: the UI tree could not be read; this step has none", self.serial
                )
                elements = []
            if self.marks:
                image = draw_marks(image, elements)
        # The screenshot has the display's current orientation: taps use its size. Only a
        # turned screen costs a dumpsys call to say which way it is turned.
        self.screen = image.size
        rotation = 0
        if (image.width > image.height) != (self.width > self.height):
            found = display_rotation(self._shell("dumpsys window"))
            rotation = 1 if found is None else found
        return Observation(
            image=image,
            scale=1.0,
            elements=elements,
            metadata={
                "serial": self.serial,
                "size": [image.width, image.height],
                "density": self.density,
                "rotation": rotation,
                **said,
            },
        )

    def execute(self, action: BaseModel) -> ActionResult:
        if not isinstance(action, MobileUse):
            return ActionResult(
                ok=False, executed=False, message=f"android cannot execute {type(action).__name__}"
            )
        width, height = self.screen

        def px(point: tuple[float, float]) -> str:
            # Rounded and kept on the screen, as Observation.to_pixel does.
            x = min(max(round(point[0] * width), 0), width - 1)
            y = min(max(round(point[1] * height), 0), height - 1)
            return f"{x} {y}"

        kind = action.action
        if kind == "click" and action.coordinate:
            self._shell(f"input tap {px(action.coordinate)}")
        elif kind == "long_press" and action.coordinate:
            at = px(action.coordinate)
            self._shell(f"input swipe {at} {at} {round((action.time or 1) * 1000)}")
        elif kind == "swipe" and action.coordinate and action.coordinate2:
            self._shell(
                f"input swipe {px(action.coordinate)} {px(action.coordinate2)} "
                f"{round((action.time or 0.3) * 1000)}"
            )
        elif kind == "type":
            return self._type(action.text or "")
        elif kind == "key":
            # The key policies judged (tools/keys.py), never another spelling of it.
            name = android_keycode(action.text or "")
            if name is None:
                return ActionResult(
                    ok=False,
                    executed=False,
                    message=f"{action.text!r} is not an Android key name (e.g. volume_up)",
                )
            self._shell(f"input keyevent KEYCODE_{name}")
        elif kind == "system_button" and action.button:
            self._shell(f"input keyevent {SYSTEM_BUTTONS[action.button]}")
        elif kind == "open":
            return self._open(action.text or "")
        elif kind == "wait":
            time.sleep(action.time or 0)
        else:
            return ActionResult(
                ok=True, executed=False, message=f"{kind} needs nothing from the device"
            )
        return ActionResult(ok=True, message=f"{kind} done")

    def _type(self, text: str) -> ActionResult:
        # The desktop's rule (tools/keys.typed_pieces): a line break is Enter whatever path the
        # text around it takes, other keyed controls their keys, the rest of the controls left
        # out and named; plain text goes by ``input text`` or, beyond its characters, ADB Keyboard.
        pieces, left_out = typed_pieces(text, literal="\t")
        wide = [
            p
            for p in pieces
            if not p.startswith(KEY_MARK) and not INPUT_TEXT_CHARACTERS.issuperset(p)
        ]
        if wide and not self.ime:
            return ActionResult(
                ok=False,
                executed=False,
                message=(
                    "this text has characters adb input cannot type (only printable ASCII, tab "
                    "and newline); install ADB Keyboard (com.android.adbkeyboard) and make it "
                    "the input method"
                ),
            )
        commands: list[str] = []
        for piece in pieces:
            if piece.startswith(KEY_MARK):
                commands.append(f"input keyevent KEYCODE_{android_keycode(piece[1:])}")
            elif INPUT_TEXT_CHARACTERS.issuperset(piece):
                commands += typing_commands(piece)
            else:
                encoded = base64.b64encode(piece.encode("utf-8")).decode("ascii")
                commands.append(f"am broadcast -a ADB_INPUT_B64 --es msg {encoded}")
        if commands:
            self._shell_many(commands)
        message = "type done (through ADB Keyboard)" if wide else "type done"
        return ActionResult(
            ok=True, message=f"{message}; {left_out_words(left_out)}" if left_out else message
        )

    def _packages(self) -> list[str]:
        return re.findall(r"package:(\S+)", self._shell("pm list packages"))

    def resolve_app(self, label: str) -> str | None:
        """The package of the app called ``label`` among the installed ones
        (:func:`app_package`)."""
        return app_package(label, self._packages())

    def facts(self) -> DeviceFacts:
        # The same lookup as ``open``; the package list is asked for once per decision.
        packages = functools.cache(self._packages)
        return DeviceFacts(app_package=lambda label: app_package(label, packages()))

    def _open(self, label: str) -> ActionResult:
        package = self.resolve_app(label)
        if package is None:
            return ActionResult(
                ok=False, executed=False, message=f"no app called {label!r} is installed"
            )
        output = self._shell(
            f"monkey -p {shlex.quote(package)} -c android.intent.category.LAUNCHER 1"
        )
        if "Events injected" not in output:
            return ActionResult(
                ok=False, message=f"{package} could not be started: {output.strip()[:200]}"
            )
        return ActionResult(ok=True, message=f"opened {package}", data={"package": package})

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "serial": self.serial,
            "size": [self.width, self.height],
            "density": self.density,
            "screencap": self.screencap,
            "screencap_ms": self.screencap_ms,
            "channel": "adb shell session",
            "ime": self.ime,
            "ui_tree": self.ui_tree,
            "marks": self.marks,
            "virtual": self.embedded is not None,
        }

    def close(self) -> None:
        self.closed = True
        # Each part is released whatever the others do (a vanished device, a dead server).
        release_all(
            self._server.release,
            self.channel.close if hasattr(self, "channel") else lambda: None,
            self._release_lock,
            self._close_embedded,
        )

    def _release_lock(self) -> None:
        lock, self._lock = getattr(self, "_lock", None), None
        if lock is not None:
            lock.release()

    def _close_embedded(self) -> None:
        embedded, self.embedded = self.embedded, None
        if embedded is not None:
            embedded.close()
