from __future__ import annotations

from typing import Annotated, Optional

import typer

from vqtool.commands._options import DeviceOpt, JsonOpt, RecipeOpt, SetOpt, user_errors

app = typer.Typer(help="Throughput and memory of each stage on this device.", invoke_without_command=True)


def _render(rows: list[dict], json_: bool) -> None:
    from vqtool.commands import _ui

    if json_:
        _ui.emit_json(rows if len(rows) > 1 else rows[0])
    else:
        _ui.table("bench", rows) if len(rows) > 1 else _ui.table(f"bench {rows[0]['stage']}", rows[0])


@app.command("vqgan")
@user_errors
def vqgan(recipe: RecipeOpt = None, set_: SetOpt = None,
          steps: Annotated[int, typer.Option("--steps", min=1)] = 5,
          batch_size: Annotated[Optional[int], typer.Option("--batch-size", min=1)] = None,
          size: Annotated[Optional[int], typer.Option("--size", min=8)] = None,
          device: DeviceOpt = "auto", json_: JsonOpt = False):
    """VQGAN training steps/s, images/s and peak memory for a recipe."""
    from vqtool.bench import bench_vqgan

    _render([bench_vqgan(recipe or "scenes-vqgan-tiny", set_, steps, batch_size, size, device)], json_)
