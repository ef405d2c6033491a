from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from vqtool.commands._options import JsonOpt, user_errors


@user_errors
def export(
    model: Annotated[Path, typer.Argument(help="A checkpoint or run folder (a VQGAN or a transformer bundle).")],
    out: Annotated[Path, typer.Option("--out", help="The folder to write: config.json, model.safetensors, README.md.")],
    format_: Annotated[str, typer.Option("--format", help="vqtool (config.json + model.safetensors, loaded by every command) or diffusers (a VQGAN as diffusers' VQModel).")] = "vqtool",
    push: Annotated[Optional[str], typer.Option("--push", help="Also upload it to the Hugging Face Hub as OWNER/NAME (needs a token and vqtool[hub]).")] = None,
    json_: JsonOpt = False,
):
    """Export a model as a safetensors folder (the Hugging Face layout) that every command loads."""
    from vqtool.app.export import export as run
    from vqtool.commands import _ui

    r = run(model, out, push, format_)
    _ui.written("export", r, json_)
