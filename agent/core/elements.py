"""The UI tree in a run: what the model is told, where a numbered element is, what is recorded."""

from __future__ import annotations

from collections.abc import Sequence

from vlagent.agent.trajectory.records import ElementRecord
from vlagent.environments import Observation, UIElement
from vlagent.environments.ui_tree import centre, element_lines
from vlagent.prompts import Prompt

__all__ = ["element_points", "element_records", "list_elements", "words_at"]


def list_elements(prompt: Prompt, obs: Observation) -> None:
    """Add the observation's elements (if it lists any) to ``prompt``, their bounds in the
    model's own coordinate space, as its answers are."""
    if obs.elements is not None:
        width, height = obs.size
        prompt.add_text(
            element_lines(obs.elements, (prompt.frame.width / width, prompt.frame.height / height))
        )


def element_points(obs: Observation) -> list[tuple[float, float]] | None:
    """The normalized centre of each listed element (None when the step lists none)."""
    if obs.elements is None:
        return None
    width, height = obs.size
    return [(x / width, y / height) for x, y in map(centre, obs.elements)]


def element_records(elements: Sequence[UIElement] | None) -> list[ElementRecord] | None:
    if elements is None:
        return None
    return [
        ElementRecord(
            bounds=e.bounds,
            kind=e.kind,
            text=e.text,
            description=e.description,
            resource_id=e.resource_id,
            clickable=e.clickable,
        )
        for e in elements
    ]


def words_at(
    elements: Sequence[UIElement | ElementRecord], point: tuple[float, float], size: tuple[int, int]
) -> str | None:
    """What the smallest listed element under the normalized ``point`` of an image of ``size``
    says: its text, else its description, else its resource id. None when no listed element is
    there, or the one there says nothing."""
    x, y = point[0] * size[0], point[1] * size[1]
    under = [
        e for e in elements if e.bounds[0] <= x < e.bounds[2] and e.bounds[1] <= y < e.bounds[3]
    ]
    if not under:
        return None
    smallest = min(under, key=lambda e: (e.bounds[2] - e.bounds[0]) * (e.bounds[3] - e.bounds[1]))
    return smallest.text or smallest.description or smallest.resource_id or None
