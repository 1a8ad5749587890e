"""Model text → tool calls → validated actions, with every point in three spaces.

The one path from an answer to an action, shared by the loop, ``agent parse``, evaluation and
self-healing replay: the dialect parses (points normalized to [0, 1] of the image), the toolset
validates, and the observation maps normalized points to device pixels (docs/architecture.md,
"Coordinates").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel

from vlagent.agent.trajectory.records import ActionRecord, CallRecord
from vlagent.prompts import CoordinateFrame, Dialect, ParseError, normalize_call
from vlagent.tools import ToolCall, ToolError, ToolSet
from vlagent.tools.errors import VlagentError

ToDevice = Callable[[tuple[float, float]], tuple[float, float]]
"""Normalized [0, 1] point → device pixels (``Observation.to_device``)."""


class AnswerError(VlagentError, ValueError):
    """The answer holds no executable call. ``stage`` says where it failed; ``calls`` holds what
    was parsed before validation failed (empty on a parse error). The message is for the model."""

    def __init__(
        self,
        stage: Literal["parse", "validation"],
        message: str,
        calls: list[ToolCall] | None = None,
    ) -> None:
        super().__init__(message)
        self.stage = stage
        self.calls = calls or []


@dataclass
class Reading:
    """An answer as read: every parsed call, and the validated actions (the first only, unless
    every call was asked for) with their records in three spaces."""

    calls: list[ToolCall]
    actions: list[BaseModel] = field(default_factory=list)
    records: list[ActionRecord] = field(default_factory=list)

    @property
    def call(self) -> ToolCall:
        return self.calls[0]

    @property
    def action(self) -> BaseModel:
        return self.actions[0]

    @property
    def record(self) -> ActionRecord:
        return self.records[0]

    def call_records(self) -> list[CallRecord]:
        return [CallRecord(name=c.name, arguments=c.raw()) for c in self.calls]


def three_spaces(
    call: ToolCall, action: BaseModel, toolset: ToolSet, to_device: ToDevice
) -> ActionRecord:
    """The validated ``action`` as the model wrote it, normalized, and in device pixels."""
    normalized = action.model_dump(mode="json", exclude_none=True)
    device = dict(normalized)
    for name in toolset.point_fields(call.name):
        point = getattr(action, name, None)
        if point is not None:
            device[name] = [round(v, 3) for v in to_device(point)]
    return ActionRecord(tool=call.name, model=call.raw(), normalized=normalized, device=device)


def read_answer(
    text: str,
    dialect: Dialect,
    frame: CoordinateFrame,
    toolset: ToolSet,
    to_device: ToDevice,
    every_call: bool = False,
    element_points: Sequence[tuple[float, float]] | None = None,
    images: Mapping[str, tuple[CoordinateFrame, ToDevice]] | None = None,
) -> Reading:
    """Parse ``text`` in ``frame`` and validate its first call (every call with ``every_call``).
    ``element_points`` are the normalized centres of the elements listed in the prompt: a call
    that names ``element`` N acts on the N-th. ``images`` are the frame and device mapping of each
    named image of a step that shows several: a call whose ``camera`` names one has its points
    read on that image. Raises :class:`AnswerError`."""
    try:
        calls = dialect.parse(text, frame, toolset)
    except ParseError as exc:
        raise AnswerError("parse", str(exc)) from None
    reading = Reading(calls)
    for position, call in enumerate(calls if every_call else calls[:1]):
        try:
            call = calls[position] = _place_element(call, element_points)
            call, on_device = _on_named_image(call, images, toolset, to_device)
            calls[position] = call
            action = toolset.validate(call)
        except ToolError as exc:
            raise AnswerError("validation", str(exc), calls) from None
        reading.actions.append(action)
        reading.records.append(three_spaces(call, action, toolset, on_device))
    return reading


def _place_element(call: ToolCall, points: Sequence[tuple[float, float]] | None) -> ToolCall:
    """``call`` with the centre of the element it names as its ``coordinate`` (the element wins
    over a point given beside it: it is what the model picked from the list)."""
    number = call.arguments.get("element")
    if number is None or isinstance(number, bool) or not isinstance(number, int):
        return call  # nothing to place, or validation says what is wrong with it
    if not points:
        raise ToolError(f"{call.name}: no elements are listed for this screen; give 'coordinate'")
    if not 0 <= number < len(points):
        raise ToolError(
            f"{call.name}: element {number} is not in the list; the elements are "
            f"numbered 0 to {len(points) - 1}"
        )
    return ToolCall(call.name, {**call.arguments, "coordinate": list(points[number])}, call.raw())


def _on_named_image(
    call: ToolCall,
    images: Mapping[str, tuple[CoordinateFrame, ToDevice]] | None,
    toolset: ToolSet,
    to_device: ToDevice,
) -> tuple[ToolCall, ToDevice]:
    """``call`` with its points read on the image its ``camera`` argument names."""
    camera = call.arguments.get("camera")
    if not images or not isinstance(camera, str) or not toolset.point_fields(call.name):
        return call, to_device
    if camera not in images:
        raise ToolError(
            f"{call.name}: 'camera' {camera!r} is not an image of this step; the images "
            f"are: {', '.join(images)}"
        )
    frame, on_device = images[camera]
    return normalize_call(call.name, call.raw(), frame, toolset), on_device
