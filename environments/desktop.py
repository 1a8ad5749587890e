"""``desktop``: a real X display, observed with mss and driven with pyautogui.

- Observe: mss (one instance per thread, as mss requires) grabs the chosen monitor straight into
  a PIL image; no file, no PNG round trip.
- Execute: every ``computer_use`` action through pyautogui (it connects at import, so it is
  imported while the display's connection environment is in place, then given its own
  connection). Text is typed by pasting it from the clipboard (xclip): pyautogui drops
  non-ASCII characters and types ``<`` as ``>`` on common X keymaps. A secret is typed with key
  events instead (environments/xkeys.py): it never goes on the clipboard.
- ``xvfb="WxH"`` starts a private Xvfb for the run and stops it at the end; ``launch`` starts a
  program on the display (an app under test, a browser).
- The fail-safe stays on for real desktops: moving the mouse into a screen corner aborts the run
  (the trajectory is closed, every finished step kept). On a private Xvfb nobody holds the mouse,
  so it is off there.
"""

from __future__ import annotations

import contextlib
import io
import os
import shlex
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

from PIL import Image, ImageChops
from pydantic import BaseModel

from vlagent.environments.base import (
    ActionResult,
    DeviceFacts,
    Environment,
    EnvironmentFault,
    EnvironmentUnavailable,
    Observation,
    RunAborted,
)
from vlagent.environments.desktop_input import PyAutoGuiInput
from vlagent.environments.lock import DeviceLock
from vlagent.environments.memory import parse_size
from vlagent.environments.processes import stop_process
from vlagent.environments.registry import Option
from vlagent.environments.xvfb import Xvfb, user_authority, x_client_environment
from vlagent.tools import ComputerUse, ToolSet, computer_tools
from vlagent.tools.secrets import child_environment

SETTLE_POLL_S = 0.05
SETTLE_QUIET_S = 0.15
LAUNCH_QUIET_S = 0.5
LAUNCH_WAIT_S = 15.0
IMAGE_BLOCKS_CACHED = 4


def _quiet_xlib() -> contextlib.AbstractContextManager[object]:
    """python-xlib prints authority warnings to stdout; the CLI's output is not the place."""
    return contextlib.redirect_stdout(io.StringIO())


class DesktopEnvironment(PyAutoGuiInput, Environment):
    """The screen of an X display: ``display`` (default $DISPLAY), ``monitor`` (1 = the first
    monitor, 0 = all of them), or a private ``xvfb`` screen of size WxH."""

    name = "desktop"
    option_help: ClassVar[dict[str, Option]] = {
        "display": Option("X display, e.g. :0 (default $DISPLAY)."),
        "monitor": Option("Monitor number (1 = first, 0 = all).", min=0),
        "xvfb": Option("Run on a private virtual screen WxH, e.g. 1280x800."),
        "scale": Option("Device pixels per image pixel (HiDPI).", min=0.01),
        "settle": Option("After an action, wait up to S s for the screen to settle.", min=0),
        "launch": Option("Start this program on the display first (e.g. an app under test)."),
        "launch_dir": Option("The folder --launch starts the program in."),
    }

    def __init__(
        self,
        display: str | None = None,
        monitor: int = 1,
        xvfb: str | None = None,
        scale: float | None = None,
        settle: float = 0.0,
        launch: str | None = None,
        launch_dir: str | Path | None = None,
    ) -> None:
        if xvfb is not None and display is not None:
            raise EnvironmentUnavailable("--xvfb starts its own display; leave out --display")
        if settle < 0:
            raise EnvironmentUnavailable("--settle must be 0 or more seconds")
        self._xvfb: Xvfb | None = None
        self._launched: subprocess.Popen[bytes] | None = None
        self._local = threading.local()
        self.closed = False
        if xvfb is not None:
            width, height = parse_size(xvfb)
            self._xvfb = Xvfb(width, height)
            display = self._xvfb.display
        display = display or os.environ.get("DISPLAY")
        if not display:
            raise EnvironmentUnavailable(
                "no display: set DISPLAY, pass --display :0, or use --xvfb 1280x800 for a private "
                "virtual screen"
            )
        self.display = display
        self.private = self._xvfb is not None
        self.authority = self._xvfb.client_authority if self._xvfb is not None else user_authority()
        # The environment of programs started on this display (xclip, --launch).
        # No API key, no secret (tools/secrets.py: child_environment, again at each start).
        self._child_env = child_environment({"DISPLAY": display, "XAUTHORITY": self.authority})
        self.settle = settle
        self._lock: DeviceLock | None = None
        try:
            # A private screen is locked too: another run given its number must not drive it.
            self._lock = DeviceLock("display", display)
            self._connect(monitor, scale)
            if launch:
                self._launch(launch, launch_dir)
        except BaseException:
            self.close()
            raise

    # -- start-up ------------------------------------------------------------------------------

    def _connect(self, monitor: int, scale: float | None) -> None:
        with x_client_environment(self.display, self.authority):
            self._open_connections(monitor, scale)

    def _open_connections(self, monitor: int, scale: float | None) -> None:
        try:
            import Xlib.display

            with _quiet_xlib():
                Xlib.display.Display(self.display).close()
        except Exception as exc:  # python-xlib raises several unrelated types here
            raise EnvironmentUnavailable(
                f"cannot open display {self.display} ({type(exc).__name__}: {exc}); start one with "
                "--xvfb 1280x800, or set DISPLAY (and XAUTHORITY) to a running X server"
            ) from None
        if shutil.which("xclip") is None:
            raise EnvironmentUnavailable(
                "typing needs xclip (text is pasted to keep Unicode intact): apt-get install xclip"
            )
        with _quiet_xlib():
            import pyautogui

        # pyautogui opens one X connection when first imported and keeps it; a later environment
        # (tests, a library user) must not drive an earlier display, nor a dead connection to a
        # display whose number was reused. Each environment has its own connection, lent to
        # pyautogui while it acts (_driving).
        self._x11: Any = getattr(pyautogui, "_pyautogui_x11", None)
        if self._x11 is not None:
            import Xlib.display

            with _quiet_xlib():
                self._x_display = Xlib.display.Display(self.display)
        # Pillow frees every image's memory back to the OS by default; a screenshot a step then
        # costs ~3,000 page faults (10+ ms at 1920x1080). Let Pillow keep a few blocks for reuse
        # (its documented block cache, PILLOW_BLOCKS_MAX) while this environment is open.
        core: Any = getattr(Image, "core")
        self._blocks_before: int | None = core.get_blocks_max()
        if core.get_blocks_max() < IMAGE_BLOCKS_CACHED:
            core.set_blocks_max(IMAGE_BLOCKS_CACHED)
        self._gui: Any = pyautogui
        monitors = self._mss().monitors
        if not 0 <= monitor < len(monitors):
            raise EnvironmentUnavailable(
                f"--monitor {monitor} does not exist; this display has {len(monitors) - 1} "
                f"monitor(s): 1..{len(monitors) - 1}, or 0 for all"
            )
        self.monitor_index = monitor
        self.monitor: dict[str, int] = dict(monitors[monitor])
        if scale is None:
            # Device pixels (what pyautogui takes) per captured pixel: 1 on X11; a HiDPI desktop
            # that captures physical pixels but takes logical input shows it here.
            everything = monitors[0]
            with self._driving():
                width = pyautogui.size()[0]
            scale = width / everything["width"] if everything["width"] else 1.0
        self.scale = scale

    def _launch(self, command: str, folder: str | Path | None) -> None:
        before = self._grab()
        try:
            self._launched = subprocess.Popen(
                shlex.split(command),
                env=child_environment(base=self._child_env),
                cwd=folder,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        except OSError as exc:
            raise EnvironmentUnavailable(f"--launch {command!r} could not start: {exc}") from None
        deadline = time.monotonic() + LAUNCH_WAIT_S
        while time.monotonic() < deadline:  # until it has drawn something, then until it settles
            if self._launched.poll() is not None:
                raise EnvironmentUnavailable(
                    f"--launch {command!r} exited at once with code {self._launched.returncode}"
                )
            if ImageChops.difference(before, self._grab()).getbbox() is not None:
                # A new window draws its keyboard focus a little after itself (Tk: up to ~0.2 s):
                # wait for a longer stillness than after an action, so the first screen is whole.
                self._settle(2.0, quiet=LAUNCH_QUIET_S)
                return
            time.sleep(SETTLE_POLL_S)

    # -- observe -------------------------------------------------------------------------------

    def _mss(self) -> Any:
        shooter = getattr(self._local, "mss", None)
        if shooter is None:
            import mss

            with x_client_environment(self.display, self.authority):  # libX11 reads XAUTHORITY
                shooter = mss.MSS(display=self.display)
            self._local.mss = shooter
        return shooter

    def _grab(self) -> Image.Image:
        try:
            shot = self._mss().grab(self.monitor)
        except Exception as exc:  # mss raises ScreenShotError, Xlib errors when the display dies
            raise EnvironmentFault(f"screen capture failed on {self.display}: {exc}") from None
        # Decode straight from mss's buffer (no intermediate bytes copy): BGRX → RGB.
        return Image.frombuffer("RGB", shot.size, shot.raw, "raw", "BGRX", 0, 1)

    def observe(self) -> Observation:
        image = self._grab()
        return Observation(
            image=image,
            scale=self.scale,
            metadata={
                "display": self.display,
                "monitor": self.monitor_index,
                "physical_size": list(image.size),
                "logical_size": [round(image.width * self.scale), round(image.height * self.scale)],
                **self._foreground(),
            },
        )

    def _foreground(self) -> dict[str, str]:
        """The application in front, by the class of its window (WM_CLASS): the window with the
        keyboard focus or, where focus follows the pointer (no window manager), the one under it.
        Empty when no window says (the bare root window); a few X round trips, well under 1 ms."""
        display = getattr(self, "_x_display", None)
        if display is None:
            return {}
        try:
            with _quiet_xlib():
                root = display.screen().root
                window = display.get_input_focus().focus
                if isinstance(window, int) or window.id == root.id:  # None or PointerRoot
                    window = root.query_pointer().child
                while not isinstance(window, int) and window.id != root.id:
                    names = window.get_wm_class()
                    if names:
                        return {"foreground": str(names[1])}
                    window = window.query_tree().parent
        except Exception:
            return {}
        return {}

    def _settle(self, limit_s: float, quiet: float = SETTLE_QUIET_S) -> None:
        """Wait (at most ``limit_s``) until the screen has stayed the same for ``quiet`` seconds
        (an animation in steps, or an app slow to react, is not mistaken for a still screen)."""
        deadline = time.monotonic() + limit_s
        previous, still_since = self._grab(), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(SETTLE_POLL_S)
            current = self._grab()
            if ImageChops.difference(previous, current).getbbox() is not None:
                previous, still_since = current, time.monotonic()
            elif time.monotonic() - still_since >= quiet:
                return

    # -- execute -------------------------------------------------------------------------------

    @property
    def toolset(self) -> ToolSet:
        return computer_tools()

    def _point(self, point: tuple[float, float]) -> tuple[int, int] | None:
        """A normalized point in the input library's coordinates, or None when it is not on the
        chosen monitor (such a point never reaches pyautogui)."""
        width, height = self.monitor["width"] * self.scale, self.monitor["height"] * self.scale
        x, y = point[0] * width, point[1] * height
        if not (0 <= x <= width and 0 <= y <= height):
            return None
        # Rounded like Observation.to_pixel; the far edge (normalized 1.0) is the last pixel.
        x, y = min(round(x), int(width) - 1), min(round(y), int(height) - 1)
        return (
            round(self.monitor["left"] * self.scale) + x,
            round(self.monitor["top"] * self.scale) + y,
        )

    def execute(self, action: BaseModel) -> ActionResult:
        if not isinstance(action, ComputerUse):
            return ActionResult(
                ok=False,
                executed=False,
                message=f"the desktop cannot execute {type(action).__name__}",
            )
        points: dict[str, tuple[int, int]] = {}
        for name in ("coordinate", "start_coordinate"):
            value = getattr(action, name)
            if value is not None:
                pixel = self._point(value)
                if pixel is None:
                    return ActionResult(
                        ok=False, executed=False, message=f"'{name}' is outside the screen"
                    )
                points[name] = pixel
        try:
            with self._driving():
                message = self._run(action, points)
        except self._gui.FailSafeException:
            raise RunAborted(
                "the pointer was moved into a screen corner (pyautogui fail-safe)"
            ) from None
        except (OSError, subprocess.SubprocessError) as exc:
            raise EnvironmentFault(f"input on {self.display} failed: {exc}") from None
        if self.settle:
            self._settle(self.settle)
        return ActionResult(
            ok=True, message=message, data={"pixels": {k: list(v) for k, v in points.items()}}
        )

    def facts(self) -> DeviceFacts:
        return DeviceFacts(pointer=self._pointer)

    def _pointer(self) -> tuple[float, float] | None:
        """Where the pointer is, normalized to the chosen monitor as action points are (outside
        [0, 1] when it is on another monitor): a click with no point lands there."""
        try:
            with self._driving():
                x, y = self._gui.position()
        except Exception:  # a display that went away cannot say; the policy then refuses
            return None
        width, height = self.monitor["width"] * self.scale, self.monitor["height"] * self.scale
        left, top = self.monitor["left"] * self.scale, self.monitor["top"] * self.scale
        return ((x - round(left)) / width, (y - round(top)) / height)

    # -- the rest ------------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "display": self.display,
            "monitor": self.monitor_index,
            "size": [self.monitor["width"], self.monitor["height"]],
            "scale": self.scale,
            "private_xvfb": self.private,
            "fail_safe": not self.private,
            "settle_s": self.settle,
        }

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        shooter = getattr(self._local, "mss", None)
        if shooter is not None:
            shooter.close()
        if getattr(self, "_blocks_before", None) is not None:
            getattr(Image, "core").set_blocks_max(self._blocks_before)
            self._blocks_before = None
        connection = getattr(self, "_x_display", None)
        if connection is not None:
            with contextlib.suppress(Exception):  # a display that died takes its connection along
                connection.close()
        if self._launched is not None:
            stop_process(self._launched)
        if self._xvfb is not None:
            self._xvfb.stop()
        if self._lock is not None:
            self._lock.release()
            self._lock = None
