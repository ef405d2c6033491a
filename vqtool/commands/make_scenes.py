from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vqtool.commands._options import SeedOpt, parse_size, user_errors


@user_errors
def make_scenes(
    out: Annotated[Path, typer.Argument(help="Folder to write images/, seg/, depth/, edges/ and classes.json into.")],
    n: Annotated[int, typer.Option("--n", min=1, help="Number of scenes.")] = 1000,
    size: Annotated[str, typer.Option("--size", help="WIDTHxHEIGHT of each scene.")] = "256x256",
    seed: SeedOpt = 0,
    no_depth: Annotated[bool, typer.Option("--no-depth", help="Do not write depth/ (16-bit inverse depth maps).")] = False,
    no_edges: Annotated[bool, typer.Option("--no-edges", help="Do not write edges/ (Canny edge maps; about as long as the scenes).")] = False,
):
    """Write the embedded dataset: procedural landscapes with per-pixel label maps, depth maps and edge maps."""
    from vqtool.commands import _ui
    from vqtool.data.scenes import make_scenes as run

    w, h = parse_size(size)
    with _ui.progress("scenes", total=n) as advance:
        meta = run(out, n, w, h, seed, progress=advance, depth=not no_depth, edges=not no_edges)
    _ui.info(f"{n} scenes of {w}x{h} ({len(meta['classes'])} classes, biomes {', '.join(meta['biomes'])})")
    _ui.result(str(out))
