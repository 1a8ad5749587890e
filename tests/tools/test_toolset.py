"""Tool schemas for prompts, and custom tools (how a robot stack adds its own actions)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field

from vlagent.tools import Point, ToolCall, ToolError, ToolSet, mobile_tools, point_fields


class MoveTo(BaseModel):
    """Move the gripper to a point, in metres from the robot's base."""

    x: float = Field(ge=-1, le=1)
    y: float = Field(ge=-1, le=1)
    z: float = Field(ge=0, le=1, description="Height above the table.")


class PointAt(BaseModel):
    """Point the camera at a place on the screen."""

    target: Point


def test_a_custom_tool_validates_into_its_own_model() -> None:
    tools = ToolSet([MoveTo])
    action = tools.validate(ToolCall("move_to", {"x": 0.1, "y": -0.2, "z": 0.3}))
    assert action == MoveTo(x=0.1, y=-0.2, z=0.3)
    with pytest.raises(
        ToolError, match=r"move_to: 'z' -0.5: input should be greater than or equal to 0"
    ):
        tools.validate(ToolCall("move_to", {"x": 0, "y": 0, "z": -0.5}))


def test_custom_tool_schema_is_plain() -> None:
    schema = ToolSet([MoveTo]).function_schemas()[0]
    assert schema["type"] == "function"
    function = schema["function"]
    assert function["name"] == "move_to"
    assert (
        function["description"] == "Move the gripper to a point, in metres from the robot's base."
    )
    params = function["parameters"]
    assert params["required"] == ["x", "y", "z"]
    assert params["properties"]["z"] == {
        "type": "number",
        "minimum": 0,
        "maximum": 1,
        "description": "Height above the table.",
    }
    assert "title" not in str(params)


def test_optional_arguments_are_not_required_and_not_nullable() -> None:
    params = mobile_tools().function_schemas()[0]["function"]["parameters"]
    assert params["required"] == ["action"]
    assert params["properties"]["coordinate"]["type"] == "array"
    assert params["properties"]["coordinate"]["items"] == {"type": "number"}
    assert "anyOf" not in str(params) and "null" not in str(params)


def test_screen_note_goes_only_to_tools_that_take_points() -> None:
    tools = ToolSet([MoveTo, PointAt])
    schemas = {
        s["function"]["name"]: s["function"] for s in tools.function_schemas("Screen 1000x1000.")
    }
    assert schemas["point_at"]["description"].endswith("Screen 1000x1000.")
    assert "1000x1000" not in schemas["move_to"]["description"]
    assert point_fields(PointAt) == {"target"}


def test_custom_points_are_checked_on_screen() -> None:
    with pytest.raises(ToolError, match="outside the screen"):
        ToolSet([PointAt]).validate(ToolCall("point_at", {"target": [1.5, 0.5]}))


def test_duplicate_names_are_refused() -> None:
    tools = ToolSet([MoveTo])
    with pytest.raises(ValueError, match="already registered"):
        tools.register(MoveTo)
    tools.register(MoveTo, name="move_arm")
    assert tools.names == ["move_to", "move_arm"]


def test_descriptions_read_as_prose_not_as_source_lines() -> None:
    from pydantic import BaseModel

    from vlagent.tools import computer_tools
    from vlagent.tools.schema import describe

    class Arm(BaseModel):
        """Move the arm. Pick one
        target per call.

        - the first item, which
          wraps
        - the second
        """

    assert (
        describe(Arm)
        == "Move the arm. Pick one target per call.\n\n- the first item, which wraps\n- the second"
    )
    assert "\n" not in computer_tools().function_schemas()[0]["function"]["description"]
