"""``to_gym`` for learning: an action space whose random samples are calls that validate, with
finite bounds from each tool's schema, and Gymnasium's terminated / truncated kept apart."""

from __future__ import annotations

from typing import Any, Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field, create_model

from tests.conftest import need
from vlagent.environments import (
    EnvironmentUnavailable,
    FromGym,
    MemoryEnvironment,
    discrete_tool,
    to_gym,
)
from vlagent.environments.gym_spaces import tool_space
from vlagent.tools import Point, ToolCall, ToolError, ToolSet


def _valid_share(env: Any, samples: int = 1000) -> float:
    """The share of ``samples`` random actions whose call validates."""
    env.action_space.seed(0)
    inner = env.unwrapped
    valid = 0
    for _ in range(samples):
        action = env.action_space.sample()
        name = inner.tool_names[int(action["tool"])]
        arguments = inner.tools[name].arguments(action["arguments"][name])
        try:
            inner.environment.toolset.validate(ToolCall(name, arguments))
            valid += 1
        except ToolError:
            pass
    return valid / samples


def test_random_actions_of_the_arm_validate_and_its_reach_bounds_the_position_box(
    sim_arm,  # type: ignore[no-untyped-def]
) -> None:
    need("gymnasium")
    env = to_gym(sim_arm(0))
    assert _valid_share(env) >= 0.99
    position = env.action_space["arguments"]["move_to"]["values"]["position"]
    assert list(position.low) == [-0.35, -0.35, 0.0] and list(position.high) == [0.35, 0.35, 0.5]
    forms = [set(form.fields) for form in env.unwrapped.tools["move_to"].forms]
    assert {"position", "height"} in forms and {"camera", "point", "height"} in forms
    state = env.observation_space["state"]["gripper_position_m"]
    assert list(state.high) == [0.35, 0.35, 0.5]


@pytest.mark.parametrize("space", ["mobile", "computer"])
def test_random_actions_of_a_phone_and_a_desktop_validate(space: str) -> None:
    need("gymnasium")
    env = to_gym(MemoryEnvironment(size=(320, 180), space=space))
    assert _valid_share(env) >= 0.99
    assert env.metadata["render_fps"] == 1


def test_a_sample_gives_only_its_forms_arguments() -> None:
    need("gymnasium")
    env = to_gym(MemoryEnvironment(size=(320, 180), space="mobile"))
    tool = env.unwrapped.tools["mobile_use"]
    sample = env.unwrapped.action("mobile_use", action="click", coordinate=[0.25, 0.5])
    arguments = tool.arguments(sample["arguments"]["mobile_use"])
    assert arguments == {"action": "click", "coordinate": [0.25, 0.5]}  # no text, no time …
    assert set(sample["arguments"]["mobile_use"]["values"]) > {"coordinate"}  # ignored values


def test_terminated_and_truncated_stay_what_gymnasium_said() -> None:
    gymnasium = need("gymnasium")
    need("pygame")
    env = to_gym(
        FromGym(
            gymnasium.make("CartPole-v1", render_mode="rgb_array"),
            [discrete_tool(["left", "right"])],
            0,
        )
    )

    def play(policy: Any) -> tuple[int, bool, bool, dict[str, Any]]:
        observation, _ = env.reset(seed=0)
        for steps in range(1, 1000):
            cart = observation["state"]["observation"]
            step = env.step(env.unwrapped.action("act", move=policy(cart)))
            observation, _, terminated, truncated, info = step
            if terminated or truncated:
                return steps, terminated, truncated, info
        raise AssertionError("the episode never ended")

    steps, terminated, truncated, info = play(
        lambda cart: "right" if cart[2] + 0.5 * cart[3] > 0 else "left"  # balance it
    )
    assert steps == 500 and truncated and not terminated and info["return"] == 500.0
    steps, terminated, truncated, _ = play(lambda cart: "right")  # drop it
    assert steps == 8 and terminated and not truncated
    env.close()


def test_a_tool_with_an_argument_gymnasium_cannot_hold_is_refused_in_one_line() -> None:
    need("gymnasium")
    tools = ToolSet()
    tool = create_model("Label", __config__=ConfigDict(extra="forbid"), tags=(dict[str, int], ...))
    tools.register(tool)
    with pytest.raises(EnvironmentUnavailable, match="'tags'.*no Gymnasium space"):
        tool_space(tools, "label", tool)


# -- the class: any tool a user writes ----------------------------------------------------------


@st.composite
def _fields(draw: st.DrawFn) -> tuple[Any, Any]:
    """One argument of a generated tool: its annotation and its pydantic default."""
    kind = draw(st.sampled_from(["float", "int", "choice", "bool", "str", "point", "tuple"]))
    low = draw(st.floats(-1e6, 1e6, allow_nan=False))
    span = draw(st.floats(1e-3, 1e6, allow_nan=False))
    annotation: Any = {
        "float": float,
        "int": int,
        "bool": bool,
        "str": str,
        "point": Point,
        "tuple": tuple[float, float, float],
        "choice": Literal[
            tuple(
                draw(st.lists(st.text("abcxyz", min_size=1), min_size=1, max_size=5, unique=True))
            )
        ],  # type: ignore[misc]
    }[kind]
    bounds: dict[str, Any] = {}
    if kind == "float":
        bounds = {"ge": low, "le": low + span}
    elif kind == "int":
        bounds = {"ge": int(low), "le": int(low) + max(int(span), 1)}
    presence = draw(st.sampled_from(["required", "optional", "defaulted"]))
    if presence == "required":
        return annotation, Field(..., **bounds)
    if presence == "optional" or kind in ("point", "tuple", "choice", "str"):
        return annotation | None, Field(None, **bounds)
    default = {"float": low, "int": int(low), "bool": False}[kind]
    return annotation, Field(default, **bounds)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.from_regex(r"[a-z]{1,8}", fullmatch=True), _fields(), max_size=5))
def test_random_samples_of_any_tools_space_validate(fields: dict[str, tuple[Any, Any]]) -> None:
    """For every tool made of bounded numbers, choices, flags, strings, points and tuples, in
    any mix of required, optional and defaulted arguments: 99% of random samples validate."""
    need("gymnasium")
    tool: type[BaseModel] = create_model(
        "Generated", __config__=ConfigDict(extra="forbid", frozen=True), **fields
    )
    tools = ToolSet()
    tools.register(tool, name="generated")
    space = tool_space(tools, "generated", tool)
    space.space.seed(1)
    valid = 0
    for _ in range(200):
        try:
            tools.validate(ToolCall("generated", space.arguments(space.space.sample())))
            valid += 1
        except ToolError:
            pass
    assert valid >= 198
    for name, (_, field) in fields.items():
        value = space.values[name].space
        bounded = [m for m in field.metadata if hasattr(m, "ge")]
        if bounded and hasattr(value, "low"):  # a bounded float: the schema's own bounds
            assert float(value.low) == bounded[0].ge
        elif bounded:  # a bounded int: a Discrete from its least to its most
            assert int(value.start) == bounded[0].ge


@pytest.mark.parametrize("space", ["computer", "mobile"])
def test_no_sampled_action_waits_longer_than_a_learner_can_afford(space: str) -> None:
    """A sampled ``wait`` (or long press, or swipe) blocks for its duration: the space samples
    at most LEARNING_WAIT_S, so Gymnasium's check_env and a learner never sit for a minute."""
    import math

    from vlagent.environments.gym_spaces import LEARNING_WAIT_S
    from vlagent.tools.limits import MAX_WAIT_S

    need("gymnasium")
    environment = MemoryEnvironment(space=space, size=(320, 200))
    env = to_gym(environment)
    tools, durations = environment.toolset, 0
    for tool_name in tools.names:
        schema = tools[tool_name].model_json_schema().get("properties", {})
        for name, prop in schema.items():
            options = [p for p in prop.get("anyOf", [prop]) if p.get("type") != "null"]
            if any(p.get("maximum") == MAX_WAIT_S for p in options):
                durations += 1
                box = env.action_space["arguments"][tool_name]["values"][name]
                assert math.isfinite(box.high) and box.high <= LEARNING_WAIT_S, name
    assert durations >= 1
