from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from vqtool.commands._options import DeviceOpt, MaxMemoryOpt, parse_memory, user_errors


@user_errors
def reconstruct(
    images: Annotated[list[Path], typer.Argument(help="Images to encode and decode.")],
    vqgan: Annotated[Path, typer.Option("--vqgan", help="VQGAN checkpoint.")] = Path("runs/vqgan/last.pt"),
    out: Annotated[Path, typer.Option("--out", help="Folder for the side-by-side PNGs.")] = Path("recon"),
    size: Annotated[Optional[int], typer.Option("--size", min=8, help="Resize the shorter side first.")] = None,
    device: DeviceOpt = "auto",
    max_memory: MaxMemoryOpt = None,
):
    """Encode and decode images; write original | reconstruction PNGs."""
    from vqtool.commands import _ui
    from vqtool.eval.recon import reconstruct as run

    for p in run(images, vqgan, out, size, device, parse_memory(max_memory)):
        _ui.result(str(p))
