"""Whatever a model writes, reading it ends in a valid action in three spaces or in the project's
own error, fed back to the model: fuzzed with hypothesis for every dialect, plus a corpus of
answers that broke runs before (strings and booleans as points, NaN, huge numbers, lone
surrogates, unbounded lengths)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vlagent.agent.core.interpret import AnswerError, read_answer
from vlagent.agent.core.thinking import encodable as _encodable
from vlagent.prompts import available, get_dialect
from vlagent.tools import ToolSet, computer_tools, mobile_tools

SCREENS = [(720, 1280), (1920, 1080), (1080, 2400), (1280, 800)]
SPACES = {"computer_use": computer_tools(), "mobile_use": mobile_tools()}

# JSON values a model (or a broken server) can produce, the odd ones included.
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**450), max_value=10**450),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["\ud800", "1", "0.5", "NaN", "", "x" * 3000]),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
points = st.one_of(
    values,
    st.lists(st.one_of(st.integers(-3000, 3000), st.floats(-3000, 3000)), min_size=2, max_size=2),
)


PLAUSIBLE: dict[str, Any] = {
    "coordinate": st.lists(
        st.one_of(st.integers(-200, 3000), st.floats(-200, 3000)), min_size=2, max_size=2
    ),
    "text": st.text(min_size=1, max_size=20),
    "keys": st.lists(
        st.sampled_from(["ctrl", "c", "alt", "F4", "win", "enter"]), min_size=1, max_size=3
    ),
    "pixels": st.integers(-20_000, 20_000),
    "time": st.one_of(st.integers(0, 70), st.floats(0, 70)),
    "status": st.sampled_from(["success", "failure", "maybe"]),
    "button": st.sampled_from(["Back", "Home", "Menu", "Enter", "Power"]),
}


@st.composite
def calls(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """Mostly well-formed calls (a known action and the arguments it takes, plausible values),
    with any argument now and then replaced by an odd JSON value or an extra one added."""
    tool = draw(st.sampled_from(sorted(SPACES)))
    model = SPACES[tool][tool]
    specs = model.ACTIONS  # type: ignore[attr-defined]
    action = draw(st.sampled_from(list(specs)))
    spec = specs[action]
    arguments: dict[str, Any] = {"action": action if draw(st.integers(0, 9)) else draw(values)}
    for name in spec.required + tuple(n for n in spec.optional if draw(st.booleans())):
        key = "coordinate" if "coordinate" in name else name
        arguments[name] = (
            draw(values) if not draw(st.integers(0, 5)) else draw(PLAUSIBLE.get(key, values))
        )
    if not draw(st.integers(0, 5)):
        arguments[draw(st.sampled_from(sorted(model.model_fields)))] = draw(points)
    return tool, arguments


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=True)  # NaN / Infinity / huge ints / \\ud800 escapes


def _as_text(dialect: str, tool: str, arguments: dict[str, Any], form: int) -> str:
    if dialect == "json":
        return _dumps({"name": tool, "arguments": arguments})
    if dialect.startswith("ui-tars"):
        point = arguments.get("coordinate")
        inside = ",".join(str(v) for v in point) if isinstance(point, list) else str(point)
        kind = arguments.get("action")
        forms = [
            f"Action: click(start_box='({inside})')",
            f"Thought: t\nAction: {kind}(point='<point>{inside.replace(',', ' ')}</point>')",
            f"Action: type(content={_dumps(arguments.get('text'))})",
            f"Action: scroll(start_box='({inside})', direction={_dumps(arguments.get('text'))})",
        ]
        return forms[form % len(forms)]
    if form % 2:
        params = "".join(f"<parameter={k}>{_dumps(v)}</parameter>" for k, v in arguments.items())
        return f"<tool_call><function={tool}>{params}</function></tool_call>"
    return "<tool_call>\n" + _dumps({"name": tool, "arguments": arguments}) + "\n</tool_call>"


def check(text: str, dialect_name: str, screen: tuple[int, int], toolset: ToolSet) -> None:
    """Read ``text`` as a run does; a success must be a valid action with converted points."""
    dialect = get_dialect(dialect_name)
    frame = dialect.frame_for(screen)
    text = _encodable(text)  # as the loop receives it

    def to_device(p: tuple[float, float]) -> tuple[float, float]:
        return (p[0] * screen[0], p[1] * screen[1])

    try:
        reading = read_answer(text, dialect, frame, toolset, to_device)
    except AnswerError:
        return
    record, call = reading.record, reading.call
    json.dumps(record.model_dump(mode="json"), allow_nan=False).encode("utf-8")  # recordable
    for name in toolset.point_fields(call.name):
        point = record.normalized.get(name)
        if point is None:
            continue
        raw = call.raw()[name]
        assert all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in raw), raw
        assert all(0.0 <= v <= 1.0 and math.isfinite(v) for v in point), (raw, point)
        assert point == pytest.approx([raw[0] / frame.width, raw[1] / frame.height]), (raw, point)
        x, y = record.device[name]
        assert 0 <= x <= screen[0] and 0 <= y <= screen[1]


@pytest.mark.parametrize("dialect", available())
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(call=calls(), form=st.integers(0, 3), screen=st.sampled_from(SCREENS))
def test_fuzzed_calls_become_valid_actions_or_the_projects_own_errors(
    dialect: str, call: tuple[str, dict[str, Any]], form: int, screen: tuple[int, int]
) -> None:
    tool, arguments = call
    check(_as_text(dialect, tool, arguments, form), dialect, screen, SPACES[tool])


@pytest.mark.parametrize("dialect", available())
@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=300), screen=st.sampled_from(SCREENS))
def test_any_text_reads_as_an_action_or_the_projects_own_error(
    dialect: str, text: str, screen: tuple[int, int]
) -> None:
    check(text, dialect, screen, mobile_tools())
    check("<tool_call>" + text, dialect, screen, computer_tools())
    check("Action: " + text, dialect, screen, computer_tools())


def _call(**arguments: Any) -> str:
    return (
        "<tool_call>\n"
        + json.dumps({"name": "mobile_use", "arguments": arguments})
        + "\n</tool_call>"
    )


HOSTILE = {
    "string point": (_call(action="click", coordinate=["1", "1"]), "must be a number"),
    "boolean point": (_call(action="click", coordinate=[True, True]), "must be a number"),
    "xml string point": (
        "<tool_call><function=mobile_use><parameter=action>click</parameter>"
        '<parameter=coordinate>["1", "1"]</parameter></function></tool_call>',
        "must be a number",
    ),
    "NaN": (
        '<tool_call>{"name": "mobile_use", "arguments": {"action": "click", "coordinate": [NaN, '
        "5]}}</tool_call>",
        "finite",
    ),
    "Infinity": (
        '<tool_call>{"name": "mobile_use", "arguments": {"action": "wait", "time": '
        "Infinity}}</tool_call>",
        "finite",
    ),
    "1e400": (
        '<tool_call>{"name": "mobile_use", "arguments": {"action": "click", "coordinate": [1e400, '
        "5]}}</tool_call>",
        "finite",
    ),
    "400 digits": (
        '<tool_call>{"name": "mobile_use", "arguments": {"action": "click", "coordinate": ['
        + "9" * 400
        + ", 5]}}</tool_call>",
        "too large",
    ),
    "lone surrogate": (
        '<tool_call>{"name": "mobile_use", "arguments": {"action": "type", "text": '
        '"\\ud800"}}</tool_call>',
        "surrogate",
    ),
    # Under the answer size limit (MAX_ANSWER_CHARS), so validation's text limit speaks.
    "60k text": (_call(action="type", text="a" * 60_000), "at most 2,000"),
    "wait a day": (_call(action="wait", time=86400), "less than or equal to 60"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_answers_are_refused_with_a_message_for_the_model(name: str) -> None:
    text, expected = HOSTILE[name]
    dialect = get_dialect("qwen2-vl")
    with pytest.raises(AnswerError, match=expected) as refused:
        read_answer(
            _encodable(text),
            dialect,
            dialect.frame_for((720, 1280)),
            mobile_tools(),
            lambda p: (p[0] * 720, p[1] * 1280),
        )
    assert len(str(refused.value)) < 400  # the error never carries the 100 KB back


@pytest.mark.parametrize(
    "answer",
    [
        '<tool_call>{"name": "computer_use", "arguments": {"action": "scroll", "pixels": '
        "1000000000000}}</tool_call>",
        '<tool_call>{"name": "computer_use", "arguments": {"action": "key", "keys": '
        + json.dumps(["a"] * 3000)
        + "}}</tool_call>",
    ],
)
def test_unbounded_desktop_actions_are_refused(answer: str) -> None:
    dialect = get_dialect("qwen2-vl")
    with pytest.raises(AnswerError, match="at most|too large"):
        read_answer(answer, dialect, dialect.frame_for((1280, 800)), computer_tools(), lambda p: p)


def test_a_run_fed_the_hostile_corpus_records_every_step_and_executes_nothing_invalid(
    tmp_path: Path,
) -> None:
    from vlagent.agent import Agent, Limits
    from vlagent.agent.runtimes import ScriptedRuntime
    from vlagent.agent.trajectory import Recorder, read_trajectory
    from vlagent.environments import MemoryEnvironment

    answers = [text for text, _ in HOSTILE.values()] + [_call(action="terminate", status="success")]
    env = MemoryEnvironment(size=(720, 1280), space="mobile")
    agent = Agent(
        ScriptedRuntime(answers),
        get_dialect("qwen2-vl"),
        env,
        limits=Limits(max_steps=20, max_retries=20),
        recorder=Recorder(tmp_path / "run"),
    )
    result = agent.run("survive")
    assert result.status == "success" and env.log == []
    trajectory = read_trajectory(tmp_path / "run")
    assert trajectory.problems == [] and len(trajectory.steps) == len(answers)
    assert trajectory.end is not None and trajectory.end.steps == len(answers)
    assert all(
        s.error is not None and s.error.kind in ("parse", "validation")
        for s in trajectory.steps[:-1]
    )
