"""A vlagent environment as a ``gymnasium.Env``: for RL code, dataset tools and checkers that speak
Gymnasium.

Observations are a ``Dict``: each image by name (``Box`` of uint8, H×W×3) and, when the
environment reports one, ``state`` (a ``Dict`` of float64 vectors, bounded by the environment's
``state_bounds()`` when it has one). The action space is a ``Dict``: ``tool`` (a ``Discrete``
choice of tool) and ``arguments``, a ``Dict`` per tool of its ``form`` and its ``values``
(environments/gym_spaces.py): only the chosen tool's arguments are read, only those of its
form, and every sample validates. An action that still does not validate (one built by hand) is
not executed: ``info["error"]`` says why, and the reward is 0.

``terminated`` and ``truncated`` are the environment's own when it reports them (a wrapped
Gymnasium episode's); otherwise an episode the environment ends is terminated.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

from vlagent.environments.base import ActionResult, Environment, Observation
from vlagent.environments.gym_spaces import ToolSpace, tool_space
from vlagent.tools import ToolCall, ToolError

RENDER_FPS = 1
"""``metadata["render_fps"]``: one frame per agent step (steps are events, not a clock)."""


def _gym() -> Any:
    import gymnasium

    return gymnasium


def to_gym(
    environment: Environment | Callable[[], Environment], render_fps: float = RENDER_FPS
) -> Any:
    """``environment`` as a ``gymnasium.Env`` (``render_mode="rgb_array"``). ``reset(seed=...)``
    calls the environment's own ``reset(seed)`` when it has one. Reward: ``data["reward"]`` of an
    action's result when given, else 1 for an episode the environment ends as a success.

    Given a function that makes the environment rather than the environment itself, the
    ``gymnasium.Env`` has a ``spec`` whose ``make()`` calls it again: what ``check_env``, vector
    environments and ``gymnasium.make`` need to make copies."""
    gym = _gym()
    factory = None if isinstance(environment, Environment) else environment
    made = environment if isinstance(environment, Environment) else environment()
    env = _env_class()(made, render_fps)
    if factory is not None:
        env.spec = gym.envs.registration.EnvSpec(
            id=f"vlagent/{made.name or type(made).__name__}-v0",
            entry_point=lambda render_mode="rgb_array": to_gym(factory, render_fps),
        )
    return env


@functools.cache
def _env_class() -> Any:
    """The ``gymnasium.Env`` class, made on first use: importing vlagent must not need
    Gymnasium."""
    return type("VlagentEnv", (_GymEnv, _gym().Env), {})


class _GymEnv:
    """What the ``gymnasium.Env`` over one vlagent environment does (made by :func:`to_gym`,
    which mixes it with ``gymnasium.Env``)."""

    metadata: dict[str, Any] = {"render_modes": ["rgb_array"], "render_fps": RENDER_FPS}

    def __init__(self, environment: Environment, render_fps: float) -> None:
        spaces = _gym().spaces
        self.environment = environment
        self.render_mode = "rgb_array"
        self.metadata = {"render_modes": ["rgb_array"], "render_fps": render_fps}
        self._last: Observation = environment.observe()
        tools = environment.toolset
        self.tools: dict[str, ToolSpace] = {
            name: tool_space(tools, name, tools[name]) for name in tools.names
        }
        self.tool_names = list(self.tools)
        bounds = _found(environment, "state_bounds")
        self.observation_space = _observation_space(
            spaces, self._last, bounds() if callable(bounds) else {}
        )
        self.action_space = spaces.Dict(
            {
                "tool": spaces.Discrete(len(self.tool_names)),
                "arguments": spaces.Dict({n: t.space for n, t in self.tools.items()}),
            }
        )

    def action(self, tool: str, **arguments: Any) -> dict[str, Any]:
        """The action that calls ``tool`` with ``arguments`` (JSON values, as the tool's schema
        has them): ``env.step(env.unwrapped.action("move_to", position=[0, 0, 0.1]))``."""
        sample = self.action_space.sample()
        sample["tool"] = self.tool_names.index(tool)
        sample["arguments"][tool] = self.tools[tool].sample_for(arguments)
        return dict(sample)

    def _observe(self) -> dict[str, Any]:
        self._last = self.environment.observe()
        return _observed(self._last, "state" in self.observation_space.spaces)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Any:
        _gym().Env.reset(self, seed=seed)  # seeds self.np_random, as Gymnasium asks
        reset = _found(self.environment, "reset")
        if callable(reset):
            reset(seed)
        return self._observe(), {}

    def step(self, action: Any) -> Any:
        name = self.tool_names[int(action["tool"])]
        info: dict[str, Any] = {"tool": name}
        try:
            arguments = self.tools[name].arguments(action["arguments"][name])
            validated = self.environment.toolset.validate(ToolCall(name, arguments))
        except (ToolError, KeyError, IndexError, TypeError, ValueError) as exc:
            info["error"] = str(exc) or type(exc).__name__
            return self._observe(), 0.0, False, False, info
        result = self.environment.execute(validated)
        info.update(ok=result.ok, message=result.message, **result.data)
        terminated, truncated = _episode_end(result)
        return self._observe(), _reward(result), terminated, truncated, info

    def render(self) -> Any:
        import numpy as np

        return np.asarray(self._last.image, dtype=np.uint8)

    def close(self) -> None:
        self.environment.close()


def _found(environment: Environment, attribute: str) -> Any:
    """``attribute`` of ``environment``, or of the environment a wrapper wraps (its ``inner``):
    what wrapping does not change (its ``reset``, its ``state_bounds``)."""
    current: Any = environment
    while current is not None:
        found = getattr(current, attribute, None)
        if found is not None:
            return found
        current = getattr(current, "inner", None)
    return None


def _episode_end(result: ActionResult) -> tuple[bool, bool]:
    """(terminated, truncated): the environment's own words when it reports them (a Gymnasium
    episode wrapped by FromGym), else an episode it ends is terminated."""
    data = result.data
    if "terminated" in data or "truncated" in data:
        return bool(data.get("terminated", False)), bool(data.get("truncated", False))
    return result.ends is not None, False


def _observation_space(spaces: Any, first: Observation, bounds: dict[str, tuple[Any, Any]]) -> Any:
    """The spaces of the first observation: a ``Box`` per image and, when the environment reports
    a state, a ``Dict`` of its vectors, bounded by ``bounds`` where it gives them (later
    observations are assumed to keep these shapes)."""
    import numpy as np

    observation_space: dict[str, Any] = {
        name: spaces.Box(0, 255, (image.height, image.width, 3), dtype="uint8")
        for name, image in first.images.items()
    }
    if first.state:
        state = {}
        for key, value in first.state.items():
            shape = _vector(value).shape
            low, high = bounds.get(key, (-math.inf, math.inf))
            state[key] = spaces.Box(
                np.broadcast_to(np.asarray(low, dtype=np.float64), shape),
                np.broadcast_to(np.asarray(high, dtype=np.float64), shape),
                shape,
                dtype="float64",
            )
        observation_space["state"] = spaces.Dict(state)
    return spaces.Dict(observation_space)


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
