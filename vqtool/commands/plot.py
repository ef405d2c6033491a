from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from vqtool.commands._options import JsonOpt, user_errors


@user_errors
def plot(
    run: Annotated[Path, typer.Argument(help="A run folder (its metrics.jsonl) or a metrics.jsonl file.")],
    out: Annotated[Optional[Path], typer.Option("--out", help="The PNG to write (default: RUN/curves.png).")] = None,
    json_: JsonOpt = False,
):
    """Draw a run's training curves (losses, codebook usage, d_weight, bits/token, FID) to a PNG."""
    from vqtool.app.plot import plot as run_plot
    from vqtool.commands import _ui

    r = run_plot(run, out)
    if json_:
        _ui.emit_json(r)
    else:
        _ui.result(r["out"])
