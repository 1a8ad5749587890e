"""``desktop``: a real X display, observed with mss and driven with pyautogui.

- Observe: mss (one per thread, as mss requires) grabs the monitor straight into a PIL image.
- Execute: every ``computer_use`` action through pyautogui (imported while the display's
  connection environment is in place, then given its own connection). Keys and text are key
  events through XTEST (environments/xkeys.py); nothing goes through the clipboard.
- After each action: a click first gives the keyboard to the window it lands on
  (environments/xfocus.py); then the environment waits until the screen shows the action's
  effect (environments/change.py: ``settle``), and the step records how that wait ended and
  which application has the keyboard.
- ``xvfb="WxH"`` starts a private Xvfb for the run and stops it at the end; ``launch`` starts a
  program on the display (an app under test, a browser), whose exit ends the run
  (environments/launched.py).
- The fail-safe stays on for real desktops: the mouse in a screen corner aborts the run (every
  finished step kept). On a private Xvfb nobody holds the mouse, so it is off there.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
from pathlib import Path
from typing import Any, ClassVar

from PIL import Image
from pydantic import BaseModel

from vlagent.environments.base import (
    ActionResult,
    DeviceFacts,
    Environment,
    EnvironmentFault,
    EnvironmentUnavailable,
    Observation,
    RunAborted,
    release_all,
    time_left,
)
from vlagent.environments.change import beyond_a_caret, settle
from vlagent.environments.desktop_input import PyAutoGuiInput
from vlagent.environments.launched import LaunchedProgram, launch_and_wait, on_exit
from vlagent.environments.lock import DeviceLock
from vlagent.environments.memory import parse_size
from vlagent.environments.registry import Option
from vlagent.environments.xfocus import focus_at, keyboard_app
from vlagent.environments.xfocus import quiet_xlib as _quiet_xlib
from vlagent.environments.xvfb import Xvfb, user_authority, x_client_environment
from vlagent.tools import ComputerUse, ToolSet, computer_tools
from vlagent.tools.secrets import child_environment

DEFAULT_SETTLE_S = 2.0
"""The bound of the wait after an action: a screen still changing after it (a video, a spinner)
is shown as it is then."""
REACT_S = {"mouse_move": 0.2, "key": 1.0, "type": 1.0, "wait": 0.0, "terminate": 0.0, "answer": 0.0}
"""How long an action kind may take to show a first change; typing and keys may submit a form
or close a dialog, which takes a program longer. A wait has waited already."""
REACT_OTHER_S = 0.5  # clicks, drags, scrolls
# The actions that press a button: each first gives the keyboard to the window under its press.
PRESSES = frozenset("left_click right_click middle_click double_click triple_click".split())
PRESSES |= {"left_click_drag"}
IMAGE_BLOCKS_CACHED = 4


class DesktopEnvironment(PyAutoGuiInput, Environment):
    """The screen of an X display: ``display`` (default $DISPLAY), ``monitor`` (1 = the first
    monitor, 0 = all of them), or a private ``xvfb`` screen of size WxH."""

    name = "desktop"
    option_help: ClassVar[dict[str, Option]] = {
        "display": Option("X display, e.g. :0 (default $DISPLAY)."),
        "monitor": Option("Monitor number (1 = first, 0 = all).", min=0),
        "xvfb": Option("Run on a private virtual screen WxH, e.g. 1280x800."),
        "scale": Option("Device pixels per image pixel (HiDPI).", min=0.01),
        "settle": Option(
            "After an action, wait up to S s (default 2) for the screen to change and then stay "
            "still; 0 does not wait.",
            min=0,
        ),
        "launch": Option("Start this program on the display first (e.g. an app under test)."),
        "launch_dir": Option("The folder --launch starts the program in."),
        "launch_exit": Option(
            "When the launched program exits: end (the run ends, default) or continue (the "
            "model is told once and the run goes on)."
        ),
    }

    def __init__(
        self,
        display: str | None = None,
        monitor: int = 1,
        xvfb: str | None = None,
        scale: float | None = None,
        settle: float = DEFAULT_SETTLE_S,
        launch: str | None = None,
        launch_dir: str | Path | None = None,
        launch_exit: str = "end",
    ) -> None:
        if xvfb is not None and display is not None:
            raise EnvironmentUnavailable("--xvfb starts its own display; leave out --display")
        if settle < 0:
            raise EnvironmentUnavailable("--settle must be 0 or more seconds")
        self.launch_exit = on_exit(launch_exit)
        self._xvfb: Xvfb | None = None
        self._launched: LaunchedProgram | None = None
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
        # The environment of programs started on this display (--launch).
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
        with self._driving():
            # The screen in the input library's units: it clamps a point beyond it to the edge.
            width, height = pyautogui.size()
        self._input_size = (int(width), int(height))
        if scale is None:
            # Device pixels (what pyautogui takes) per captured pixel: 1 on X11; a HiDPI desktop
            # that captures physical pixels but takes logical input shows it here.
            everything = monitors[0]
            scale = width / everything["width"] if everything["width"] else 1.0
        self.scale = scale

    def _launch(self, command: str, folder: str | Path | None) -> None:
        # Kept before the wait: an interrupted start still stops it (close()).
        self._launched = LaunchedProgram(command, folder, self._child_env, self.launch_exit)
        launch_and_wait(self._launched, self._pixels)

    # -- observe -------------------------------------------------------------------------------

    def _mss(self) -> Any:
        shooter = getattr(self._local, "mss", None)
        if shooter is None:
            import mss

            with x_client_environment(self.display, self.authority):  # libX11 reads XAUTHORITY
                shooter = mss.MSS(display=self.display)
            self._local.mss = shooter
        return shooter

    def _shot(self) -> Any:
        try:
            return self._mss().grab(self.monitor)
        except Exception as exc:  # mss raises ScreenShotError, Xlib errors when the display dies
            raise EnvironmentFault(f"screen capture failed on {self.display}: {exc}") from None

    def _pixels(self) -> bytearray:
        """The monitor's pixels as mss hands them (BGRX): what the waits compare, no image
        decoded (a comparison of two is a memcmp)."""
        raw: bytearray = self._shot().raw  # a fresh buffer at each grab
        return raw

    def _grab(self) -> Image.Image:
        shot = self._shot()
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
        """The application the keyboard goes to, by the class of its window (WM_CLASS): the
        focused window or, where the focus is PointerRoot (X's default without a window
        manager), the one under the pointer. Empty when no window says (environments/xfocus.py)."""
        display = getattr(self, "_x_display", None)
        app = keyboard_app(display) if display is not None else None
        return {"foreground": app} if app else {}

    # -- execute -------------------------------------------------------------------------------

    @property
    def toolset(self) -> ToolSet:
        return computer_tools()

    def _point(self, point: tuple[float, float]) -> tuple[int, int] | None:
        """A normalized point in the input library's coordinates, or None when it is not on the
        chosen monitor or not on the screen the input library takes (such a point never reaches
        pyautogui, which would move it to the screen's edge: under a ``--scale`` larger than the
        display's, a click meant for the far half would land on the edge)."""
        width, height = self.monitor["width"] * self.scale, self.monitor["height"] * self.scale
        x, y = point[0] * width, point[1] * height
        if not (0 <= x <= width and 0 <= y <= height):
            return None
        # Rounded like Observation.to_pixel; the far edge (normalized 1.0) is the last pixel.
        x, y = min(round(x), max(int(width) - 1, 0)), min(round(y), max(int(height) - 1, 0))
        device = (
            round(self.monitor["left"] * self.scale) + x,
            round(self.monitor["top"] * self.scale) + y,
        )
        if not (0 <= device[0] < self._input_size[0] and 0 <= device[1] < self._input_size[1]):
            return None
        return device

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
        launched, gone = self._launched, self.ended()
        if gone is not None:
            return gone  # nothing of it is left to act on
        news = launched.news() if launched is not None else None
        message, data = self._act(action, points)
        if launched is None:
            return ActionResult(ok=True, message=message, data=data)
        return launched.outcome(message, data, news or launched.news())

    def _act(
        self, action: ComputerUse, points: dict[str, tuple[int, int]]
    ) -> tuple[str, dict[str, Any]]:
        """Give the keyboard to the window a press lands on, act, wait for the screen to show
        it; the step's data says where the action went, how the wait ended and which
        application has the keyboard then."""
        before = self._pixels() if self.settle else None
        try:
            with self._driving():
                if action.action in PRESSES:  # a drag presses at its start (None: the pointer)
                    drag = action.action == "left_click_drag"
                    self._focus_window_at(points.get("start_coordinate" if drag else "coordinate"))
                message = self._run(action, points)
        except self._gui.FailSafeException:
            raise RunAborted(
                "the pointer was moved into a screen corner (pyautogui fail-safe)"
            ) from None
        except (OSError, subprocess.SubprocessError) as exc:
            raise EnvironmentFault(f"input on {self.display} failed: {exc}") from None
        data: dict[str, Any] = {"pixels": {k: list(v) for k, v in points.items()}}
        if before is not None:
            react, limit = REACT_S.get(action.action, REACT_OTHER_S), time_left(self.settle)
            caret = beyond_a_caret((self.monitor["width"], self.monitor["height"]))
            data["settle"] = settle(self._pixels, before, react, limit, reacts=caret).record()
        data.update(self._foreground())
        return message, data

    def _focus_window_at(self, point: tuple[int, int] | None) -> None:
        """Before a button goes down at ``point`` (None: where the pointer is), the top-level
        window there gets the keyboard, as a window manager's click-to-focus would give it."""
        display = getattr(self, "_x_display", None)
        if display is None:
            return
        x, y = point if point is not None else self._gui.position()
        focus_at(display, int(x), int(y))

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
            "launch": self._launched.command if self._launched is not None else None,
            "launch_exit": self.launch_exit,
        }

    def ended(self) -> ActionResult | None:
        return self._launched.ended() if self._launched is not None else None

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        # Each part goes whatever the others do (with the X server dead, the grabber raises).
        release_all(
            self._close_connections,
            self._launched.stop if self._launched is not None else lambda: None,
            self._xvfb.stop if self._xvfb is not None else lambda: None,
            self._release_lock,
        )

    def _close_connections(self) -> None:
        shooter = getattr(self._local, "mss", None)
        if shooter is not None:
            with contextlib.suppress(Exception):  # a display that died takes it along
                shooter.close()
        if getattr(self, "_blocks_before", None) is not None:
            getattr(Image, "core").set_blocks_max(self._blocks_before)
            self._blocks_before = None
        connection = getattr(self, "_x_display", None)
        if connection is not None:
            with contextlib.suppress(Exception):  # a display that died takes its connection along
                self._give_keys_back()
                connection.close()

    def _release_lock(self) -> None:
        lock, self._lock = self._lock, None
        if lock is not None:
            lock.release()
