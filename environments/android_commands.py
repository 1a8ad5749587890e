"""Commands and screenshots of one Android device, for the android driver.

:class:`DeviceCommands` is the part of :class:`environments.android.AndroidEnvironment` that talks
to the device: shell commands pipelined on the kept-open adb shell session
(:class:`environments.adb_channel.AdbChannel`), bounded reconnect attempts when the device drops
off, and screenshots (raw or PNG, timed once to pick the faster, decoded into images); and the
command lines that type text with Android's own ``input text`` (:func:`typing_commands`).
"""

from __future__ import annotations

import io
import logging
import re
import shlex
import time
from typing import Any

from PIL import Image, UnidentifiedImageError

from vlagent.environments.adb_channel import AdbChannel, AdbServerGone, decode_raw_screencap
from vlagent.environments.base import EnvironmentFault

log = logging.getLogger("vlagent.android")

RECONNECT_ATTEMPTS = 3
RECONNECT_BACKOFF_S = 0.5

INPUT_TEXT_CHARACTERS = frozenset(chr(code) for code in range(0x20, 0x7F)) | {"\t", "\n"}
"""What Android's ``input text`` can type: the characters of its virtual keyboard's map
(frameworks/base ``data/keyboards/Virtual.kcm``: printable ASCII, tab, newline). For any other
character the map has no key, ``getEvents`` returns null and ``input`` fails."""

# Android's input text (InputShellCommand.sendText; Input.sendText in older releases) turns every
# "%s" of its argument into a space and has no escape for a literal "%s": a "%" and the "s" after
# it must reach it in separate commands.
_PERCENT_S = re.compile(r"(?<=%)(?=s)")


def shell_text(text: str) -> str:
    """``text`` as one argument of ``input text`` that the device's shell passes on unchanged."""
    return shlex.quote(text.replace(" ", "%s"))


def typing_commands(text: str) -> list[str]:
    """Shell command lines after which Android's ``input text`` has typed exactly ``text`` (its
    characters all in :data:`INPUT_TEXT_CHARACTERS`).

    Spaces are written ``%s``, which ``input text`` reads as a space (early Androids' ``input``
    script split its arguments at spaces). A ``%`` followed by ``s`` is split across two
    commands, so no ``%s`` of the text itself is read as a space. A newline, which one shell
    command line cannot hold, is the Enter key (the key Virtual.kcm maps it to).
    """
    commands = []
    for number, line in enumerate(text.split("\n")):
        if number:
            commands.append("input keyevent KEYCODE_ENTER")
        commands += [f"input text {shell_text(piece)}" for piece in _PERCENT_S.split(line) if piece]
    return commands


def display_rotation(dumpsys_window: str) -> int | None:
    """The display's rotation (0-3) in ``dumpsys window`` output: ``mCurrentRotation=ROTATION_90``
    or ``=1`` (Android 10 and later), ``mRotation=1`` (earlier releases); None when neither."""
    found = re.search(r"\bm(?:Current)?Rotation=(?:ROTATION_)?(\d+)", dumpsys_window)
    if found is None:
        return None
    value = int(found.group(1))
    return value // 90 if value >= 90 else value


def _name(command: str) -> str:
    """The program and verb of a command line (``input text``), never its arguments."""
    return " ".join(command.split(" ", 2)[:2])


class DeviceCommands:
    """Shell commands and screenshots with reconnects; mixed into the android driver, which sets
    the attributes below when it opens the device."""

    serial: str
    client: Any  # adbutils.AdbClient (or the embedded phone's)
    channel: AdbChannel
    _adb: Any  # the adbutils module

    def _call(self, what: str, run: Any) -> Any:
        """``run()`` with bounded reconnect attempts when the device drops off."""
        last: Exception | None = None
        for attempt in range(RECONNECT_ATTEMPTS):
            try:
                return run()
            except (self._adb.AdbError, ConnectionError, OSError, EOFError) as exc:
                last = exc
                log.warning(
                    "device %s: %s failed (%s); reconnecting (attempt %d of %d)",
                    self.serial,
                    _name(what),
                    exc,
                    attempt + 1,
                    RECONNECT_ATTEMPTS,
                )
                time.sleep(RECONNECT_BACKOFF_S * (attempt + 1))
                self._reconnect()
        # Only the command's name: its arguments may be text being typed (a secret).
        lost = "lost the adb server" if isinstance(last, AdbServerGone) else "disconnected"
        raise EnvironmentFault(
            f"device {self.serial} {lost} ({_name(what)}: {last}); gave up after "
            f"{RECONNECT_ATTEMPTS} attempts"
        ) from None

    def _reconnect(self) -> None:
        self.channel.close()
        try:
            if ":" in self.serial:
                # A restarted network device is marked offline until disconnected and connected.
                self.client.disconnect(self.serial)
                self.client.connect(self.serial, timeout=5)
        except Exception:  # the next attempt reports what is wrong
            pass

    def shell(self, command: str) -> str:
        """Run ``command`` in the device's shell and return its output (for test set-up)."""
        return self._shell(command)

    def freeze_clock(self, hhmm: str = "1200") -> None:
        """Show ``hhmm`` on the status-bar clock (System UI demo mode, as screenshot tests use
        it), so a ticking clock does not make two screenshots of one screen differ."""
        self._shell_many(
            [
                "settings put global sysui_demo_allowed 1",
                "am broadcast -a com.android.systemui.demo -e command enter",
                f"am broadcast -a com.android.systemui.demo -e command clock -e hhmm {hhmm}",
            ]
        )

    def _shell(self, command: str) -> str:
        return self._shell_many([command])[0]

    def _shell_many(self, commands: list[str]) -> list[str]:
        """Commands written to the device's shell in one go, answered in order (pipelined)."""
        results = self._call(commands[0], lambda: self.channel.shell_many(commands))
        return [result.text for result in results]

    def _time_screencaps(self) -> dict[str, float]:
        """Milliseconds for a raw and a PNG screenshot, fetched and decoded (forms that fail are
        left out); observe uses the faster. Raw is timed twice (the first call also warms up),
        PNG once unless it looks faster: on a phone PNG encoding takes seconds."""
        timings: dict[str, float] = {}
        for form in ("raw", "png", "raw", "png"):
            if form == "png" and "png" in timings and timings["png"] >= timings.get("raw", 0):
                continue
            started = time.perf_counter()
            try:
                self._capture(form)
            except EnvironmentFault:
                continue
            took = round((time.perf_counter() - started) * 1000, 1)
            timings[form] = min(took, timings.get(form, took))
        if not timings:
            raise EnvironmentFault("screencap gives no image in either form")
        return timings

    def _capture(
        self, form: str, meanwhile: list[str] | None = None
    ) -> tuple[Image.Image, list[str]]:
        """The screenshot, and the answers of the ``meanwhile`` commands, run in the shell session
        while it streams on its own connection (a phone's UI dump takes a second or more)."""
        commands = meanwhile or []

        def both() -> tuple[bytes | memoryview, list[str]]:
            if commands:
                self.channel.send_commands(commands)
            try:
                data = (
                    self.channel.screencap_raw()
                    if form == "raw"
                    else self.channel.exec_out("screencap -p")
                )
            except BaseException:
                self.channel.close()  # the commands' answers are pending in the session: drop it
                raise
            return data, [answer.text for answer in self.channel.answers(len(commands))]

        data, answers = self._call(commands[0] if commands else "screencap", both)
        return self._decode(form, data), answers

    def _decode(self, form: str, data: bytes | memoryview) -> Image.Image:
        try:
            if form == "raw":
                return decode_raw_screencap(data)
            image = Image.open(io.BytesIO(data))
            image.load()
            return image.convert("RGB")
        except (ValueError, UnidentifiedImageError, OSError) as exc:
            # Never hand the model a black picture of a failed decode.
            raise EnvironmentFault(f"the {form} screenshot could not be decoded: {exc}") from None
