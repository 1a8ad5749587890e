"""Self-healing replay as a runtime, so the ordinary loop records it as a new run.

For each prompt the live screen is compared with the screen recorded before the next recorded
step. While they match, the answer is that step's action (re-encoded from normalized coordinates
into the dialect's space, so a device of another size works). Where they differ, the model plans
the step. After a planned step the live screen may match a later recorded step (the model's
detour brought the device back): the replay re-joins the recording there.

A run the model helped is a ``success`` only when it re-joined the recording and ended as the
recording ended (its last step is the recording's last, replayed on a matching screen). Otherwise
the model's own "done" is not evidence enough, and the run ends ``unverified``, saying why.

A verdict is not an action: the recording's last step (``terminate`` or ``answer``) judged the
screen it was given, and may rest on any word on it ("make sure 'Call Bob' is saved"). So it is
reused only where the live screen is unchanged by the strict rule ``check`` uses
(``compare_unchanged``), never by the replay rule, which lets a few percent of tiles change. On
any change the model judges the end itself; a run whose every action replayed and whose end the
model judged is the model's verdict, not an unverified one.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from PIL import Image

from vlagent.agent.core.steps import RunResult
from vlagent.agent.replay.compare import compare_unchanged
from vlagent.agent.replay.replayer import DEFAULT_THRESHOLD, matches, recorded_screen, replayable
from vlagent.agent.runtimes.base import Completion, Runtime
from vlagent.agent.trajectory import ReplayOutcome, Step, Trajectory
from vlagent.agent.trajectory.recorder import image_digest
from vlagent.prompts import Prompt, call_text, model_call
from vlagent.tools import action_space_of


class HealingRuntime(Runtime):
    """Answers from the recording where the screen matches, from ``model`` where it does not."""

    name = "replay"

    def __init__(
        self,
        trajectory: Trajectory,
        model: Runtime,
        start: int = 0,
        threshold: float = DEFAULT_THRESHOLD,
        model_verdicts: bool = False,
    ) -> None:
        self.model = model
        # A UI test asks for the app's verdict, not the recording's: where the model planned
        # steps and then judged the live screen itself, its verdict stands (no "unverified").
        self.model_verdicts = model_verdicts
        self.trajectory = trajectory
        self.threshold = threshold
        self.pending = [
            s for s in trajectory.steps if (replayable(s) or ends_run(s)) and s.index >= start
        ]
        self.cursor = 0  # the next recorded step to replay
        self.calls = 0  # this run's next step index: one model call per step
        self.healed: list[int] = []
        """This run's steps that the model planned."""
        self.judged: list[int] = []
        """This run's steps the model answered where only the recording's verdict was left."""
        self.rejoined_at: int | None = None
        self.last_replayed: Step | None = None  # the recorded step behind this run's latest step
        self._screens: dict[int, Image.Image | None] = {}  # loaded once: re-joining compares many
        self.model_id, self.model_type, self.resize = model.model_id, model.model_type, model.resize

    def generate(self, prompts: list[Prompt]) -> list[Completion]:
        answers: list[Completion] = []
        for prompt in prompts:
            index, self.calls = self.calls, self.calls + 1
            step = self._matching(prompt)
            after_healed, self.last_replayed = self.last_replayed is None and index > 0, step
            if step is None:
                # Every recorded action replayed and only the verdict is left: the model judges.
                verdict_left = self.cursor < len(self.pending) and ends_run(
                    self.pending[self.cursor]
                )
                (self.judged if verdict_left else self.healed).append(index)
                self.rejoined_at = None  # planned again after re-joining: wait for the next
                answers.extend(self.model.generate([prompt]))
                continue
            if after_healed and self.healed:
                self.rejoined_at = step.index
            answers.append(Completion(text=self._encode(step, prompt), timings_ms={"replay": 0.0}))
        return answers

    def _matching(self, prompt: Prompt) -> Step | None:
        """The recorded step to replay on this prompt's screen, or None (the model plans it).

        While the recording is followed only its next step may match: jumping ahead would skip a
        recorded action. Right after a planned step any later step may match (re-joining)."""
        images = prompt.images()
        if not images or self.cursor >= len(self.pending):
            return None
        following = self.last_replayed is not None or self.calls == 1
        candidates = (
            self.pending[self.cursor : self.cursor + 1]
            if following
            else self.pending[self.cursor :]
        )
        live_app, live_elements = prompt.metadata.get("foreground"), prompt.metadata.get("elements")
        digest = image_digest(images[0])
        for offset, step in enumerate(candidates):
            # Where both screens list elements, the words under the target decide too, and
            # identical pixels can hide other words: those steps take the full comparison.
            words = step.elements is not None and live_elements is not None
            if identical(step, digest, live_app) and (ends_run(step) or not words):
                self.cursor += offset + 1
                return step
            if step.index not in self._screens:
                self._screens[step.index] = recorded_screen(self.trajectory, step)
            recorded = self._screens[step.index]
            if recorded is not None and (
                verdict_matches(recorded, step, images[0], live_app)
                if ends_run(step)
                else matches(
                    recorded, step, images[0], self.threshold, live_app, live_elements
                ).same
            ):
                self.cursor += offset + 1
                return step
        return None

    def _encode(self, step: Step, prompt: Prompt) -> str:
        action = step.action
        assert action is not None
        call = model_call(
            action.tool, action.normalized, prompt.frame, action_space_of(action.tool), ndigits=2
        )
        return "<tool_call>\n" + call_text(call) + "\n</tool_call>"

    def review(self, result: RunResult) -> RunResult:
        """The run's end, judged against the recording (``Agent(review=...)``)."""
        # Only the model's last answer is a verdict; what it did before that was acting.
        final = result.steps[-1].index if result.steps else None
        self.healed = sorted({*self.healed, *(i for i in self.judged if i != final)})
        self.judged = [i for i in self.judged if i == final]
        last = self.last_replayed
        recorded_end = self.trajectory.end
        ended_as_recorded = (
            last is not None
            and bool(self.pending)
            and last is self.pending[-1]
            and recorded_end is not None
            and recorded_end.status == result.status
        )
        unverified = ""
        if self.healed and not ended_as_recorded and not self.model_verdicts:
            if self.rejoined_at is None:
                unverified = (
                    f"the model planned steps {_listed(self.healed)} and the run never came back "
                    "to a screen the recording reached"
                )
            else:
                unverified = (
                    f"the model planned steps {_listed(self.healed)}; the run re-joined the "
                    f"recording at its step {self.rejoined_at} but did not end as it did"
                )
        outcome = ReplayOutcome(
            of=str(self.trajectory.path),
            healed_steps=list(self.healed),
            rejoined_at=self.rejoined_at,
            ended_as_recorded=ended_as_recorded,
            unverified=unverified,
        )
        if unverified and result.succeeded:
            return replace(
                result, status="unverified", reason=f"not verified: {unverified}", replay=outcome
            )
        if ended_as_recorded and not self.healed and not self.judged:
            reason = (
                f"{result.status}: the recorded verdict, reused on an unchanged screen "
                "(replayed from the recording; no model judged this run)"
            )
            return replace(result, reason=reason, replay=outcome)
        return replace(result, replay=outcome)

    def describe(self) -> dict[str, Any]:
        described: dict[str, Any] = self.model.describe()
        return {**described, "replay_of": str(self.trajectory.path)}

    def close(self) -> None:
        self.model.close()


def identical(step: Step, live_digest: str, foreground: str | None = None) -> bool:
    """Whether the live screen is the recorded one pixel for pixel (its digest is the step's
    ``screen_hash``) with the same app in front: then every rule holds, and the recorded
    screenshot need not even be read (a cached run of a deterministic app costs no decoding)."""
    was = (step.metadata or {}).get("foreground")
    if was and foreground and was != foreground:
        return False
    return step.screen_hash == live_digest


def verdict_matches(
    recorded: Image.Image,
    step: Step,
    live: Image.Image,
    foreground: str | None = None,
) -> bool:
    """Whether a recorded verdict (an act's end, a check's answer) may be reused on ``live``:
    the screen is the same by the replay rule (the app in front, where known) and unchanged by
    the strict rule (no pixel beyond rendering noise)."""
    was = (step.metadata or {}).get("foreground")
    if was and foreground and was != foreground:
        return False
    # No pixel changed, so no tile did either: the strict rule implies the replay rule's pixels
    # (and a verdict touches no point, so there is no element under a target to compare).
    return compare_unchanged(recorded, live).same


def ends_run(step: Step) -> bool:
    return (
        step.error is None
        and step.action is not None
        and step.action.name in ("terminate", "answer")
    )


def _listed(indices: list[int]) -> str:
    return ", ".join(map(str, indices))
