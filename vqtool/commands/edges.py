from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vqtool.commands._options import JsonOpt, user_errors


@user_errors
def edges(
    images: Annotated[Path, typer.Argument(help="Image folder (sub-folders kept).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the edge maps (same relative paths, PNG).")] = Path("edges"),
    sigma: Annotated[float, typer.Option("--sigma", help="Gaussian smoothing before Canny, in pixels (make-scenes uses 2).")] = 2.0,
    json_: JsonOpt = False,
):
    """Edge maps of your images (Canny, the extractor make-scenes uses), for an edge VQGAN and an
    edge-conditional transformer: train-vqgan OUT --kind edges, tokenize IMAGES --cond edges=OUT."""
    from vqtool.commands import _ui
    from vqtool.data.edges import edges_folder

    with _ui.progress("edges") as advance:
        s = edges_folder(images, out, sigma, progress=advance, warn=_ui.warn)
    if json_:
        _ui.emit_json(s)
        return
    _ui.table("edges", s)
    _ui.result(s["out"])
