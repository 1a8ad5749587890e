"""Evaluation protocols: everything a published step-wise number depends on besides the model —
how the prompt is built, how history is shown, the pixel budget, the step instruction's wording
and the scoring rule — named after the pipeline that produced the number.

``agent eval`` uses the protocol published for the benchmark it reads (``DEFAULT_PROTOCOL``) and
writes it into ``metrics.json``, with every setting the user changed and every known difference
from the published pipeline; ``--protocol`` chooses another (docs/evaluation.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from vlagent.tools.errors import VlagentError

STOCK_PIXELS = 16384 * 28 * 28
"""The pixel budget of stock Qwen2-VL/2.5-VL processors and UI-TARS deployments (12,845,056)."""

_QWEN_PROMPT = (
    "the model's dialect; for Qwen2/2.5-VL the Qwen function-calling prompt (system: 'You are a "
    "helpful assistant.' and the mobile_use tools section; user: 'The user query: …', the task "
    "progress, the screenshot)"
)
_OWN_PROMPT = "the model's own dialect, as agent run builds it"
_TEXT_HISTORY = (
    "the gold actions of the earlier steps as text ('Step 1: …; Step 2: …; ' in the dialect's "
    "action format); only the current screenshot as an image"
)
_OUR_TOOL_TEXT = (
    "the mobile_use tool description is vlagent's own wording (same parameters and actions), "
    "not the Qwen cookbook's"
)


@dataclass(frozen=True)
class Protocol:
    name: str
    benchmark: str
    scorer: str
    max_pixels: int | None
    """The pixel budget of the published pipeline; None: the model's own default."""
    step_instruction: str
    """How AndroidControl's low-level step instruction joins the goal ({goal}, {instruction})."""
    prompt: str
    history: str
    source: str
    differences: tuple[str, ...] = ()
    """Where a run under this protocol is known to differ from the published pipeline."""

    def goal_for(self, goal: str, instruction: str | None) -> str:
        return (
            self.step_instruction.format(goal=goal, instruction=instruction)
            if instruction
            else goal
        )

    def record(self, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        """The protocol as ``metrics.json`` keeps it, with the settings the user changed."""
        return {**asdict(self), "differences": list(self.differences), "overrides": overrides or {}}


PROTOCOLS = {
    p.name: p
    for p in (
        Protocol(
            "qwen-aitz",
            "aitz",
            "qwen-aitz",
            STOCK_PIXELS,
            "{goal}\nCurrent step: {instruction}",
            _QWEN_PROMPT,
            _TEXT_HISTORY,
            "the Qwen team's AITZ evaluation for Qwen2.5-VL (QwenLM/Qwen2.5-VL issue 904 and its "
            "gist; evaluator kept in OpenBMB/AgentCPM-GUI)",
            (_OUR_TOOL_TEXT,),
        ),
        Protocol(
            "aitz",
            "aitz",
            "aitz",
            None,
            "{goal}\nCurrent step: {instruction}",
            _OWN_PROMPT,
            _TEXT_HISTORY,
            "AITZ's own evaluator (IMNearth/CoAT)",
            (
                "CoAT's published numbers prompt with its chain-of-action format (screen "
                "description, action think, action result); this protocol keeps only its scoring",
            ),
        ),
        Protocol(
            "qwen-androidcontrol",
            "androidcontrol",
            "qwen-androidcontrol",
            6400 * 28 * 28,
            "{goal}\nCurrent step query: {instruction}",
            _QWEN_PROMPT,
            _TEXT_HISTORY,
            "the AndroidControl evaluation the Qwen team shared for Qwen2.5-VL (gist in "
            "QwenLM/Qwen2.5-VL issue 904), as Reallm-Labs/InfiGUI-R1 eval/android_control keeps "
            "it: 'high' gives the goal, 'low' adds 'Current step query:'",
            (
                _OUR_TOOL_TEXT,
                "the user text has one space after 'The user query:' (the harness has two) and "
                "leaves out the task-progress line before the first step",
                "target element boxes come from the accessibility trees by vlagent's rule (the "
                "reference's preprocessed boxes are not published)",
            ),
        ),
        Protocol(
            "os-atlas-androidcontrol",
            "androidcontrol",
            "os-atlas-androidcontrol",
            STOCK_PIXELS,
            "{goal} You need to: {instruction}",
            _OWN_PROMPT,
            _TEXT_HISTORY,
            "OS-Atlas's AndroidControl evaluation (OS-Copilot/OS-Atlas eval/), which UI-TARS "
            "reports with; 'low' appends 'You need to: <step instruction>' to the task as "
            "OS-Atlas's test data does",
            (
                "OS-Atlas's own models answer in its action language (CLICK <point>…); vlagent has "
                "no dialect for it, so a model is prompted in its own dialect (UI-TARS: the "
                "UI-TARS mobile prompt)",
                "OS-Atlas's history lists the earlier step instructions ('Step 1: open the app.'); "
                "ours lists the earlier gold actions",
            ),
        ),
        Protocol(
            "aitw",
            "aitw",
            "aitw",
            None,
            "{goal}\nCurrent step: {instruction}",
            _OWN_PROMPT,
            _TEXT_HISTORY,
            "Google's AITW action matching (google-research android_in_the_wild); the AITW paper "
            "fixes no prompt for other models",
        ),
        Protocol(
            "own-runs",
            "trajectory",
            "qwen-aitz",
            None,
            "{goal}\nCurrent step: {instruction}",
            _OWN_PROMPT,
            _TEXT_HISTORY,
            "no published protocol: runs recorded by agent run, scored by the qwen-aitz rules",
        ),
    )
}

DEFAULT_PROTOCOL = {
    "aitz": "qwen-aitz",
    "aitw": "aitw",
    "androidcontrol": "qwen-androidcontrol",
    "trajectory": "own-runs",
}
"""The protocol published numbers for each benchmark come from (the one agent eval uses by
default)."""


class ProtocolError(VlagentError, ValueError):
    """An unknown protocol, or one for another benchmark."""


def protocol_for(benchmark: str, name: str | None = None) -> Protocol:
    """The protocol named ``name``, else the default one for ``benchmark``."""
    chosen = name or DEFAULT_PROTOCOL.get(benchmark, "own-runs")
    if chosen not in PROTOCOLS:
        raise ProtocolError(f"unknown protocol {chosen!r}; one of {', '.join(PROTOCOLS)}")
    return PROTOCOLS[chosen]


ALLOW_OTHER = "--allow-other-benchmark"


def check_data(
    protocol: Protocol, benchmarks: Iterable[str], allow_other: bool = False
) -> list[str]:
    """Refuse to score data of another benchmark than ``protocol``'s (its rules and prompt were
    made for that benchmark's actions and fields), unless ``allow_other``; returns the other
    benchmarks scored anyway, which the caller records as an override."""
    others = sorted(set(benchmarks) - {protocol.benchmark})
    if others and not allow_other:
        fitting = sorted({DEFAULT_PROTOCOL.get(b, "own-runs") for b in others})
        raise ProtocolError(
            f"protocol {protocol.name} is for {protocol.benchmark} data, but the dataset holds "
            f"{', '.join(others)} episodes; use --protocol {' or '.join(fitting)}"
            f"{' and --format to read one benchmark' if len(set(benchmarks)) > 1 else ''}, "
            f"or add {ALLOW_OTHER} to score it anyway (recorded)"
        )
    return others
