"""The single-shot verbs of the test agent: each is at most one grounded model call (where is the
element?) and then the environment's own action, cached like ``tap`` (docs/testing.md).

    vl_agent.type_text("milk", into="the note field")
    vl_agent.key("ENTER")
    vl_agent.scroll("down", within="the settings list")
    vl_agent.double_click("the file icon"); vl_agent.right_click("a saved note")
    vl_agent.hover("the help button")            # desktop only
    box = vl_agent.locate("the Save button")     # Box(left, top, right, bottom), in pixels

``type_text`` without ``into`` and ``key`` ground nothing: they call no model.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel

from vlagent.agent.core.steps import Decision
from vlagent.agent.uitest.answers import (
    Box,
    GestureUnsupported,
    Locate,
    Tap,
    box_of,
    gesture_on,
    key_on,
    scroll_on,
    type_on,
)
from vlagent.environments import ActionResult, Environment
from vlagent.tools.secrets import Secret

CENTRE = (0.5, 0.5)


class Gestures:
    """The single-shot verbs; :class:`~vlagent.agent.uitest.tester.UITester` gives the plumbing."""

    environment: Environment
    secrets: dict[str, Secret]

    def _grounded(
        self,
        verb: str,
        description: str,
        goal: str,
        perform: Callable[[Decision], ActionResult],
        tool: type[BaseModel] = Tap,
    ) -> Decision:
        raise NotImplementedError

    def _direct(self, verb: str, actions: list[BaseModel]) -> None:
        raise NotImplementedError

    # -- the verbs ---------------------------------------------------------------------------------

    def tap(self, description: str) -> None:
        """Tap the one element ``description`` names (a single grounded click)."""
        self._gesture("tap", description, "Tap this element")

    def double_click(self, description: str) -> None:
        """Double-click (on a phone: tap twice) the element ``description`` names."""
        self._gesture("double_click", description, "Double-click this element")

    def right_click(self, description: str) -> None:
        """Right-click (on a phone: long-press) the element ``description`` names."""
        self._gesture("right_click", description, "Right-click this element")

    def hover(self, description: str) -> None:
        """Move the pointer over the element ``description`` names (a desktop only)."""
        self._gesture("hover", description, "Point at this element")

    def type_text(self, text: str | Secret, into: str | None = None) -> None:
        """Type ``text``, first tapping the field ``into`` names (one grounded call) when given.
        A :class:`~vlagent.tools.secrets.Secret` (``vl_secrets["NAME"]``) is typed as its
        ``{{NAME}}`` placeholder, which the environment fills: no trajectory or plan holds it."""
        typed = self._typed(text)
        if into is None:
            self._direct(f"type_text({typed!r})", [type_on(self.environment.toolset, typed)])
            return
        tools = self.environment.toolset

        def tap_and_type(decision: Decision) -> ActionResult:
            assert isinstance(decision.action, Tap)
            return self._perform(
                gesture_on(tools, "tap", decision.action.coordinate) + [type_on(tools, typed)]
            )

        self._grounded(
            "type_text", f"{typed} into {into}", f"Tap this input field: {into}", tap_and_type
        )

    def key(self, keys: str) -> None:
        """Press ``keys``: ``"enter"``, ``"ctrl+s"`` on a desktop, an adb key name such as
        ``"ENTER"`` or ``"DEL"`` on a phone. No model call."""
        self._direct(f"key({keys!r})", [key_on(self.environment.toolset, keys)])

    def scroll(self, direction: str, within: str | None = None) -> None:
        """Scroll ``up``, ``down``, ``left`` or ``right``: inside the element ``within`` names
        (one grounded call), else at the middle of the screen (no model call)."""
        tools = self.environment.toolset
        if within is None:
            self._direct(f"scroll({direction!r})", [scroll_on(tools, direction, CENTRE)])
            return

        def scroll_there(decision: Decision) -> ActionResult:
            assert isinstance(decision.action, Tap)
            return self._perform([scroll_on(tools, direction, decision.action.coordinate)])

        self._grounded(
            "scroll",
            f"{direction} within {within}",
            f"Point inside this area: {within}",
            scroll_there,
        )

    def locate(self, description: str) -> Box:
        """The box around the element ``description`` names, in pixels of the screenshot. An
        answer about the screen: reused from the cache only on an unchanged screen."""
        decision = self._grounded(
            "locate",
            description,
            f"Give the box around this element: {description}",
            lambda _: ActionResult(ok=True, executed=False, message="located"),
            Locate,
        )
        assert isinstance(decision.action, Locate) and decision.observation is not None
        return box_of(decision.action, decision.observation.image.size)

    # -- helpers -----------------------------------------------------------------------------------

    def _gesture(self, verb: str, description: str, goal: str) -> None:
        tools = self.environment.toolset
        # Refused before any model call: a hover on a phone is the test's mistake, not the app's.
        gesture_on(tools, verb, CENTRE)

        def perform(decision: Decision) -> ActionResult:
            assert isinstance(decision.action, Tap)
            return self._perform(gesture_on(tools, verb, decision.action.coordinate))

        self._grounded(verb, description, f"{goal}: {description}", perform)

    def _perform(self, actions: list[BaseModel]) -> ActionResult:
        """Every verb's actions go through here. An action the environment ends the episode on
        with anything but success (the launched app exited or crashed) fails the verb, as it
        ends ``agent run`` with failure, though the action itself was done."""
        outcome = ActionResult(ok=True, executed=False, message="")
        messages = []
        for action in actions:
            outcome = self.environment.execute(action)
            messages.append(outcome.message or "done")
            if not outcome.ok or outcome.ends is not None:
                break
        failed = outcome.ends is not None and outcome.ends.status != "success"
        return ActionResult(
            ok=outcome.ok and not failed,
            executed=outcome.executed,
            message="; ".join(messages),
            data=outcome.data,
            ends=outcome.ends,
        )

    def _typed(self, text: str | Secret) -> str:
        if not isinstance(text, Secret):
            return text
        if text.name is None or self.secrets.get(text.name) != text:
            raise GestureUnsupported(
                f"type_text({text.mask}): type a secret given with --vl-secret NAME (or the "
                "vl_secrets fixture), as vl_secrets['NAME']"
            )
        return text.mask
