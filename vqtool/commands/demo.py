from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from vqtool.commands._options import DeviceOpt, JsonOpt, user_errors


@user_errors
def demo(
    out: Annotated[Path, typer.Option("--out", help="Folder for data, runs, samples and report.html.")] = Path("demo"),
    fresh: Annotated[bool, typer.Option("--fresh", help="Start over: delete --out first (only a folder an earlier demo made).")] = False,
    from_scratch: Annotated[bool, typer.Option("--from-scratch", help="Train every model here instead of starting from the shipped demo checkpoints (about 5 h on 2 CPU cores; rerun to continue an interrupted run).")] = False,
    n_scenes: Annotated[Optional[int], typer.Option("--n-scenes", min=4, help="Training scenes (default 400 from scratch, 48 otherwise).")] = None,
    fast: Annotated[bool, typer.Option("--fast", help="Sample the 1280x832 landscape with --mode fast (a paper GPT; a local model samples exactly either way).")] = False,
    device: DeviceOpt = "auto",
    json_: JsonOpt = False,
):
    """The whole pipeline on the embedded scenes: models, tokens, 1280x832 landscapes from a label map and a depth map, 4x super-resolution, a class grid, metrics, report.html."""
    from vqtool.commands import _ui
    from vqtool.app.demo import DemoHooks, DemoInterrupted, DemoOptions, run_demo

    def stage(name, detail):
        _ui.info(f"[{name}] {detail}")

    opts = DemoOptions(from_scratch=from_scratch, fresh=fresh, n_scenes=n_scenes, exact=not fast, device=device)
    try:
        fig = run_demo(out, opts, DemoHooks(stage=stage, training=_ui.training_callbacks, progress=_ui.progress))
    except DemoInterrupted as e:
        _ui.warn(str(e))
        raise typer.Exit(130)
    if json_:
        _ui.emit_json(fig)
    else:
        _ui.table("demo", {"report": fig["report"], "sample": fig["sample"], **fig["timings"]})
        _ui.result(fig["report"])
