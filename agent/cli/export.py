"""``agent export``: recorded runs as a LeRobotDataset-layout dataset (agent/export.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vlagent.agent.cli import exitcodes
from vlagent.agent.cli.common import app, console, fail
from vlagent.agent.cli.terminal import terminal_text


@app.command()
def export(
    run_dirs: Annotated[
        list[Path], typer.Argument(help="Run directories; each becomes one episode.")
    ],
    out: Annotated[
        Path, typer.Option("--out", help="The dataset directory to write (new or empty).")
    ],
    fps: Annotated[
        int, typer.Option("--fps", min=1, help="Frames per second written in the dataset.")
    ] = 1,
    drop_invalid: Annotated[
        bool,
        typer.Option(
            "--drop-invalid",
            help="Leave out the frames of steps whose answer was invalid (else they are kept, "
            "flagged action.valid false).",
        ),
    ] = False,
) -> None:
    """Export runs as a LeRobotDataset v3.0-layout dataset, one episode per run.

    Made for robot runs (--env sim-pick, gym); any run exports."""
    from vlagent.agent.outputs.export import ExportError, export_lerobot

    try:
        export_lerobot(run_dirs, out, fps=fps, drop_invalid=drop_invalid)
    except ExportError as exc:  # a run that cannot be read or exported, an --out in use
        fail(str(exc), exitcodes.SETUP)
    except ImportError as exc:
        fail(f"agent export needs Hugging Face datasets ({exc}): pip install 'vlagent[data]'")
    console.print(f"dataset: {terminal_text(out)}  [dim]{len(run_dirs)} episode(s)[/dim]")
