from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from vqtool.commands._options import (DeviceOpt, JsonOpt, MaxMemoryOpt, RecipeOpt, ResumeOpt, SetOpt,
                                      WeightsDirOpt, parse_memory, user_errors)

DEFAULT_RECIPE = {"image": "vqgan-f16-1024", "seg": "sflckr-seg-vqgan", "depth": "depth-vqgan-f16",
                  "edges": "edges-vqgan-f16"}
KindOpt = Annotated[Optional[str], typer.Option("--kind", help="What the VQGAN encodes: image (default), seg (label maps, the same as --seg), depth or edges (one-channel maps).")]


@user_errors
def train_vqgan(
    images: Annotated[str, typer.Argument(help="Image folder (class sub-folders allowed), webdataset tar shards (a folder of .tar, one .tar, or a brace pattern), or a folder of maps with --kind seg|depth|edges.")],
    kind: KindOpt = None,
    seg: Annotated[bool, typer.Option("--seg", help="Train the segmentation cond stage on label maps (--kind seg).")] = False,
    recipe: RecipeOpt = None,
    set_: SetOpt = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Run folder (default runs/vqgan/, runs/seg-vqgan/, runs/depth-vqgan/, runs/edges-vqgan/).")] = None,
    resume: ResumeOpt = False,
    init_from: Annotated[Optional[Path], typer.Option("--init-from", help="Start a new run from this VQGAN checkpoint's weights (and discriminator), at step 0; its architecture replaces the recipe's \\[model] table; without --recipe, the recipe it was trained with. With --set train.trainable=decoder only the decoder trains and every image keeps its codes.")] = None,
    device: DeviceOpt = "auto",
    max_memory: MaxMemoryOpt = None,
    weights_dir: WeightsDirOpt = None,
    json_: JsonOpt = False,
):
    """Train a VQGAN: of images (default recipe vqgan-f16-1024), or a cond stage with --kind seg
    (sflckr-seg-vqgan), depth (depth-vqgan-f16) or edges (edges-vqgan-f16)."""
    from vqtool.commands import _ui
    from vqtool.core.config import load_recipe
    from vqtool.core.tokenizer.inputs import INPUTS
    from vqtool.train.vqgan import checkpoint_recipe, train_vqgan as run

    if kind is not None and kind not in INPUTS:
        raise typer.BadParameter(f"{kind!r} is not one of {', '.join(INPUTS)}", param_hint="'--kind'")
    if seg and kind not in (None, "seg"):
        raise typer.BadParameter(f"--seg is --kind seg; --kind {kind} was given too", param_hint="'--seg'")
    inp = INPUTS["seg" if seg else kind or "image"]
    out = out or Path(inp.run)
    r = None
    if init_from is not None and recipe is None and not resume:
        r = checkpoint_recipe(init_from, set_, inp.name)  # fine-tune the way it was trained
    elif not resume:
        r = load_recipe(recipe or DEFAULT_RECIPE[inp.name], set_, kinds=(inp.recipe_kind,))
    with _ui.training_callbacks(inp.recipe_kind) as cb:
        summary = run(images, out, r, resume=resume, overrides=set_ if resume else None,
                      device=device, weights_dir=weights_dir, callbacks=cb, init_from=init_from,
                      max_memory=parse_memory(max_memory))
    if json_:
        _ui.emit_json(summary)
    else:
        _ui.table("train-vqgan", {k: v for k, v in summary.items() if k not in ("skipped_files", "last")}
                  | summary["last"])
        _ui.result(summary["checkpoint"])
    if summary["interrupted"]:
        raise typer.Exit(130)
