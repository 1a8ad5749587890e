"""What a prompt lists of the run so far: a window over the earlier calls, so that a long run's
prompt stays bounded (at step 1,200 an unbounded list was 121k characters, and rendering it cost
more than everything else in a step).

The window drops the oldest calls in blocks of half its size rather than one a step: between two
drops the list only grows at its end, so each prompt starts with the previous one (a model
server's prefix cache and the trajectory's ``prompt_from`` keep working). What fell out is one
line: how many calls, of which actions. Calls that were decided but never executed (late past a
deadline, cancelled, stopped) stay listed, marked as such, never among what "you have done".
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from vlagent.prompts.base import History, call_text
from vlagent.tools import ToolCall


@dataclass(frozen=True)
class HistoryWindow:
    """At most ``steps`` earlier calls, of at most ``chars`` characters together, are listed in
    a prompt (at least the last one always is)."""

    steps: int = 40
    chars: int = 8000

    def __post_init__(self) -> None:
        if self.steps < 1 or self.chars < 1:
            raise ValueError(
                f"a history window of {self.steps} steps and {self.chars} characters: "
                "both are 1 or more"
            )


class RunHistory:
    """A run's calls, in order, and the window of them the next prompt shows."""

    def __init__(self, window: HistoryWindow | None = None) -> None:
        self.window = window or HistoryWindow()
        self.calls: list[ToolCall] = []
        self._sizes: list[int] = []
        self._unexecuted: set[int] = set()
        self._summary: tuple[int, str] = (0, "")

    def __len__(self) -> int:
        return len(self.calls)

    def add(self, call: ToolCall) -> int:
        """Append ``call``; its number in the list (from 1)."""
        self.calls.append(call)
        self._sizes.append(len(call_text(call)))
        return len(self.calls)

    def not_executed(self, number: int) -> None:
        """Mark call ``number`` as decided but not executed."""
        self._unexecuted.add(number)

    def shown(self) -> History:
        """The calls the next prompt lists, with the line that sums up those before them."""
        count, steps = len(self.calls), self.window.steps
        block = max(1, steps // 2)
        start = 0 if count <= steps else -(-(count - steps) // block) * block
        budget, used = self.window.chars, sum(self._sizes[start:])
        while used > budget and start < count - 1:
            used -= self._sizes[start]
            start += 1
        return History(
            self.calls[start:],
            first=start + 1,
            earlier=self._earlier(start),
            unexecuted=(n for n in self._unexecuted if n > start),
        )

    def _earlier(self, start: int) -> str:
        if start == 0:
            return ""
        if self._summary[0] != start:  # the same until the window moves again
            actions = Counter(
                str(call.arguments.get("action", call.name)) for call in self.calls[:start]
            )
            listed = ", ".join(f"{n} {name}" for name, n in actions.most_common(8))
            more = "" if len(actions) <= 8 else f" and {len(actions) - 8} more kinds"
            skipped = sum(1 for n in self._unexecuted if n <= start)
            unexecuted = f", {skipped} of them not executed" if skipped else ""
            self._summary = (
                start,
                f"Steps 1-{start} (not listed): {listed}{more}{unexecuted}",
            )
        return self._summary[1]
