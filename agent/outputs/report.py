"""A run as one self-contained HTML page: every step's screenshot with its action drawn on it,
the model's raw output, the parsed action in three coordinate spaces, the result or error, and
timings. No network, no scripts: screenshots are inlined as data URLs and overlays are SVG.

A report is made from files someone else may have crafted, and opened in a browser: every value
is escaped, a Content-Security-Policy forbids scripts and every load but inline images, a run's
screenshots are read only from regular files inside its own folder (no symlink is followed), and
the page is written through a temporary file and a rename, so a ``report.html`` symlink is
replaced, never written through. Both go through the file layer (:mod:`vlagent.tools.files`).
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from vlagent.agent.evaluation.runner import PREDICTIONS, read_predictions

# The screenshots and their marks live in figures.py; the names this module used to define are
# re-exported ("X as X") so that importing them from here keeps working.
from vlagent.agent.outputs.figures import MAX_SHOT_HEIGHT as MAX_SHOT_HEIGHT
from vlagent.agent.outputs.figures import Unreadable as Unreadable
from vlagent.agent.outputs.figures import as_number, data_url, element_boxes, figure_html
from vlagent.agent.outputs.figures import overlay as overlay
from vlagent.agent.trajectory import ElementRecord, ReplayOutcome, Step, Trajectory, read_trajectory
from vlagent.agent.trajectory.files import (
    FileError,
    MissingFile,
    UnsafeFile,
    read_inside,
    write_file,
)
from vlagent.tools.files import utf8

REPORT_FILE = "report.html"
CSP = (
    '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src data:; '
    "style-src 'unsafe-inline'\">"
)
_CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;background:#f4f5f7;color:#202124}
header{background:#fff;padding:16px 24px;border-bottom:1px solid #ddd}
h1{font-size:20px;margin:0 0 6px} .meta{color:#5f6368;font-size:13px}
.status{display:inline-block;padding:2px 8px;border-radius:10px;font-weight:600}
.ok{background:#e6f4ea;color:#137333}.bad{background:#fce8e6;color:#c5221f}.cached{background:#e8f0fe;color:#1967d2}
main{padding:16px 24px;display:flex;flex-direction:column;gap:16px}
.step{background:#fff;border:1px solid #ddd;border-radius:8px;display:flex;gap:16px;padding:12px}
figure{margin:0;position:relative;flex:0 1 auto;max-width:62%%;line-height:0}
figure img{display:block;max-height:%(h)dpx;max-width:100%%;width:auto;height:auto;border:1px solid #ccc}
figure svg{position:absolute;left:0;top:0;width:100%%;height:100%%}
.info{flex:1;min-width:0} .info h2{font-size:16px;margin:0 0 8px}
pre{background:#f8f9fa;border:1px solid #eee;padding:8px;white-space:pre-wrap;word-break:break-word;
font-size:12px;max-height:260px;overflow:auto;margin:4px 0 10px}
.error{color:#c5221f;font-weight:600} table{border-collapse:collapse;font-size:13px}
td{padding:2px 10px 2px 0;vertical-align:top}
""" % {"h": MAX_SHOT_HEIGHT}


def _e(value: object) -> str:
    """Any value, as HTML text."""
    return html.escape(str(value))


Shot = tuple[str, tuple[int, int]] | Unreadable | None


def _recorded_shot(trajectory: Trajectory, name: str | None) -> Shot:
    """A picture the run names, read through the file layer: only a regular file inside the run
    reached without a link is drawn; another is named in its place; a missing one is left out."""
    if not name:
        return None
    shown = PurePosixPath(name).name
    try:
        data = read_inside(trajectory.path, name)
    except MissingFile:
        return None
    except UnsafeFile:
        return Unreadable(f"{shown} is not shown: not a regular file inside the run")
    except FileError as exc:
        return Unreadable(f"{shown} is unreadable ({exc.strerror or type(exc).__name__})")
    return data_url(data, shown)


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


def _dataset_image(name: object) -> Shot:
    """A gold screenshot named in predictions.jsonl: an image file reached without any link (the
    dataset's folder is named by its full path), read through the file layer."""
    if not isinstance(name, str) or not name.lower().endswith(IMAGE_SUFFIXES):
        return None
    path = Path(name)
    try:
        if path.resolve() != path.absolute():  # a link somewhere on the way
            return None
        return data_url(read_inside(path.parent, path.name), path.name)
    except (OSError, RuntimeError):
        return None


def _write_page(path: Path, *parts: Iterable[str]) -> Path:
    """Write the page's parts to ``path`` through the file layer (a temporary file and a rename:
    a link at ``path`` is replaced, its target untouched)."""

    def write(sink: BinaryIO) -> None:
        for part in parts:
            for text in part:
                sink.write(utf8(text))

    return write_file(path, write)


def _step_html(trajectory: Trajectory, step: Step) -> str:
    """One step as a section: its screenshots with their marks, then what the model did."""
    chosen = _argument(step, "element")
    figure = _step_figures(trajectory, step, chosen)
    title = _step_title(step)
    rows = _step_rows(step, chosen)
    timings = ", ".join(f"{k} {v:.0f} ms" for k, v in step.timings_ms.items())
    tokens = ""
    if step.prompt_tokens is not None:
        tokens = f" · {step.prompt_tokens} prompt + {step.completion_tokens} completion tokens"
    return (
        f'<section class="step" id="step-{step.index}">{figure}<div class="info">'
        f"<h2>step {step.index} — {title}</h2><table>{''.join(rows)}</table>"
        f'<div class="meta">{html.escape(timings)}{tokens}</div>'
        f"<div>{_output_label(step)}</div>"
        f'<pre class="output">{html.escape(step.output_text or "")}</pre></div></section>'
    )


def _output_label(step: Step) -> str:
    # A step answered from a recording (replay, the UI-test cache) was judged by no model now.
    if "generate.replay" in step.timings_ms or "generate.cache" in step.timings_ms:
        return '<span class="status cached">from the cache</span> no model was called for this step'
    return "model output"


def _argument(step: Step, name: str) -> Any:
    """An argument of the step's action as the model wrote it; None when there is no action."""
    return (step.action.model or {}).get(name) if step.action is not None else None


def _step_figures(trajectory: Trajectory, step: Step, chosen: object) -> str:
    """The step's screenshot with the listed elements and the action drawn on it, then each other
    camera's view; the action is drawn on the camera it names (the main one when it names none)."""
    shot = _recorded_shot(trajectory, step.screenshot)
    action = step.action
    camera = _argument(step, "camera")
    on_first = camera in (
        None,
        step.image_name or "screen",
    )  # a point on another camera is drawn there

    def marks(size: tuple[int, int]) -> str:
        drawn = overlay(
            action.normalized if action and on_first else None, size, str(step.index), svg=False
        )
        boxes = element_boxes(step.elements or [], size, step.image_size, chosen)
        if not (drawn or boxes):
            return ""
        return (
            f'<svg class="overlay" viewBox="0 0 {size[0]} {size[1]}" preserveAspectRatio="none">'
            f"{boxes}{drawn}</svg>"
        )

    figure = figure_html(shot, marks, f"step {step.index}")
    for name, path in (step.views or {}).items():

        def view_marks(size: tuple[int, int], name: str = name) -> str:
            return overlay(
                action.normalized if action and camera == name else None,
                size,
                f"{step.index}-{name}",
            )

        figure += figure_html(
            _recorded_shot(trajectory, path),
            view_marks,
            f"step {step.index}, {name}",
        )
    return figure


def _step_title(step: Step) -> str:
    """The step's heading: its error, else the action as the model gave it."""
    if step.error is not None:
        return f'<span class="error">{html.escape(step.error.kind)} error</span>'
    if step.action is not None:
        return html.escape(json.dumps(step.action.model, ensure_ascii=False))
    return "no action"


def _step_rows(step: Step, chosen: object) -> list[str]:
    """The step's table: the action in each coordinate space, its result or error, the state, the
    app in front and the elements listed to the model."""
    action = step.action
    rows = []
    if action is not None:
        for space, values in (
            ("model", action.model),
            ("normalized", action.normalized),
            ("device", action.device),
        ):
            rows.append(
                f"<tr><td>{space}</td><td>{html.escape(json.dumps(values, ensure_ascii=False))}</td></tr>"
            )
    if step.result is not None:
        rows.append(f"<tr><td>result</td><td>{html.escape(step.result.message)}</td></tr>")
    if step.error is not None:
        rows.append(
            f'<tr><td>error</td><td class="error">{html.escape(step.error.message)}</td></tr>'
        )
    if step.state:
        rows.append(
            f"<tr><td>state</td><td>{html.escape(json.dumps(step.state, ensure_ascii=False))}</td></tr>"
        )
    app = (step.metadata or {}).get("foreground")
    if isinstance(app, str):
        rows.append(f"<tr><td>app in front</td><td>{html.escape(app)}</td></tr>")
    if step.elements is not None:
        rows.append(_elements_row(step.elements, chosen))
    return rows


def _elements_row(elements: list[ElementRecord], chosen: object) -> str:
    """The elements listed to the model, folded, numbered as the model saw them; the one it chose
    marked."""
    listed = "".join(
        f"<li{' class=chosen' if i == chosen else ''} "
        f"value={i}>{html.escape(_element_text(e))}</li>"
        for i, e in enumerate(elements)
    )
    return (
        f"<tr><td>elements</td><td><details><summary>{len(elements)} listed to the "
        f"model</summary><ol start=0>{listed}</ol></details></td></tr>"
    )


def _element_text(element: ElementRecord) -> str:
    words = " ".join(
        w for w in (f'"{element.text}"' if element.text else "", element.description) if w
    )
    return (
        f"{element.kind.rsplit('.', 1)[-1]} {words} {list(element.bounds)}"
        f"{' clickable' if element.clickable else ''}"
    )


def _replay_line(outcome: ReplayOutcome) -> str:
    healed = ", ".join(map(str, outcome.healed_steps)) or "none"
    rejoined = "never" if outcome.rejoined_at is None else f"at recorded step {outcome.rejoined_at}"
    line = (
        f"self-healing replay of {_e(outcome.of)} · steps planned by the model: {healed} · "
        f"re-joined the recording: {rejoined}"
    )
    return line + (f" · <b>unverified:</b> {_e(outcome.unverified)}" if outcome.unverified else "")


def render_run_report(run_dir: str | Path) -> Path:
    """Write ``RUN_DIR/report.html`` for a recorded run and return its path."""
    trajectory = read_trajectory(run_dir)
    header, end = trajectory.header, trajectory.end
    status = end.status if end else "not closed"
    css_class = "ok" if end is not None and end.succeeded else "bad"
    summary = html.escape(end.reason) if end else "the run was killed or is still going"
    if end and end.answer:
        summary += f" — answer: {html.escape(end.answer)}"
    if end and end.replay:
        summary += f'<div class="meta" id="replay">{_replay_line(end.replay)}</div>'
    model = header.model
    meta = (
        f"{html.escape(header.environment.name)} · model {html.escape(model.id)} "
        f"({html.escape(model.runtime)}) · dialect {html.escape(header.dialect)} · started "
        f"{html.escape(header.started_at)}"
    )
    top = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">{CSP}<title>vlagent run: '
        f"{html.escape(header.goal)}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>{html.escape(header.goal)}</h1>"
        f'<div><span class="status {css_class}" id="status">{html.escape(status)}</span> '
        f"{summary}</div>"
        f'<div class="meta">{meta} · {len(trajectory.steps)} steps</div></header><main>'
    )
    # Written step by step: a run of thousands of steps never sits in memory as one page.
    steps = (_step_html(trajectory, step) for step in trajectory.steps)
    return _write_page(trajectory.path / REPORT_FILE, [top], steps, ["</main></body></html>"])


def render_eval_report(out_dir: str | Path) -> Path:
    """Write ``OUT/report.html`` for an evaluation: the metrics and their settings, accuracy per
    action type as bars, and every step's screenshot with the gold action (green) and the
    prediction (red) drawn on it."""
    out = Path(out_dir)
    metrics = json.loads(read_inside(out, "metrics.json").decode("utf-8"))
    predictions = read_predictions(out / PREDICTIONS)
    cards = _metric_cards(metrics)
    chart = _type_chart(metrics.get("per_type", {}))
    steps = [_prediction_html(key, p) for key, p in enumerate(predictions)]
    settings = html.escape(json.dumps(metrics.get("settings", {}), indent=1, ensure_ascii=False))
    page = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">{CSP}<title>vlagent '
        f"evaluation</title>"
        f"<style>{_CSS}.metrics{{display:flex;gap:12px}}.metric{{background:#fff;border:1px solid "
        f"#ddd;"
        f"border-radius:8px;padding:10px 16px;text-align:center}}.metric "
        f"b{{font-size:22px}}</style></head><body>"
        f"<header><h1>Evaluation: {_e(metrics.get('steps', 0))} steps, "
        f"{_e(metrics.get('episodes', 0))} episodes</h1>"
        f'<div class="metrics">{cards}</div></header><main><section class="step"><div class="info">'
        f"<h2>accuracy per action type (gold)</h2>{chart}<details><summary>settings</summary>"
        f"<pre>{settings}</pre></details></div></section>{''.join(steps)}</main></body></html>"
    )
    return _write_page(out / REPORT_FILE, [page])


def _metric_cards(metrics: dict[str, Any]) -> str:
    """The headline metrics, one card each."""
    names = ("type_match", "exact_match", "success_rate", "goal_progress", "parse_rate")
    return "".join(
        f'<div class="metric" id="{n}"><b>{as_number(metrics.get(n)):.3f}</b><br>'
        f"{n.replace('_', ' ')}</div>"
        for n in names
    )


def _type_chart(per_type: dict[str, Any]) -> str:
    """Type match and exact match of each gold action type, as a pair of bars."""
    bars = []
    for i, (kind, row) in enumerate(per_type.items()):
        y = 10 + i * 34
        for j, (key, colour) in enumerate((("type_match", "#8ab4f8"), ("exact_match", "#1a73e8"))):
            share = as_number(row.get(key))
            bars.append(
                f'<rect class="bar" x="150" y="{y + j * 13}" width="{share * 400:.1f}" height="12" '
                f'fill="{colour}"/><text x="{155 + share * 400:.1f}" y="{y + 10 + j * 13}" '
                f'font-size="11">{share:.2f}</text>'
            )
        bars.append(
            f'<text x="0" y="{y + 18}" font-size="13">{_e(kind)} ({_e(row.get("steps"))})</text>'
        )
    return (
        f'<svg class="chart" width="620" height="{20 + 34 * len(per_type)}">{"".join(bars)}</svg>'
        '<div class="meta">light: type match · dark: exact match</div>'
    )


def _prediction_html(key: int, p: dict[str, Any]) -> str:
    """One predicted step as a section: the gold action (green) and the prediction (red) drawn on
    its screenshot, both as arguments, and the verdict with its reason. ``key`` keeps the step's
    SVG ids apart from the other steps'."""
    shot = _dataset_image(p.get("image"))

    def marks(size: tuple[int, int]) -> str:
        gold = overlay(p["gold"]["arguments"], size, f"g{key}", "#34a853", svg=False)
        mine = overlay(
            (p.get("parsed") or {}).get("arguments") or {},
            size,
            f"p{key}",
            "#ea4335",
            svg=False,
        )
        return (
            f'<svg class="overlay" viewBox="0 0 {size[0]} {size[1]}" '
            f'preserveAspectRatio="none">'
            f"{gold}{mine}</svg>"
        )

    figure = figure_html(shot, marks, f"{p['episode']} step {p['step']}")
    verdict = "exact" if p["exact_match"] else ("type only" if p["type_match"] else "wrong")
    css = "ok" if p["exact_match"] else "bad"
    parsed = (p.get("parsed") or {}).get("arguments")
    return (
        f'<section class="step">{figure}<div class="info"><h2>{_e(p["episode"])} · step '
        f"{_e(p['step'])} "
        f'<span class="status {css}">{verdict}</span></h2><table>'
        f"<tr><td>gold</td><td>{_shown(p['gold']['arguments'])}</td></tr>"
        f"<tr><td>predicted</td><td>{_shown(parsed)}</td></tr>"
        f"<tr><td>why</td><td>{_e(p['reason'])}</td></tr></table>"
        f"<div>model output</div><pre "
        f'class="output">{_e(p.get("output") or "")}</pre></div></section>'
    )


def _shown(arguments: Any) -> str:
    """Arguments for reading: normalized points to 4 decimals (predictions.jsonl keeps them all)."""

    def rounded(value: Any) -> Any:
        if isinstance(value, float):
            return round(value, 4)
        if isinstance(value, list):
            return [rounded(v) for v in value]
        if isinstance(value, dict):
            return {k: rounded(v) for k, v in value.items()}
        return value

    return html.escape(json.dumps(rounded(arguments), ensure_ascii=False))
