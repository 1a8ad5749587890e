"""``mobile_use``: the Qwen action space for Android phones (docs/tools.md)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from vlagent.tools.gui import ActionSpec, GuiTool, action_help
from vlagent.tools.limits import Seconds, Text
from vlagent.tools.points import Point

MOBILE_ACTIONS: dict[str, ActionSpec] = {
    "key": ActionSpec("Press a key given by its adb keyevent name, e.g. `volume_up`.", ("text",)),
    "click": ActionSpec("Tap the point `coordinate`.", ("coordinate",)),
    "long_press": ActionSpec(
        "Press and hold the point `coordinate` for `time` seconds.", ("coordinate", "time")
    ),
    "swipe": ActionSpec(
        "Swipe from `coordinate` to `coordinate2`, taking `time` seconds (optional).",
        ("coordinate", "coordinate2"),
        ("time",),
    ),
    "type": ActionSpec("Type `text` into the focused input field.", ("text",)),
    "system_button": ActionSpec("Press a system button: Back, Home, Menu or Enter.", ("button",)),
    "open": ActionSpec("Open the app whose name is `text`.", ("text",)),
    "wait": ActionSpec("Wait `time` seconds for the screen to change.", ("time",)),
    "terminate": ActionSpec("End the task, with `status` success or failure.", ("status",)),
    "answer": ActionSpec("Give `text` as the answer to the user's question and end.", ("text",)),
}

MobileAction = Literal[
    "key",
    "click",
    "long_press",
    "swipe",
    "type",
    "system_button",
    "open",
    "wait",
    "terminate",
    "answer",
]


class MobileUse(GuiTool):
    """Use a touchscreen to interact with an Android phone. Pick one action per call; the screen
    is shown after each action."""

    tool_name: ClassVar[str] = "mobile_use"
    ACTIONS: ClassVar[dict[str, ActionSpec]] = MOBILE_ACTIONS

    action: MobileAction = Field(description=action_help(MOBILE_ACTIONS))
    coordinate: Point | None = Field(
        None, description="[x, y]: the point to act on (for `swipe`, where the finger starts)."
    )
    coordinate2: Point | None = Field(None, description="[x, y]: where a `swipe` ends.")
    text: Text | None = Field(None, description="Text for `key`, `type`, `open` and `answer`.")
    time: Seconds | None = Field(
        None, description="Seconds, for `long_press`, `swipe` and `wait` (at most 60)."
    )
    button: Literal["Back", "Home", "Menu", "Enter"] | None = Field(
        None, description="The system button for `system_button`."
    )
    status: Literal["success", "failure"] | None = Field(
        None, description="How the task ended, for `terminate`."
    )


ELEMENT_ACTIONS: dict[str, ActionSpec] = {
    **MOBILE_ACTIONS,
    "click": ActionSpec(
        "Tap the point `coordinate`, or the centre of element number `element`.",
        (),
        ("coordinate", "element"),
    ),
    "long_press": ActionSpec(
        "Press and hold the point `coordinate` (or element number `element`) for `time` seconds.",
        ("time",),
        ("coordinate", "element"),
    ),
}


# ``mobile_use`` when the prompt lists the screen's elements (--ui-tree). The loop turns an
# element's number into its centre before validation, so an action that reaches a device always
# has its point, and the trajectory records the point in every space.
class MobileUseWithElements(MobileUse):
    """Use a touchscreen to interact with an Android phone. Pick one action per call; the screen
    is shown after each action. A tap may name one of the listed screen elements by its number."""

    ACTIONS: ClassVar[dict[str, ActionSpec]] = ELEMENT_ACTIONS

    action: MobileAction = Field(description=action_help(ELEMENT_ACTIONS))
    element: int | None = Field(
        None,
        ge=0,
        description="The number of an element in the list of screen elements, for "
        "`click` and `long_press` instead of `coordinate`.",
    )

    @model_validator(mode="after")
    def _has_a_point(self) -> MobileUseWithElements:
        if self.action in ("click", "long_press") and self.coordinate is None:
            raise ValueError(f"action '{self.action}' needs 'coordinate' or 'element'")
        return self
