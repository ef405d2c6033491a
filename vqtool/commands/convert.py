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
    classes: Annotated[Optional[Path], typer.Option("--classes", help="A box-layout (scene) model's class names, one per line in the dataset's category order.")] = None,
    json_: JsonOpt = False,
):
    """Convert a taming-transformers VQModel, GumbelVQ, VQSegmentationModel or Net2NetTransformer."""
    from vqtool.commands import _ui
    from vqtool.interop.taming import convert
    from vqtool.interop.taming_cond import read_classes

    out = out or ckpt.with_name(ckpt.stem + "-vqtool.pt")
    names = read_classes(classes) if classes else None
    r = convert(ckpt, out, config, names)
    _ui.written("convert-taming", r, json_)


@user_errors
def convert(
    src: Annotated[Path, typer.Argument(help="A diffusers VQModel folder, a LlamaGen VQ checkpoint (vq_ds16_c2i.pt) or a taming-transformers checkpoint.")],
    out: Annotated[Path, typer.Option("--out", help="Output .pt.")],
    config: Annotated[Optional[Path], typer.Option("--config", help="A taming transformer's configs/*-project.yaml.")] = None,
    classes: Annotated[Optional[Path], typer.Option("--classes", help="A taming box-layout model's class names, one per line.")] = None,
    json_: JsonOpt = False,
):
    """Convert another project's model (diffusers, LlamaGen, taming-transformers) into a vqtool checkpoint."""
    from vqtool.commands import _ui
    from vqtool.interop.convert import convert as run
    from vqtool.interop.taming_cond import read_classes

    r = run(src, out, config, read_classes(classes) if classes else None)
    _ui.written("convert", r, json_)


@user_errors
def replace_decoder(
    model: Annotated[Path, typer.Argument(help="Transformer checkpoint whose VQGAN decoder to replace.")],
    vqgan: Annotated[Path, typer.Argument(help="A decoder fine-tune of its VQGAN (train-vqgan --init-from ... --set train.trainable=decoder).")],
    out: Annotated[Optional[Path], typer.Option("--out", help="Output .pt (default: MODEL's name + -decoder.pt beside it).")] = None,
    json_: JsonOpt = False,
):
    """Give a transformer a fine-tuned decoder: refused unless the new VQGAN makes the same codes."""
    from vqtool.commands import _ui
    from vqtool.pipeline.bundle import replace_decoder as run

    r = run(model, vqgan, out or model.with_name(model.stem + "-decoder.pt"))
    _ui.written("replace-decoder", r, json_)
