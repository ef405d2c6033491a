from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from vqtool.commands._options import DeviceOpt, JsonOpt, MaxMemoryOpt, parse_memory, user_errors


@user_errors
def tokenize(
    images: Annotated[str, typer.Argument(help="Image folder (class sub-folders become classes), or webdataset tar shards: a folder of .tar, one .tar, or a brace pattern like 'data/train-{000000..000146}.tar' (classes from .cls or the .json's cls/label/class).")],
    out: Annotated[Path, typer.Option("--out", help="Shard folder.")] = Path("shards"),
    vqgan: Annotated[Path, typer.Option("--vqgan", help="Image VQGAN checkpoint.")] = Path("runs/vqgan/last.pt"),
    cond: Annotated[Optional[list[str]], typer.Option("--cond", help="A condition to tokenize beside the images (repeatable): seg=DIR, depth=DIR, edges=DIR (maps at the images' relative paths), lowres=K (the image downscaled K times, K in 2, 4, 8; lowres=K:blocks encodes it as models made before 2026-12 did), coord=N (crop coordinates, N levels), layout=DIR|FILE (box layouts: a JSON per image, or COCO annotations).")] = None,
    cond_vqgan: Annotated[Optional[list[str]], typer.Option("--cond-vqgan", help="KIND=PATH: the VQGAN of a map kind (default runs/seg-vqgan/last.pt, runs/depth-vqgan/..., runs/edges-vqgan/...).")] = None,
    seg: Annotated[Optional[Path], typer.Option("--seg", help="Label-map folder: the same as --cond seg=DIR.")] = None,
    seg_vqgan: Annotated[Optional[Path], typer.Option("--seg-vqgan", help="Segmentation VQGAN checkpoint: the same as --cond-vqgan seg=PATH.")] = None,
    no_seg: Annotated[bool, typer.Option("--no-seg", help="Do not pick up a sibling seg/ folder automatically.")] = False,
    no_auto: Annotated[bool, typer.Option("--no-auto-cond", help="Do not pick up sibling seg/, depth/ or edges/ folders automatically.")] = False,
    size: Annotated[Optional[int], typer.Option("--size", min=0, help="Shorter side in pixels (default: the VQGAN recipe's data.resize; 0 keeps the native size).")] = None,
    max_side: Annotated[int, typer.Option("--max-side", min=0, help="Cap on the longer side (0: none).")] = 0,
    flip: Annotated[bool, typer.Option("--flip", help="Also store the mirrored image's tokens.")] = False,
    shard_size: Annotated[int, typer.Option("--shard-size", min=1, help="Samples per shard.")] = 1000,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 16,
    workers: Annotated[int, typer.Option("--workers", min=0, help="Image-loading processes.")] = 0,
    val: Annotated[Optional[int], typer.Option("--val", min=0, help="Images held out for validation (default 5%, at most 500).")] = None,
    device: DeviceOpt = "auto",
    max_memory: MaxMemoryOpt = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Delete the shards of another tokenize job in --out and start anew.")] = False,
    json_: JsonOpt = False,
):
    """Encode images (and their conditions) into webdataset shards of code grids plus manifest.json.

    Maps are used when --cond gives them, or automatically when a folder named seg/, depth/ or
    edges/ sits beside the image folder (data/scenes/images -> data/scenes/depth) and its VQGAN
    exists (runs/depth-vqgan/last.pt, or --cond-vqgan depth=PATH). Several conditions at once are
    stored side by side; a transformer trained on the shards takes them all."""
    from vqtool.commands import _ui
    from vqtool.core.conditioning.layout import kind_of
    from vqtool.data.encode import tokenize_dataset
    from vqtool.data.token_job import auto_conds, parse_conds

    limit = parse_memory(max_memory)
    conds, vqgans = parse_conds(cond), parse_conds(cond_vqgan, "--cond-vqgan")
    if seg is not None:
        if "seg" in conds:
            raise typer.BadParameter("label maps were given twice (--seg and --cond seg=...); give one", param_hint="'--seg'")
        conds["seg"] = seg
    if seg_vqgan is not None:
        vqgans.setdefault("seg", seg_vqgan)
    if not no_auto:
        for kind, folder in auto_conds(images, vqgans, set(conds) | ({"seg"} if no_seg else set())).items():
            conds[kind] = folder
            _ui.info(f"using the {kind_of(kind).input_name}s in {folder} (found beside the images; --no-auto-cond to skip)")
    with _ui.progress("tokenize") as advance:
        s = tokenize_dataset(images, out, vqgan, size=size, max_side=max_side, flip=flip, shard_size=shard_size,
                             batch_size=batch_size, workers=workers, val_count=val, device=device,
                             callbacks=_ui_callbacks(), progress=advance, max_memory=limit, overwrite=overwrite,
                             conds=conds, cond_vqgans=vqgans)
    if json_:
        _ui.emit_json(s)
        return
    _ui.table("tokenize", {k: v for k, v in s.items() if k != "skipped_files"})
    for p, r in list(s["skipped_files"].items())[:10]:
        _ui.warn(f"skipped {p}: {r}")
    _ui.result(s["out"])


def _ui_callbacks():
    from vqtool.commands import _ui
    from vqtool.core.callbacks import Callbacks

    return Callbacks(info=_ui.info, warn=_ui.warn)
