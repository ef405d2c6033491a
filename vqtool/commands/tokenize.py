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
    seg: Annotated[Optional[Path], typer.Option("--seg", help="Label-map folder (same relative paths as the images).")] = None,
    seg_vqgan: Annotated[Path, typer.Option("--seg-vqgan", help="Segmentation VQGAN checkpoint.")] = Path("runs/seg-vqgan/last.pt"),
    no_seg: Annotated[bool, typer.Option("--no-seg", help="Do not pick up a sibling seg/ folder automatically.")] = False,
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
    """Encode images (and label maps) into webdataset shards of code grids plus manifest.json.

    Label maps are used when --seg is given, or automatically when a folder named seg/ sits
    beside the image folder (data/scenes/images -> data/scenes/seg) and --seg-vqgan exists."""
    from vqtool.commands import _ui
    from vqtool.data.encode import auto_seg, tokenize_dataset

    limit = parse_memory(max_memory)
    if seg is None and not no_seg:
        seg = auto_seg(images, seg_vqgan)
        if seg is not None:
            _ui.info(f"using label maps in {seg} with {seg_vqgan} (found beside the images; --no-seg to skip)")
    with _ui.progress("tokenize") as advance:
        s = tokenize_dataset(images, out, vqgan, seg, seg_vqgan, size, max_side, flip, shard_size, batch_size,
                             workers, val, device, callbacks=_ui_callbacks(), progress=advance, max_memory=limit,
                             overwrite=overwrite)
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
