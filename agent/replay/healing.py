"""Self-healing replay as a runtime, so the ordinary loop records it as a new run.

For each prompt the live screen is compared with the screen recorded before the next recorded
step. While they match, the answer is that step's action (re-encoded from normalized coordinates
into the dialect's space, so a device of another size works). Where they differ, the model plans
the step. After a planned step the live screen may match a later recorded step (the model's
detour brought the device back): the replay re-joins the recording there.

A run the model helped is a ``success`` only when it re-joined the recording and ended as the
recording ended (its last step is the recording's last, replayed on a matching screen). Otherwise
the model's own "done" is not evidence enough, and the run ends ``unverified``, saying why.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from PIL import Image

from vlagent.agent.core.steps import RunResult
from vlagent.agent.replay.replayer import DEFAULT_THRESHOLD, matches, recorded_screen, replayable
from vlagent.agent.runtimes.base import Completion, Runtime
from vlagent.agent.trajectory import ReplayOutcome, Step, Trajectory
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
    ) -> None:
        self.model = model
        self.trajectory = trajectory
        self.threshold = threshold
        self.pending = [
            s for s in trajectory.steps if (replayable(s) or ends_run(s)) and s.index >= start
        ]
        self.cursor = 0  # the next recorded step to replay
        self.calls = 0  # this run's next step index: one model call per step
        self.healed: list[int] = []
        """This run's steps that the model planned."""
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
                self.healed.append(index)
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
        for offset, step in enumerate(candidates):
            if step.index not in self._screens:
                self._screens[step.index] = recorded_screen(self.trajectory, step)
            recorded = self._screens[step.index]
            live_app, live_elements = (
                prompt.metadata.get("foreground"),
                prompt.metadata.get("elements"),
            )
            if (
                recorded is not None
                and matches(recorded, step, images[0], self.threshold, live_app, live_elements).same
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
        if self.healed and not ended_as_recorded:
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
        return replace(result, replay=outcome)

    def describe(self) -> dict[str, Any]:
        described: dict[str, Any] = self.model.describe()
        return {**described, "replay_of": str(self.trajectory.path)}

    def close(self) -> None:
        self.model.close()


def ends_run(step: Step) -> bool:
    return (
        step.error is None
        and step.action is not None
        and step.action.name in ("terminate", "answer")
    )


def _listed(indices: list[int]) -> str:
    return ", ".join(map(str, indices))
