"""A Gymnasium environment as a vlagent environment: its rendering (or its image observation) is
what the model sees, and each tool is mapped to one of its actions.

    env = FromGym(gymnasium.make("FrozenLake-v1", render_mode="rgb_array"),
                  [discrete_tool(["left", "down", "right", "up"])])

The episode's end is the run's end: ``terminated`` with a positive reward (or
``info["is_success"]``)
is a success, any other end a failure (docs/embedding.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from vlagent.environments.base import ActionResult, Environment, EnvironmentUnavailable, Observation
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
    Dict observation is the state."""

    name: ClassVar[str] = "gym"

    def __init__(
        self,
        env: Any,
        tools: Sequence[tuple[type[BaseModel], ToAction]],
        seed: int | None = None,
        image_key: str = "image",
    ) -> None:
        self.env = env
        self.image_key = image_key
        self._tools = ToolSet()
        for model, to_action in tools:
            self._tools.register(model, handler=self._handler(to_action))
        self.seed = seed
        self.reset(seed)

    def reset(self, seed: int | None = None) -> None:
        """Start a new episode (``seed``: Gymnasium's reset seed)."""
        self._observation, self._info = self.env.reset(seed=seed)
        self._reward_sum = 0.0
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
            data = {
                "reward": float(reward),
                "terminated": bool(terminated),
                "truncated": bool(truncated),
            }
            ends = None
            if terminated or truncated:
                self._over = True
                won = bool(info.get("is_success", terminated and self._reward_sum > 0))
                ends = RunEnd(status="success" if won else "failure")
            how = (
                "the episode terminated"
                if terminated
                else "the episode was truncated"
                if truncated
                else "done"
            )
            return ActionResult(
                message=f"{how} (reward {float(reward):g}, total {self._reward_sum:g})",
                data=data,
                ends=ends,
            )

        return step

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

    def describe(self) -> dict[str, Any]:
        spec = getattr(self.env, "spec", None)
        return {
            "name": self.name,
            "gym_id": getattr(spec, "id", type(self.env).__name__),
            "seed": self.seed,
        }

    def close(self) -> None:
        self.env.close()


def make_gym(
    gym_id: str,
    gym_actions: str | None = None,
    env_seed: int | None = None,
    gym_option: Sequence[str] = (),
) -> FromGym:
    """``agent run --env gym --gym-id ID [--gym-actions a,b,c] [--gym-option KEY=VALUE]``: an
    environment with a ``Discrete`` action space, its actions named by ``gym_actions``, or a
    one-dimensional ``Box``, its dimensions named so (``--gym-actions torque``)."""
    try:
        import gymnasium
    except ImportError:
        raise EnvironmentUnavailable(
            "--env gym needs Gymnasium: pip install 'vlagent[gym]'"
        ) from None
    options = dict(_option(text) for text in gym_option)
    try:
        env = gymnasium.make(gym_id, render_mode="rgb_array", **options)
    except Exception as exc:  # gymnasium's errors: unknown id, missing extra (pygame), bad option
        raise EnvironmentUnavailable(f"Gymnasium cannot make {gym_id!r}: {exc}") from None
    try:
        tool = _command_line_tool(gymnasium, env.action_space, gym_id, gym_actions)
    except EnvironmentUnavailable:
        env.close()
        raise
    return FromGym(env, [tool], seed=env_seed)


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
}


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
