"""The tools a UI test asks the model to answer with: a verdict for ``check`` and ``wait_for``, a
point for ``tap``, and a typed answer for ``query``. Answers are validated like every other
action (a wrong type goes back to the model with the error), never read out of free text."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, Field, create_model

from vlagent.tools import Point, ToolCall, ToolSet


class Verdict(BaseModel):
    """Say whether the statement holds on the current screen, and what on the screen shows it."""

    tool_name: ClassVar[str] = "verdict"
    holds: bool = Field(description="true if the statement holds on the current screen, else false")
    reason: str = Field(description="what on the screen shows it, in one sentence")


class Tap(BaseModel):
    """Tap (click) the one element the instruction describes."""

    tool_name: ClassVar[str] = "tap"
    coordinate: Point = Field(description="the [x, y] point to tap, at the element's centre")


ANSWER_DOC = "Give the answer to the question, read from the current screen."


def answer_tool(schema: Any) -> type[BaseModel]:
    """The tool ``query`` asks for: a pydantic model's own fields (flat: the function-calling
    schemas models read have no nested objects), or for a plain type such as ``int`` or
    ``list[str]``, one argument ``value`` of that type."""
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return create_model("Answer", __base__=schema, __doc__=ANSWER_DOC)
    model: type[BaseModel] = create_model(
        "Answer", __doc__=ANSWER_DOC, value=(schema, Field(description="the answer"))
    )
    return model


def answer_value(schema: Any, answer: BaseModel) -> Any:
    """What ``query`` returns: an instance of the caller's model, or the plain value."""
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return schema.model_validate(answer.model_dump())
    return getattr(answer, "value")


def only(tool: type[BaseModel], name: str | None = None) -> ToolSet:
    tools = ToolSet()
    tools.register(tool, name)
    return tools


def click_on(environment_tools: ToolSet, point: tuple[float, float]) -> BaseModel:
    """The environment's own click at a normalized point (mobile_use or computer_use)."""
    if "mobile_use" in environment_tools.names:
        call = ToolCall("mobile_use", {"action": "click", "coordinate": list(point)})
    elif "computer_use" in environment_tools.names:
        call = ToolCall("computer_use", {"action": "left_click", "coordinate": list(point)})
    else:
        raise TypeError(
            f"tap needs a screen environment; this one has the tools {environment_tools.names}"
        )
    return environment_tools.validate(call)
