"""``computer_use``: the Qwen action space for desktops (docs/tools.md)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from vlagent.tools.gui import ActionSpec, GuiTool, action_help
from vlagent.tools.keys import KEY_NAMES, canonical_key
from vlagent.tools.limits import MAX_KEYS, MAX_SCROLL_PIXELS, ScrollPixels, Seconds, Text
from vlagent.tools.points import Point

_CLICK = ("coordinate",)

COMPUTER_ACTIONS: dict[str, ActionSpec] = {
    "key": ActionSpec('Press the keys in `keys` together, e.g. ["ctrl", "c"].', ("keys",)),
    "type": ActionSpec("Type the string `text` on the keyboard.", ("text",)),
    "mouse_move": ActionSpec("Move the pointer to `coordinate`.", ("coordinate",)),
    "left_click": ActionSpec("Click the left button at `coordinate`.", optional=_CLICK),
    "left_click_drag": ActionSpec(
        "Press the left button at `start_coordinate` (default: where the pointer is) and drag "
        "to `coordinate`.",
        ("coordinate",),
        ("start_coordinate",),
    ),
    "right_click": ActionSpec("Click the right button at `coordinate`.", optional=_CLICK),
    "middle_click": ActionSpec("Click the middle button at `coordinate`.", optional=_CLICK),
    "double_click": ActionSpec("Double-click the left button at `coordinate`.", optional=_CLICK),
    "triple_click": ActionSpec("Triple-click the left button at `coordinate`.", optional=_CLICK),
    "scroll": ActionSpec(
        "Turn the mouse wheel by `pixels`: positive scrolls up, negative down. The wheel turns "
        "in clicks, one per 100 pixels (at least one); each program scrolls its own distance "
        "per click.",
        ("pixels",),
        _CLICK,
    ),
    "hscroll": ActionSpec(
        "Scroll sideways by `pixels`, in wheel clicks of 100 pixels like `scroll`: positive "
        "scrolls right, negative left.",
        ("pixels",),
        _CLICK,
    ),
    "wait": ActionSpec("Wait `time` seconds for the screen to change.", ("time",)),
    "terminate": ActionSpec("End the task, with `status` success or failure.", ("status",)),
    "answer": ActionSpec("Give `text` as the answer to the user's question and end.", ("text",)),
}


class ComputerUse(GuiTool):
    """Use a mouse and keyboard to interact with a computer. Pick one action per call; the screen
    is shown after each action."""

    tool_name: ClassVar[str] = "computer_use"
    ACTIONS: ClassVar[dict[str, ActionSpec]] = COMPUTER_ACTIONS
    # For grammar-constrained decoding: only key names that validate.
    STRICT_FIELDS: ClassVar[dict[str, dict[str, Any]]] = {
        "keys": {
            "type": "array",
            "items": {"enum": sorted(KEY_NAMES)},
            "minItems": 1,
            "maxItems": 4,
        },
        "pixels": {"type": "integer", "minimum": -MAX_SCROLL_PIXELS, "maximum": MAX_SCROLL_PIXELS},
    }

    action: Literal[
        "key",
        "type",
        "mouse_move",
        "left_click",
        "left_click_drag",
        "right_click",
        "middle_click",
        "double_click",
        "triple_click",
        "scroll",
        "hscroll",
        "wait",
        "terminate",
        "answer",
    ] = Field(description=action_help(COMPUTER_ACTIONS))
    keys: list[str] | None = Field(
        None, min_length=1, description="Key names pressed together, for `key`."
    )
    text: Text | None = Field(None, description="Text for `type` and `answer`.")
    coordinate: Point | None = Field(None, description="[x, y]: the point to act on.")
    start_coordinate: Point | None = Field(
        None, description="[x, y]: where a `left_click_drag` starts (default: the pointer)."
    )
    pixels: ScrollPixels | None = Field(
        None,
        description="Scroll amount for `scroll` and `hscroll`: one wheel click per 100 pixels.",
    )
    time: Seconds | None = Field(None, description="Seconds to `wait` (at most 60).")
    status: Literal["success", "failure"] | None = Field(
        None, description="How the task ended, for `terminate`."
    )

    @field_validator("keys")
    @classmethod
    def _known_keys(cls, keys: list[str] | None) -> list[str] | None:
        """Each key in its canonical spelling (``Control`` → ``ctrl``); ``ctrl+c`` counts as two."""
        if keys is None:
            return None
        names = [part for key in keys for part in (key.split("+") if key.strip() != "+" else [key])]
        canonical = []
        for name in names:
            found = canonical_key(name)
            if found is None:
                raise ValueError(
                    f"unknown key {name!r}; use names like ctrl, alt, shift, win, enter, esc, tab, "
                    "space, backspace, delete, up, down, left, right, pageup, home, f1-f24, a-z, "
                    "0-9"
                )
            canonical.append(found)
        if len(canonical) > MAX_KEYS:
            raise ValueError(
                f"{len(canonical)} keys at once; at most {MAX_KEYS} keys are pressed together"
            )
        return canonical
