"""`vqtool convert SRC`: another project's model into a vqtool checkpoint, whichever it is: a diffusers
``VQModel`` folder, a LlamaGen VQ tokenizer (``{"model": state_dict}``), or a taming-transformers
checkpoint (as convert-taming)."""

from __future__ import annotations

from pathlib import Path

from vqtool.core.errors import CheckpointError


def convert(src: Path, out: Path, config: Path | None = None, classes: list | None = None) -> dict:
    from vqtool.interop import diffusers, llamagen, taming

    src = Path(src)
    if src.is_dir():
        if diffusers.is_diffusers_folder(src):
            return diffusers.from_diffusers(src, out)
        raise CheckpointError(f"{src} is a folder but not a diffusers VQModel (no config.json with _class_name "
                              "VQModel); vqtool's own exported folders need no conversion")
    if llamagen.is_llamagen(src):
        return llamagen.from_llamagen(src, out)
    return taming.convert(src, out, config, classes)
