"""A vlagent environment as a ``gymnasium.Env``: for RL code, dataset tools and checkers that speak
Gymnasium.

Observations are a ``Dict``: each image by name (``Box`` of uint8, H×W×3) and, when the
environment reports one, ``state`` (a ``Dict`` of float64 vectors). The action space is a
``OneOf`` over the tools, each a ``Dict`` of its arguments (a point is two floats in [0, 1], a
choice a ``Discrete`` index, a number a ``Box``, a string ``Text``). An action that does not
validate is not executed: ``info["error"]`` says why, and the reward is 0.
"""

from __future__ import annotations

import enum
import math
import types
import typing
from typing import Any

from pydantic import BaseModel

from vlagent.environments.base import ActionResult, Environment, Observation
from vlagent.tools import ToolCall, ToolError, point_fields


def _gym() -> Any:
    import gymnasium

    return gymnasium


def _choices(annotation: Any) -> list[Any] | None:
    if typing.get_origin(annotation) is typing.Literal:
        return list(typing.get_args(annotation))
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return [member.value for member in annotation]
    return None


def _bounds(field: Any) -> tuple[float, float]:
    low, high = -math.inf, math.inf
    for constraint in field.metadata:
        low = float(getattr(constraint, "ge", getattr(constraint, "gt", low)))
        high = float(getattr(constraint, "le", getattr(constraint, "lt", high)))
    return low, high


def _unwrap(annotation: Any) -> Any:
    """``X | None`` → X; ``Annotated[X, ...]`` → X."""
    if typing.get_origin(annotation) is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        return _unwrap(args[0])
    return annotation


def argument_space(tool: type[BaseModel]) -> tuple[Any, dict[str, Any]]:
    """The Gymnasium space of ``tool``'s arguments, and how to read each sampled value back."""
    spaces = _gym().spaces
    fields: dict[str, Any] = {}
    readers: dict[str, Any] = {}
    points = point_fields(tool)
    actions = getattr(tool, "ACTIONS", None)
    for name, field in tool.model_fields.items():
        annotation = _unwrap(field.annotation)
        choices = (
            list(actions)
            if name == "action" and isinstance(actions, dict)
            else _choices(annotation)
        )
        if name in points:
            fields[name], readers[name] = (
                spaces.Box(0.0, 1.0, (2,), dtype="float64"),
                lambda v: [float(x) for x in v],
            )
        elif choices is not None:
            fields[name], readers[name] = (
                spaces.Discrete(len(choices)),
                lambda v, c=choices: c[int(v)],
            )
        elif annotation is bool:
            fields[name], readers[name] = spaces.Discrete(2), lambda v: bool(v)
        elif annotation in (int, float):
            low, high = _bounds(field)
            fields[name] = spaces.Box(low, high, (), dtype="float64")
            readers[name] = (
                (lambda v: int(round(float(v)))) if annotation is int else (lambda v: float(v))
            )
        elif typing.get_origin(annotation) is tuple and all(
            a in (int, float) for a in typing.get_args(annotation)
        ):
            size = len(typing.get_args(annotation))
            fields[name], readers[name] = (
                spaces.Box(-math.inf, math.inf, (size,), dtype="float64"),
                lambda v: [float(x) for x in v],
            )
        elif annotation is str:
            fields[name], readers[name] = spaces.Text(max_length=64), str
        else:
            raise TypeError(
                f"tool {tool.__name__}: argument {name!r} ({annotation}) has no Gymnasium space"
            )
    return spaces.Dict(fields), readers


def to_gym(environment: Environment) -> Any:
    """``environment`` as a ``gymnasium.Env`` (``render_mode="rgb_array"``). ``reset(seed=...)``
    calls the environment's own ``reset(seed)`` when it has one. Reward: ``data["reward"]`` of an
    action's result when given, else 1 for an episode the environment ends as a success."""
    gym = _gym()
    spaces = gym.spaces
    first = environment.observe()
    tools = environment.toolset
    parts = [argument_space(tools[name]) for name in tools.names]
    observation_space = _observation_space(spaces, first)

    # Defined here, not at import: importing vlagent must not need Gymnasium.
    class VlagentEnv(gym.Env):  # type: ignore[misc,name-defined]
        metadata = {"render_modes": ["rgb_array"]}

        def __init__(self) -> None:
            self.environment = environment
            self.render_mode = "rgb_array"
            self.observation_space = spaces.Dict(observation_space)
            self.action_space = spaces.OneOf([space for space, _ in parts])
            self._last: Observation = first

        def _observe(self) -> dict[str, Any]:
            self._last = environment.observe()
            return _observed(self._last, "state" in observation_space)

        def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Any:
            super().reset(seed=seed)
            reset = getattr(environment, "reset", None)
            if callable(reset):
                reset(seed)
            return self._observe(), {}

        def step(self, action: Any) -> Any:
            index, arguments = action
            name = tools.names[int(index)]
            readers = parts[int(index)][1]
            values = {key: readers[key](value) for key, value in arguments.items()}
            info: dict[str, Any] = {"tool": name}
            try:
                validated = tools.validate(ToolCall(name, values))
            except ToolError as exc:
                info["error"] = str(exc)
                return self._observe(), 0.0, False, False, info
            result = environment.execute(validated)
            info.update(ok=result.ok, message=result.message, **result.data)
            ended, reward = result.ends is not None, _reward(result)
            return self._observe(), reward, ended, False, info

        def render(self) -> Any:
            import numpy as np

            return np.asarray(self._last.image, dtype=np.uint8)

        def close(self) -> None:
            environment.close()

    return VlagentEnv()


def _observation_space(spaces: Any, first: Observation) -> dict[str, Any]:
    """The spaces of the first observation: a ``Box`` per image and, when the environment reports
    a state, a ``Dict`` of its vectors (later observations are assumed to keep these shapes)."""
    observation_space: dict[str, Any] = {
        name: spaces.Box(0, 255, (image.height, image.width, 3), dtype="uint8")
        for name, image in first.images.items()
    }
    if first.state:
        observation_space["state"] = spaces.Dict(
            {
                key: spaces.Box(-math.inf, math.inf, _vector(value).shape, dtype="float64")
                for key, value in first.state.items()
            }
        )
    return observation_space


def _observed(observation: Observation, with_state: bool) -> dict[str, Any]:
    """``observation`` as a sample of the observation space: images as uint8 arrays, and the
    state's vectors when the space has them."""
    import numpy as np

    observed: dict[str, Any] = {
        name: np.asarray(image, dtype=np.uint8) for name, image in observation.images.items()
    }
    if with_state:
        observed["state"] = {key: _vector(value) for key, value in observation.state.items()}
    return observed


def _reward(result: ActionResult) -> float:
    """``data["reward"]`` when the environment gives one, else 1 for an episode it ends as a
    success and 0 otherwise."""
    ended = result.ends is not None
    return float(
        result.data.get(
            "reward",
            1.0 if ended and result.ends and result.ends.status == "success" else 0.0,
        )
    )


def _vector(value: Any) -> Any:
    import numpy as np

    return np.asarray(value, dtype=np.float64).reshape(-1)
