from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vqtool.commands._options import JsonOpt, user_errors


@user_errors
def info(
    path: Annotated[Path, typer.Argument(help="A checkpoint (.pt), a run folder or a shard folder.")],
    json_: JsonOpt = False,
):
    """What a checkpoint or a shard folder holds."""
    from vqtool.commands import _ui
    from vqtool.app.inspect_ import describe

    d = describe(path)
    if json_:
        _ui.emit_json(d)
    else:
        _ui.table(str(path), d)
        _ui.figures(d)
