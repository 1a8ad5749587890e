"""A Gymnasium episode's outcome is what happened, never a guess from its return: terminated or
truncated and the return are reported; success or failure come only from ``info["is_success"]``
or the user's rule, and otherwise the run ends ``ended`` (neither)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import need, tool_call
from vlagent.agent import Agent, Limits
from vlagent.agent.cli import exitcodes
from vlagent.agent.runtimes.function import FunctionRuntime
from vlagent.agent.trajectory import Recorder, read_trajectory
from vlagent.environments import ActionResult, FromGym, discrete_tool
from vlagent.environments.base import EnvironmentFault, EnvironmentUnavailable
from vlagent.environments.gym_success import success_rule
from vlagent.prompts import Prompt, get_dialect
from vlagent.tools import ToolCall

CARTPOLE = ["left", "right"]
CLIFF = ["up", "right", "down", "left"]


def _play(env: FromGym, policy: Any) -> ActionResult:
    """Step ``env`` with ``policy(observation) -> move`` until the episode ends."""
    for _ in range(10_000):
        move = policy(env._observation)
        result = env.execute(env.toolset.validate(ToolCall("act", {"move": move})))
        if result.ends is not None:
            return result
    raise AssertionError("the episode never ended")


def _cartpole(success: Any = None) -> FromGym:
    gymnasium = need("gymnasium")
    return FromGym(gymnasium.make("CartPole-v1"), [discrete_tool(CARTPOLE)], 0, success=success)


def _dropped(observation: Any) -> str:
    return "right"  # the pole falls within a few steps


def _balanced(observation: Any) -> str:
    _, _, angle, spin = observation  # push toward where the pole leans
    return "right" if angle + 0.5 * spin > 0 else "left"


def test_a_cartpole_pole_dropped_after_8_steps_is_neither_success_nor_failure() -> None:
    result = _play(_cartpole(), _dropped)
    assert result.ends is not None and result.ends.status == "ended"
    assert result.data == {"reward": 1.0, "terminated": True, "truncated": False, "return": 8.0}
    assert "terminated after 8 steps" in result.message and "return 8" in result.message


def test_a_cartpole_balanced_to_the_500_step_limit_is_truncated_not_terminated() -> None:
    result = _play(_cartpole(), _balanced)
    assert result.ends is not None and result.ends.status == "ended"
    assert result.data["truncated"] is True and result.data["terminated"] is False
    assert result.data["return"] == 500.0 and "was truncated after 500 steps" in result.message


@pytest.mark.parametrize(
    ("rule", "policy", "status"),
    [
        ("truncated", _balanced, "success"),
        ("truncated", _dropped, "failure"),
        ("total_return >= 475", _balanced, "success"),
        ("total_return >= 475", _dropped, "failure"),
        ("not terminated and len(obs) == 4", _balanced, "success"),
    ],
)
def test_cartpole_with_a_declared_rule_succeeds_only_when_the_rule_holds(
    rule: str, policy: Any, status: str
) -> None:
    result = _play(_cartpole(rule), policy)
    assert result.ends is not None and result.ends.status == status
    assert repr(rule) in result.message


def test_reaching_cliffwalkings_goal_with_a_negative_return_is_not_a_failure() -> None:
    gymnasium = need("gymnasium")
    path = iter(["up", *["right"] * 11, "down"])
    cliff = FromGym(gymnasium.make("CliffWalking-v1"), [discrete_tool(CLIFF)], 0)
    result = _play(cliff, lambda _: next(path))
    assert result.ends is not None and result.ends.status == "ended"
    assert result.data["terminated"] is True and result.data["return"] == -13.0
    # The user says what the goal is: for CliffWalking, reaching it is terminating.
    path = iter(["up", *["right"] * 11, "down"])
    cliff = FromGym(
        gymnasium.make("CliffWalking-v1"),
        [discrete_tool(CLIFF)],
        0,
        success=lambda obs, reward, terminated, truncated, info, total: terminated and obs == 47,
    )
    result = _play(cliff, lambda _: next(path))
    assert result.ends is not None and result.ends.status == "success"


class _Reporting:
    """A Gymnasium-like env that ends after ``length`` steps with the given rewards and reports
    ``info`` at the end (``is_success`` or not): the class of episodes whose verdict must not be
    read from the rewards."""

    render_mode = None
    spec = None

    def __init__(self, rewards: list[float], truncate: bool, info: dict[str, Any]) -> None:
        self.rewards, self.truncate, self.info, self.t = rewards, truncate, info, 0

    def reset(self, seed: int | None = None) -> tuple[int, dict[str, Any]]:
        self.t = 0
        return 0, {}

    def step(self, action: int) -> tuple[int, float, bool, bool, dict[str, Any]]:
        self.t += 1
        last = self.t == len(self.rewards)
        info = self.info if last else {}
        return (
            self.t,
            self.rewards[self.t - 1],
            last and not self.truncate,
            last and self.truncate,
            info,
        )

    def close(self) -> None:
        pass


def _episode(
    rewards: list[float], truncate: bool, info: dict[str, Any], rule: Any = None
) -> ActionResult:
    env = FromGym(_Reporting(rewards, truncate, info), [discrete_tool(["go"])], success=rule)
    return _play(env, lambda _: "go")


@pytest.mark.parametrize("reported", [True, False, 1.0, 0.0])
def test_an_environment_that_reports_is_success_decides_the_outcome(reported: Any) -> None:
    np = need("numpy")
    for value in (reported, np.float32(reported), np.bool_(bool(reported))):
        result = _episode([-5.0, -1.0], False, {"is_success": value})
        assert result.ends is not None
        assert result.ends.status == ("success" if reported else "failure")


def test_an_is_success_that_is_not_a_verdict_breaks_the_run_in_one_line() -> None:
    for value in ("yes", None, [1, 0]):
        with pytest.raises(EnvironmentFault, match="is_success"):
            _episode([1.0], False, {"is_success": value})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rewards=st.lists(
        st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False), min_size=1, max_size=12
    ),
    truncate=st.booleans(),
    reported=st.none() | st.booleans(),
    rule=st.sampled_from([None, "truncated", "terminated", "total_return > 0", "reward < 0"]),
)
def test_no_episode_outcome_is_read_from_its_rewards(
    rewards: list[float], truncate: bool, reported: bool | None, rule: str | None
) -> None:
    need("gymnasium")
    info = {} if reported is None else {"is_success": reported}
    result = _episode(rewards, truncate, info, rule)
    assert result.ends is not None
    total = sum(rewards)
    assert result.data["terminated"] is (not truncate) and result.data["truncated"] is truncate
    assert result.data["return"] == pytest.approx(total)
    if rule is not None:
        holds = {
            "truncated": truncate,
            "terminated": not truncate,
            "total_return > 0": result.data["return"] > 0,
            "reward < 0": rewards[-1] < 0,
        }[rule]
        assert result.ends.status == ("success" if holds else "failure")
    elif reported is not None:
        assert result.ends.status == ("success" if reported else "failure")
    else:
        assert result.ends.status == "ended"


def test_a_run_whose_episode_ends_without_a_verdict_ends_ended_with_its_own_exit_code(
    tmp_path: Path,
) -> None:
    gymnasium = need("gymnasium")
    need("pygame")  # CartPole draws its rgb_array with pygame
    env = FromGym(
        gymnasium.make("CartPole-v1", render_mode="rgb_array"), [discrete_tool(CARTPOLE)], 0
    )

    def push_right(prompt: Prompt) -> str:
        return tool_call("act", move="right")

    agent = Agent(
        FunctionRuntime(push_right),
        get_dialect("qwen2-vl"),
        env,
        recorder=Recorder(tmp_path / "run"),
        limits=Limits(max_steps=30, max_repeats=50),
    )
    result = agent.run("Balance the pole")
    env.close()
    assert result.status == "ended" and exitcodes.BY_STATUS["ended"] == exitcodes.ENDED == 5
    trajectory = read_trajectory(tmp_path / "run")
    assert trajectory.end is not None and trajectory.end.status == "ended"
    assert "terminated after 8 steps" in trajectory.end.reason
    assert trajectory.steps[-1].result is not None
    assert trajectory.steps[-1].result.data["return"] == 8.0


# -- the rule itself -------------------------------------------------------------------------------

ESCAPES = [
    "().__class__.__bases__[0].__subclasses__()",
    "__import__('os').system('true')",
    "open('/etc/passwd')",
    "(lambda: 1)()",
    "[x for x in info]",
    "10**10**10",
    "exec('1')",
    "getattr(info, 'keys')",
    "info.get('is_success')",
    "max(obs, key=len)",
    "os",
    "print(1)",
]


@pytest.mark.parametrize("text", ESCAPES)
def test_a_rule_that_reaches_beyond_the_episode_is_refused_before_the_run(text: str) -> None:
    with pytest.raises(EnvironmentUnavailable, match="--gym-success"):
        success_rule(text)


_ALLOWED_NAMES = ["obs", "reward", "terminated", "truncated", "info", "total_return"]


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.sampled_from(_ALLOWED_NAMES + ["1", "0.5", "'is_success'", "True", "None"])
        | st.from_regex(r"[a-z_]{1,8}", fullmatch=True),
        lambda inner: st.one_of(
            st.tuples(
                inner,
                st.sampled_from(["+", "-", "*", "and", "or", "<", "==", "in", "**", "."]),
                inner,
            ).map(" ".join),
            inner.map(lambda t: f"not {t}"),
            inner.map(lambda t: f"({t})"),
            st.tuples(inner, inner).map(lambda p: f"{p[0]}[{p[1]}]"),
            st.tuples(st.sampled_from(["len", "abs", "eval", "vars", "type", "id"]), inner).map(
                lambda p: f"{p[0]}({p[1]})"
            ),
        ),
        max_leaves=6,
    )
)
def test_every_rule_is_either_refused_in_one_line_or_judged_without_escaping(text: str) -> None:
    """The class: any text as --gym-success. It is refused at the start (EnvironmentUnavailable),
    or it is a rule whose every failure on an episode is one EnvironmentFault; a name other than
    the six and the listed functions, an attribute or a power never gets through."""
    from vlagent.environments.gym_success import judge

    try:
        rule = success_rule(text)
    except EnvironmentUnavailable as exc:
        assert "\n" not in str(exc)
        return
    assert rule is not None
    assert "**" not in text and "." not in text.replace("0.5", "")
    for word in ("eval", "vars", "type", "id"):
        assert f"{word}(" not in text
    try:
        verdict = judge(rule, [1.0, 2.0], 1.0, True, False, {"is_success": True}, 3.0)
    except EnvironmentFault as exc:
        assert "\n" not in str(exc)
    else:
        assert verdict in (True, False)


def test_a_rule_that_fails_on_the_episode_ends_the_run_in_error_not_a_crash() -> None:
    gymnasium = need("gymnasium")
    need("pygame")
    env = FromGym(
        gymnasium.make("CartPole-v1", render_mode="rgb_array"),
        [discrete_tool(CARTPOLE)],
        0,
        success="info['is_success']",  # CartPole never reports it: a KeyError at the end
    )
    agent = Agent(
        FunctionRuntime(lambda prompt: tool_call("act", move="right")),
        get_dialect("qwen2-vl"),
        env,
        limits=Limits(max_steps=30, max_repeats=50),
    )
    result = agent.run("Balance the pole")
    env.close()
    assert result.status == "error" and "the success rule raised KeyError" in result.reason
    assert exitcodes.BY_STATUS[result.status] == exitcodes.RUN_ERROR
