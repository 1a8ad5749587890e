"""What an agent may do: tool argument models, their schemas, and validation. No I/O here, but for
``files``: the one file layer (reading inside a root, writing without following links) that every
other layer shares."""

from vlagent.tools.computer_use import ComputerUse
from vlagent.tools.functions import tool_from_function
from vlagent.tools.gui import GuiTool, RunEnd
from vlagent.tools.mobile_use import MobileUse, MobileUseWithElements
from vlagent.tools.points import Point, ScreenPoint, is_on_screen, point_fields
from vlagent.tools.toolset import Handler, ToolCall, ToolError, ToolSet


def computer_tools() -> ToolSet:
    """The desktop action space: ``computer_use``."""
    return ToolSet([ComputerUse])


def mobile_tools(elements: bool = False) -> ToolSet:
    """The Android action space: ``mobile_use``; with ``elements``, taps may name an element of
    the listed UI tree by its number."""
    return ToolSet([MobileUseWithElements if elements else MobileUse])


def action_space_of(tool: str) -> ToolSet:
    """The built-in action space that a recorded or gold call of ``tool`` belongs to."""
    return computer_tools() if tool == "computer_use" else mobile_tools()


__all__ = [
    "ComputerUse",
    "GuiTool",
    "Handler",
    "MobileUse",
    "MobileUseWithElements",
    "Point",
    "RunEnd",
    "ScreenPoint",
    "ToolCall",
    "ToolError",
    "ToolSet",
    "action_space_of",
    "computer_tools",
    "is_on_screen",
    "mobile_tools",
    "point_fields",
    "tool_from_function",
]
