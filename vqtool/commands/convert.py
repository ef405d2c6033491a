from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from vqtool.commands._options import JsonOpt, user_errors


@user_errors
def convert_taming(
    ckpt: Annotated[Path, typer.Argument(help="taming-transformers checkpoint (last.ckpt).")],
    config: Annotated[Optional[Path], typer.Option("--config", help="The run's configs/*-project.yaml (needed for transformers).")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Output .pt (default: beside the input).")] = None,
    json_: JsonOpt = False,
):
    """Convert a taming-transformers VQModel, GumbelVQ, VQSegmentationModel or Net2NetTransformer."""
    from vqtool.commands import _ui
    from vqtool.interop.taming import convert

    out = out or ckpt.with_name(ckpt.stem + "-vqtool.pt")
    r = convert(ckpt, out, config)
    if json_:
        _ui.emit_json(r)
    else:
        _ui.table("convert-taming", r)
        _ui.result(r["out"])
