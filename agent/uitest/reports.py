"""The reports of UI tests: one HTML page per test (every verb in order, each step with its
screenshot, the steps that came from the plan cache marked) and one index per session.

Pages link the screenshots the test's runs kept (``<nn>-<verb>/screens/...``) instead of
inlining them, so writing a report costs no image encoding; the layout fits a 1280-px window
(a single column at most 1240 px wide, screenshots at most 320 px tall). Every text passes the
secret redaction (tools/secrets.py). No scripts, no network.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from pathlib import Path

from vlagent.agent.core.steps import RunResult
from vlagent.tools.files import utf8
from vlagent.tools.secrets import redact

CACHED_PHASES = ("generate.replay", "generate.cache")
TEST_REPORT = "report.html"
INDEX = "index.html"
_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#202124}
main{max-width:1240px;margin:0 auto;padding:12px 16px;box-sizing:border-box}
h1{font-size:18px;margin:8px 0;overflow-wrap:anywhere}
h2{font-size:15px;margin:0 0 6px;overflow-wrap:anywhere}
.verb{background:#fff;border:1px solid #ddd;border-radius:8px;padding:10px;margin:10px 0}
.steps{display:flex;flex-wrap:wrap;gap:8px}
.step{border:1px solid #eee;border-radius:6px;padding:6px;max-width:260px;font-size:12px}
.step img{max-height:320px;max-width:240px;display:block}
.tag{display:inline-block;padding:1px 6px;border-radius:8px;font-weight:600;font-size:12px}
.ok{background:#e6f4ea;color:#137333}.bad{background:#fce8e6;color:#c5221f}
.cached{background:#e8f0fe;color:#1967d2}
table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #ddd;padding:4px;text-align:left}
"""


@dataclass(frozen=True)
class StepLine:
    """One step of a verb, as the test report shows it."""

    index: int
    action: str
    note: str
    screenshot: str | None
    cached: bool
    """Answered from the plan cache (a replayed step or a reused answer): no model judged it."""


@dataclass
class VerbRecord:
    """One verb of a test: what it was, how it ended, where its run is (None: not kept)."""

    verb: str
    status: str
    reason: str
    run_dir: Path | None
    model_calls: int
    cached: bool
    """Wholly from the plan cache: the model was not called."""
    steps: list[StepLine] = field(default_factory=list)
    report: Path | None = None

    @classmethod
    def of(
        cls, verb: str, result: RunResult, run_dir: Path | None, model_calls: int, cached: bool
    ) -> VerbRecord:
        steps = [
            StepLine(
                index=step.index,
                action=step.action.name if step.action is not None else "(no action)",
                note=(
                    step.error.message
                    if step.error
                    else (step.result.message if step.result else "")
                ),
                screenshot=step.screenshot,
                cached=any(phase in step.timings_ms for phase in CACHED_PHASES),
            )
            for step in result.steps
        ]
        return cls(verb, result.status, result.reason, run_dir, model_calls, cached, steps)

    @property
    def screenshot(self) -> Path | None:
        """The last screenshot this verb's run kept."""
        if self.run_dir is None:
            return None
        shot = next((s.screenshot for s in reversed(self.steps) if s.screenshot), None)
        return None if shot is None else self.run_dir / shot


def _e(text: object) -> str:
    return html.escape(redact(str(text)))


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "img-src 'self'; style-src 'unsafe-inline'\">"
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body><main>{body}</main>"
        "</body></html>\n"
    )


def _step_html(record: VerbRecord, step: StepLine, folder: Path) -> str:
    tag = (
        '<span class="tag cached">from the cache</span> no model judged it'
        if step.cached
        else '<span class="tag">model</span>'
    )
    image = ""
    if step.screenshot and record.run_dir is not None:
        link = os.path.relpath(record.run_dir / step.screenshot, folder)
        image = f'<a href="{_e(link)}"><img src="{_e(link)}" alt="step {step.index}"></a>'
    return (
        f'<div class="step">{image}<div>step {step.index}: <b>{_e(step.action)}</b></div>'
        f"<div>{tag}</div><div>{_e(step.note)}</div></div>"
    )


def _verb_html(number: int, record: VerbRecord, folder: Path) -> str:
    ok = record.status in ("success", "answered")
    status = f'<span class="tag {"ok" if ok else "bad"}">{_e(record.status)}</span>'
    origin = (
        ' <span class="tag cached">from the cache: no model was called</span>'
        if record.cached
        else f" · {record.model_calls} model call{'s' * (record.model_calls != 1)}"
    )
    steps = "".join(_step_html(record, step, folder) for step in record.steps)
    return (
        f'<section class="verb" id="verb-{number}"><h2>{number}. {_e(record.verb)} {status}'
        f'{origin}</h2><div>{_e(record.reason)}</div><div class="steps">{steps}</div></section>'
    )


def write_test_report(folder: Path, node_id: str, outcome: str, journal: list[VerbRecord]) -> Path:
    """The test's page, ``folder/report.html`` (``folder``: the test's runs)."""
    cached = sum(r.cached for r in journal)
    calls = sum(r.model_calls for r in journal)
    body = (
        f"<h1>{_e(node_id)}</h1><div>{_e(outcome)} · {len(journal)} verbs · {calls} model "
        f"calls · {cached} verbs wholly from the cache</div>"
        + "".join(_verb_html(n, r, folder) for n, r in enumerate(journal, 1))
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / TEST_REPORT
    path.write_bytes(utf8(_page(node_id, body)))
    return path


def write_index(root: Path, tests: list[tuple[str, str, Path | None]]) -> Path:
    """The session's index, ``root/index.html``: each test (node id, outcome, its report)."""
    rows = []
    for node_id, outcome, report in tests:
        link = (
            f'<a href="{_e(os.path.relpath(report, root))}">report</a>'
            if report is not None and report.is_file()
            else "(not kept)"
        )
        css = "ok" if outcome == "passed" else "bad"
        rows.append(
            f'<tr><td>{_e(node_id)}</td><td><span class="tag {css}">{_e(outcome)}</span></td>'
            f"<td>{link}</td></tr>"
        )
    body = (
        f"<h1>UI tests: {len(tests)}</h1><table><tr><th>test</th><th>outcome</th><th>report</th>"
        f"</tr>{''.join(rows)}</table>"
    )
    root.mkdir(parents=True, exist_ok=True)
    path = root / INDEX
    path.write_bytes(utf8(_page("UI tests", body)))
    return path
