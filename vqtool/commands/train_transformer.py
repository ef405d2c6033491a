from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vqtool.commands._options import (DeviceOpt, JsonOpt, MaxMemoryOpt, RecipeOpt, ResumeOpt, SetOpt, parse_memory,
                                      user_errors)

DEFAULT_RECIPE = "scenes-transformer-tiny"


@user_errors
def train_transformer(
    shards: Annotated[Path, typer.Argument(help="Shard folder written by `vqtool tokenize`.")] = Path("shards"),
    recipe: RecipeOpt = None,
    set_: SetOpt = None,
    out: Annotated[Path, typer.Option("--out", help="Run folder.")] = Path("runs/transformer"),
    resume: ResumeOpt = False,
    device: DeviceOpt = "auto",
    max_memory: MaxMemoryOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Train even on codes of a collapsed VQGAN (entropy < 1 bit/token).")] = False,
    json_: JsonOpt = False,
):
    """Train the transformer on token shards (unconditional, class- or segmentation-conditional,
    decided by what the shards hold). Default recipe: scenes-transformer-tiny."""
    from vqtool.commands import _ui
    from vqtool.core.config import load_recipe
    from vqtool.train.transformer import train_transformer as run

    r = None if resume else load_recipe(recipe or DEFAULT_RECIPE, set_, kinds=("transformer",))
    with _ui.training_callbacks("transformer") as cb:
        s = run(shards, out, r, resume=resume, overrides=set_ if resume else None, device=device,
                callbacks=cb, force=force, max_memory=parse_memory(max_memory))
    if json_:
        _ui.emit_json(s)
    else:
        _ui.table("train-transformer", s)
        _ui.result(s["checkpoint"])
    if s["interrupted"]:
        raise typer.Exit(130)
