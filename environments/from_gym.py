"""A Gymnasium environment as a vlagent environment: its rendering (or its image observation) is
what the model sees, and each tool is mapped to one of its actions.

    env = FromGym(gymnasium.make("FrozenLake-v1", render_mode="rgb_array"),
                  [discrete_tool(["left", "down", "right", "up"])])

The episode's end (terminated or truncated) is the run's end. It is a success or a failure only
when ``info["is_success"]`` says so or a rule of the user's does (``success=``, ``--gym-success``:
environments/gym_success.py); otherwise the run ends ``ended``, neither, for a return is not a
verdict. Each step's result records ``reward``, ``terminated``, ``truncated`` and ``return``
(docs/environments.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from vlagent.environments.base import ActionResult, Environment, EnvironmentUnavailable, Observation
from vlagent.environments.gym_success import (
    SuccessRule,
    judge,
    reported_success,
    success_rule,
)
from vlagent.environments.registry import Option
from vlagent.tools import RunEnd, ToolSet

ToAction = Callable[[BaseModel], Any]
"""A validated tool call → the Gymnasium action it stands for."""


def discrete_tool(names: Sequence[str], tool_name: str = "act") -> tuple[type[BaseModel], ToAction]:
    """One tool for a ``Discrete`` action space: ``act(move=<name>)``, the n-th name standing for
    action n."""
    if len(set(names)) != len(names) or not names:
        raise EnvironmentUnavailable(f"action names {list(names)} must be distinct and not empty")
    choice: Any = Literal[tuple(names)]
    tool: type[BaseModel] = create_model(
        "Act",
        __config__=ConfigDict(extra="forbid", frozen=True),
        __doc__=f"Take one action in the environment: {', '.join(names)}.",
        move=(choice, ...),
    )
    tool.tool_name = tool_name  # type: ignore[attr-defined]
    return tool, lambda action: list(names).index(getattr(action, "move"))


def box_tool(
    names: Sequence[str], low: Sequence[float], high: Sequence[float], tool_name: str = "act"
) -> tuple[type[BaseModel], ToAction]:
    """One tool for a one-dimensional ``Box`` action space: ``act(torque=1.5)``, one number per
    named dimension, each checked against its bounds (the schema states them, and a call outside
    them is refused as any invalid call is). The action is the numbers in order, as float32."""
    if len(set(names)) != len(names) or not names or not all(n.isidentifier() for n in names):
        raise EnvironmentUnavailable(
            f"dimension names {list(names)} must be distinct words, one per dimension"
        )
    if not len(names) == len(low) == len(high):
        raise EnvironmentUnavailable(f"{len(names)} names for a Box of {len(low)} dimensions")
    fields: dict[str, Any] = {}
    for name, lo, hi in zip(names, low, high, strict=True):
        ge, le = (float(v) if math.isfinite(float(v)) else None for v in (lo, hi))
        fields[name] = (float, Field(..., allow_inf_nan=False, ge=ge, le=le))
    said = ", ".join(
        f"{n} in [{float(lo):g}, {float(hi):g}]" for n, lo, hi in zip(names, low, high, strict=True)
    )
    tool: type[BaseModel] = create_model(
        "Act",
        __config__=ConfigDict(extra="forbid", frozen=True),
        __doc__=f"Take one action in the environment: {said}.",
        **fields,
    )
    tool.tool_name = tool_name  # type: ignore[attr-defined]

    def to_action(action: BaseModel) -> Any:
        import numpy as np

        return np.array([getattr(action, n) for n in names], dtype=np.float32)

    return tool, to_action


class FromGym(Environment):
    """``env`` (a ``gymnasium.Env``, reset here with ``seed``) driven through ``tools``: each maps
    to the Gymnasium action ``to_action`` gives. The image is ``env.render()`` when its render
    mode is ``rgb_array``, else the observation itself (or its ``image_key`` entry); the rest of a
    Dict observation is the state. ``success`` decides whether an ended episode succeeded: a
    predicate on ``(obs, reward, terminated, truncated, info, total_return)``, its
    ``module:function`` name, or an expression over those names; without one only
    ``info["is_success"]`` decides, and an episode without it ends ``ended``."""

    name: ClassVar[str] = "gym"

    def __init__(
        self,
        env: Any,
        tools: Sequence[tuple[type[BaseModel], ToAction]],
        seed: int | None = None,
        image_key: str = "image",
        success: str | SuccessRule | None = None,
    ) -> None:
        self.env = env
        self.image_key = image_key
        self.success = success_rule(success)
        self._success_text = success if isinstance(success, str) else None
        self._tools = ToolSet()
        for model, to_action in tools:
            self._tools.register(model, handler=self._handler(to_action))
        self.seed = seed
        self.reset(seed)

    def reset(self, seed: int | None = None) -> None:
        """Start a new episode (``seed``: Gymnasium's reset seed)."""
        self._observation, self._info = self.env.reset(seed=seed)
        self._reward_sum = 0.0
        self._steps = 0
        self._over = False
        self.seed = seed

    @property
    def toolset(self) -> ToolSet:
        return self._tools

    def _handler(self, to_action: ToAction) -> Callable[[BaseModel], ActionResult]:
        def step(action: BaseModel) -> ActionResult:
            if self._over:
                return ActionResult(ok=False, executed=False, message="the episode is over")
            observation, reward, terminated, truncated, info = self.env.step(to_action(action))
            self._observation, self._info = observation, info
            self._reward_sum += float(reward)
            self._steps += 1
            terminated, truncated = bool(terminated), bool(truncated)
            data = {
                "reward": float(reward),
                "terminated": terminated,
                "truncated": truncated,
                "return": self._reward_sum,
            }
            if not (terminated or truncated):
                return ActionResult(
                    message=f"done (reward {float(reward):g}, return {self._reward_sum:g})",
                    data=data,
                )
            self._over = True
            status, why = self._verdict(observation, float(reward), terminated, truncated, info)
            how = "terminated" if terminated else "was truncated"
            return ActionResult(
                message=(
                    f"the episode {how} after {self._steps} steps (reward {float(reward):g}, "
                    f"return {self._reward_sum:g}): {why}"
                ),
                data=data,
                ends=RunEnd(status=status),
            )

        return step

    def _verdict(
        self, observation: Any, reward: float, terminated: bool, truncated: bool, info: Any
    ) -> tuple[Literal["success", "failure", "ended"], str]:
        """What the ended episode was, and why: the user's rule first, then the environment's
        ``info["is_success"]``; with neither, ``ended``."""
        if self.success is not None:
            won = judge(
                self.success, observation, reward, terminated, truncated, info, self._reward_sum
            )
            rule = (
                f"the success rule {self._success_text!r}"
                if self._success_text
                else "the success rule"
            )
            return ("success", f"{rule} holds") if won else ("failure", f"{rule} does not hold")
        if isinstance(info, dict) and "is_success" in info:
            won = reported_success(info["is_success"])
            return ("success" if won else "failure"), f"info['is_success'] is {won}"
        return "ended", "no success rule and no info['is_success'], so neither success nor failure"

    def observe(self) -> Observation:
        state: dict[str, Any] = {}
        observation = self._observation
        if getattr(self.env, "render_mode", None) == "rgb_array":
            image = self.env.render()
            if isinstance(observation, dict):
                state = {k: v for k, v in observation.items() if k != self.image_key}
            else:
                state = {"observation": observation}
        elif isinstance(observation, dict) and self.image_key in observation:
            image = observation[self.image_key]
            state = {k: v for k, v in observation.items() if k != self.image_key}
        elif hasattr(observation, "shape") and len(observation.shape) == 3:
            image = observation
        else:
            raise EnvironmentUnavailable(
                "this Gymnasium environment shows no image: make it with render_mode='rgb_array', "
                f"or give its image observation's key as image_key (not {self.image_key!r})"
            )
        return Observation(image=image, state=state, surface="image", name="render")

    def state_bounds(self) -> dict[str, tuple[Any, Any]]:
        """The least and most of each state value, from the Gymnasium observation space (a
        ``Box``'s bounds, a ``Discrete``'s first and last): ``to_gym`` bounds its own by them."""
        space = getattr(self.env, "observation_space", None)
        parts = getattr(space, "spaces", None)
        if isinstance(parts, dict):
            found = {k: _space_bounds(v) for k, v in parts.items() if k != self.image_key}
        else:
            found = {"observation": _space_bounds(space)}
        return {key: bounds for key, bounds in found.items() if bounds is not None}

    def describe(self) -> dict[str, Any]:
        spec = getattr(self.env, "spec", None)
        return {
            "name": self.name,
            "gym_id": getattr(spec, "id", type(self.env).__name__),
            "seed": self.seed,
            "success": self._success_text
            or (None if self.success is None else "a Python predicate"),
        }

    def close(self) -> None:
        self.env.close()


def make_gym(
    gym_id: str,
    gym_actions: str | None = None,
    env_seed: int | None = None,
    gym_option: Sequence[str] = (),
    gym_success: str | None = None,
) -> FromGym:
    """``agent run --env gym --gym-id ID [--gym-actions a,b,c] [--gym-option KEY=VALUE]
    [--gym-success RULE]``: an environment with a ``Discrete`` action space, its actions named by
    ``gym_actions``, or a one-dimensional ``Box``, its dimensions named so (``--gym-actions
    torque``). ``gym_success`` decides whether an ended episode succeeded (FromGym's
    ``success``)."""
    try:
        import gymnasium
    except ImportError:
        raise EnvironmentUnavailable(
            "--env gym needs Gymnasium: pip install 'vlagent[gym]'"
        ) from None
    options = dict(_option(text) for text in gym_option)
    success_rule(gym_success)  # a bad rule stops the command before Gymnasium starts
    try:
        env = gymnasium.make(gym_id, render_mode="rgb_array", **options)
    except Exception as exc:  # gymnasium's errors: unknown id, missing extra (pygame), bad option
        raise EnvironmentUnavailable(f"Gymnasium cannot make {gym_id!r}: {exc}") from None
    try:
        tool = _command_line_tool(gymnasium, env.action_space, gym_id, gym_actions)
    except EnvironmentUnavailable:
        env.close()
        raise
    return FromGym(env, [tool], seed=env_seed, success=gym_success)


make_gym.option_help = {  # type: ignore[attr-defined]
    "gym_id": Option("Gymnasium environment id, e.g. FrozenLake-v1."),
    "gym_actions": Option(
        "Names of a Discrete action space's actions, or of a 1-D Box's "
        "dimensions, comma-separated (e.g. left,down,right,up; torque)."
    ),
    "env_seed": Option("Seed of the episode (e.g. where the cube starts).", min=0),
    "gym_option": Option(
        "KEY=VALUE passed to gymnasium.make (e.g. is_slippery=false). Repeatable."
    ),
    "gym_success": Option(
        "When an ended episode counts as a success: an expression over obs, reward, terminated, "
        "truncated, info and total_return (e.g. 'truncated', 'total_return >= 475'), or "
        "module:function. Without it only info['is_success'] decides; else the run ends 'ended'."
    ),
}


def _space_bounds(space: Any) -> tuple[Any, Any] | None:
    """A Box's (low, high), a Discrete's (first, last); None for any other space."""
    if hasattr(space, "low") and hasattr(space, "high"):
        return space.low, space.high
    if hasattr(space, "n") and hasattr(space, "start") and getattr(space, "shape", None) == ():
        return int(space.start), int(space.start) + int(space.n) - 1
    return None


def _command_line_tool(
    gymnasium: Any, space: Any, gym_id: str, gym_actions: str | None
) -> tuple[type[BaseModel], ToAction]:
    """The tool for ``space`` named by ``--gym-actions``: Discrete or one-dimensional Box."""
    box = isinstance(space, gymnasium.spaces.Box) and len(space.shape) == 1
    if not isinstance(space, gymnasium.spaces.Discrete) and not box:
        raise EnvironmentUnavailable(
            f"{gym_id} has a {space} action space; from the command line only "
            "Discrete and one-dimensional Box ones are mapped (use FromGym in Python)"
        )
    count = int(space.shape[0]) if box else int(space.n)
    default = [f"a{i}" for i in range(count)] if box else [str(i) for i in range(count)]
    names = [n.strip() for n in gym_actions.split(",")] if gym_actions else default
    if len(names) != count:
        what = "dimensions" if box else "actions"
        raise EnvironmentUnavailable(
            f"--gym-actions names {len(names)} {what}; {gym_id} has {count}"
        )
    return box_tool(names, space.low, space.high) if box else discrete_tool(names)


def _option(text: str) -> tuple[str, Any]:
    import json

    key, sep, value = text.partition("=")
    if not sep or not key:
        raise EnvironmentUnavailable(
            f"--gym-option {text!r} is not KEY=VALUE (e.g. is_slippery=false)"
        )
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value
