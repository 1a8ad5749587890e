"""What a real phone makes slow, for the virtual device to imitate (``--profile phone``).

The virtual device answers in about a millisecond and encodes PNG on the host's fast CPU, so a
benchmark against it hides the costs a phone user pays. The ``phone`` profile adds them back:

- ``screencap -p`` encodes PNG on the phone's CPU: 1–2 s for a full-HD-class screen (scrcpy
  issue #469 reports 2 s for ``adb exec-out screencap -p``). We charge 600 ms per megapixel:
  1.56 s at 1080x2400.
- every ``input`` command starts a Java VM on the phone (``app_process``): 1,160 ms per
  ``input tap`` was measured on a Galaxy Note 4 ("tap, swipe and two smoking events",
  prog.world). Current phones start it faster; we charge 400 ms, a conservative guess.
- bytes cross USB 2 at about 38 MB/s (native adb on a Mi 11 over USB 2.0, measured in
  yume-chan/ya-webadb pull request #510).
- ``uiautomator dump`` starts a Java VM too, waits for the UI to idle and serialises the window's
  tree; dumps of real screens are reported at 0.8–2.2 s (mobile-next/mobilecli pull request #286)
  and 1–4 s (dtmilano/CulebraTester2-public issue 17), with dumpers of their own. We charge
  1,000 ms, a guess at the low end.

Numbers are defaults, not measurements of any one phone; each can be set on the command line.
"""

from __future__ import annotations

from dataclasses import dataclass

from vlagent.environments.virtual_android.shell import split_commands


@dataclass(frozen=True)
class CostProfile:
    """Delays the virtual device adds. Zero everywhere is the default (no profile)."""

    name: str = "none"
    png_ms_per_megapixel: float = 0.0
    input_startup_ms: float = 0.0
    bytes_per_second: float = 0.0  # 0: no limit
    dump_ms: float = 0.0

    def command_seconds(self, line: str, pixels: int) -> float:
        """How long a phone would take to run the command line ``line`` (not counting transfer)."""
        try:
            commands = split_commands(line)
        except ValueError:
            return 0.0
        total_ms = 0.0
        for argv in commands:
            if argv[0] == "input":
                total_ms += self.input_startup_ms
            elif argv[0] == "screencap" and "-p" in argv[1:]:
                total_ms += self.png_ms_per_megapixel * pixels / 1e6
            elif argv[:2] == ["uiautomator", "dump"]:
                total_ms += self.dump_ms
        return total_ms / 1000

    def describe(self) -> str:
        speed = f"{self.bytes_per_second / 1e6:g} MB/s" if self.bytes_per_second else "no limit"
        return (
            f"PNG {self.png_ms_per_megapixel:g} ms per megapixel, input start-up "
            f"{self.input_startup_ms:g} ms, UI dump {self.dump_ms:g} ms, transfer {speed}"
        )

    def transfer_seconds(self, size: int) -> float:
        return size / self.bytes_per_second if self.bytes_per_second else 0.0


PROFILES = {
    "none": CostProfile(),
    "phone": CostProfile(
        "phone",
        png_ms_per_megapixel=600.0,
        input_startup_ms=400.0,
        bytes_per_second=38e6,
        dump_ms=1000.0,
    ),
}
