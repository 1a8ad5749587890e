"""``check_environment``: does an implementation keep the protocol? Every driver must pass it."""

from __future__ import annotations

import json

from PIL import Image

from vlagent.environments.base import ActionResult, Environment, Observation
from vlagent.tools import GuiTool, ToolCall, ToolSet
from vlagent.tools.errors import VlagentError


class EnvironmentCheckError(VlagentError, ValueError):
    """An environment broke the protocol; the message lists every problem found."""


def check_environment(env: Environment, *, execute: bool = True) -> None:
    """Observe, optionally execute a harmless ``wait``, describe, and close twice.

    Raises :class:`EnvironmentCheckError` naming each broken rule.
    """
    problems: list[str] = []
    if not isinstance(env.toolset, ToolSet) or not env.toolset.names:
        problems.append("toolset must be a ToolSet with at least one tool")
    obs = env.observe()
    if not isinstance(obs, Observation):
        problems.append(f"observe() returned {type(obs).__name__}, not Observation")
    else:
        if not isinstance(obs.image, Image.Image) or obs.image.mode != "RGB":
            problems.append("observation image must be a PIL image in RGB mode")
        if min(obs.size) <= 0:
            problems.append(f"observation size {obs.size} must be positive")
        if not obs.scale > 0:
            problems.append(f"observation scale {obs.scale} must be positive")
        for element in obs.elements or []:
            left, top, right, bottom = element.bounds
            if not (0 <= left <= right <= obs.size[0] and 0 <= top <= bottom <= obs.size[1]):
                problems.append(f"element {element} lies outside the image")
        app = obs.metadata.get("foreground")
        if app is not None and (not isinstance(app, str) or not app):
            # Replay compares it by equality: a name, or nothing when the environment cannot tell.
            problems.append(
                f"metadata['foreground'] is {app!r}: the name of the app in front, or absent"
            )
    if execute:
        wait = _harmless_wait(env.toolset)
        if wait is not None:
            result = env.execute(wait)
            if not isinstance(result, ActionResult):
                problems.append(f"execute() returned {type(result).__name__}, not ActionResult")
    try:
        json.dumps(env.describe())
    except (TypeError, ValueError) as exc:
        problems.append(f"describe() is not JSON-ready: {exc}")
    env.close()
    env.close()
    if problems:
        raise EnvironmentCheckError(f"{type(env).__name__}: " + "; ".join(problems))


def _harmless_wait(toolset: ToolSet) -> GuiTool | None:
    for name in toolset.names:
        tool = toolset[name]
        if issubclass(tool, GuiTool) and "wait" in tool.ACTIONS:
            action = toolset.validate(ToolCall(name, {"action": "wait", "time": 0.01}))
            assert isinstance(action, GuiTool)
            return action
    return None
