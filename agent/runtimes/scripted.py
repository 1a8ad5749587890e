"""The scripted runtime: canned answers from a file, in order. A deterministic model for tests,
demos and bug reports.

File format: answers separated by a line that holds only ``---``. One answer per model call;
when they run out the run ends with an error that says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vlagent.agent.runtimes.base import Completion, ModelUnavailable, Runtime, RuntimeFailure
from vlagent.prompts import Prompt

SEPARATOR = "---"


def split_script(text: str) -> list[str]:
    """The answers in a script: blocks between ``---`` lines, surrounding blank lines removed."""
    answers: list[list[str]] = [[]]
    for line in text.splitlines():
        if line.strip("\r") == SEPARATOR:
            answers.append([])
        else:
            answers[-1].append(line)
    return ["\n".join(lines).strip("\n") for lines in answers]


class ScriptedRuntime(Runtime):
    """Returns ``outputs`` one per prompt, in order."""

    name = "scripted"

    def __init__(self, outputs: list[str], source: str = "<memory>") -> None:
        if not outputs:
            raise ModelUnavailable(f"the script {source} holds no answers")
        self.outputs = outputs
        self.source = source
        self.used = 0

    @classmethod
    def from_file(cls, path: str | Path) -> ScriptedRuntime:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ModelUnavailable(f"script file {str(path)!r} not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ModelUnavailable(f"cannot read script file {str(path)!r}: {exc}") from None
        if not text.strip():
            raise ModelUnavailable(
                f"script file {str(path)!r} is empty; write one answer per model call, "
                f"separated by lines holding only {SEPARATOR}"
            )
        return cls(split_script(text), source=str(path))

    def generate(self, prompts: list[Prompt]) -> list[Completion]:
        completions = []
        for _ in prompts:
            if self.used >= len(self.outputs):
                raise RuntimeFailure(
                    f"the scripted model ran out of answers ({len(self.outputs)} in "
                    f"{self.source}); add answers or end the script with a terminate call"
                )
            completions.append(Completion(text=self.outputs[self.used]))
            self.used += 1
        return completions

    def describe(self) -> dict[str, Any]:
        return {
            "id": f"scripted:{self.source}",
            "runtime": self.name,
            "options": {"answers": len(self.outputs)},
        }
