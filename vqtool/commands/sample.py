from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from vqtool.commands._options import (BackProjectOpt, DeviceOpt, MaxMemoryOpt, ModeOpt, SeedOpt, SizeOpt, parse_memory, parse_size,
                                      user_errors)


@user_errors
def sample(
    model: Annotated[Path, typer.Option("--model", help="Transformer checkpoint.")] = Path("runs/transformer/last.pt"),
    cond: Annotated[Optional[list[str]], typer.Option("--cond", help="The model's condition (repeatable): KIND=FILE with KIND seg (label map), depth (depth map), edges (edge map) lowres (the small image; the output is factor x its size) or layout (a box layout, as --layout), or a bare FILE for a model with one kind.")] = None,
    class_: Annotated[Optional[str], typer.Option("--class", help="Class name or id.")] = None,
    layout: Annotated[Optional[Path], typer.Option("--layout", help='A box layout (scene models): a JSON list of objects, each a "class" (name or id) and a "box" (x, y, w, h relative to the image).')] = None,
    size: SizeOpt = None,
    n: Annotated[int, typer.Option("--n", min=1, help="Number of images.")] = 1,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 4,
    top_k: Annotated[Optional[int], typer.Option("--top-k", help="Keep the k most likely codes (>= 1).")] = 100,
    top_p: Annotated[Optional[float], typer.Option("--top-p", help="Nucleus sampling mass in (0, 1].")] = None,
    temperature: Annotated[float, typer.Option("--temperature", help="> 0; applied before top-k.")] = 1.0,
    cfg: Annotated[Optional[float], typer.Option("--cfg", help="Classifier-free guidance scale (class models trained with class_dropout, map models with map_dropout).")] = None,
    mode: ModeOpt = "exact",
    back_project: BackProjectOpt = 0,
    prefix: Annotated[Optional[Path], typer.Option("--prefix", help="Image completion: keep this image's top half.")] = None,
    grid: Annotated[bool, typer.Option("--grid", help="Also write all samples as one grid.png.")] = False,
    seed: SeedOpt = 0,
    out: Annotated[Path, typer.Option("--out", help="Folder for the PNGs.")] = Path("samples"),
    coarse: Annotated[Optional[Path], typer.Option("--coarse", help="Coarse to fine: this model samples the scene at 1/K the size first, then --model (conditioned on a low-res image, factor K) the full size from it; the coarse samples go to OUT/coarse/.")] = None,
    device: DeviceOpt = "auto",
    max_memory: MaxMemoryOpt = None,
):
    """Sample images at any size (sliding window beyond the training window)."""
    import time

    from vqtool.commands import _ui
    from vqtool.core import runtime
    from vqtool.core.errors import check_writable
    from vqtool.pipeline.bundle import load_transformer
    from vqtool.pipeline.coarse import CoarseToFine
    from vqtool.pipeline.conditioning import condition, with_layout
    from vqtool.pipeline.generate import SampleOptions, generate, grid_size, padded

    wh = parse_size(size) if size else None
    cond = with_layout(cond, layout)
    limit = parse_memory(max_memory)
    check_writable(out, "--out")
    dev = runtime.resolve_device(device)
    b = load_transformer(model, dev)
    pair = CoarseToFine.pair(b, load_transformer(coarse, dev)) if coarse else None
    W, H = grid_size(b, wh, pair.entry(cond, class_) if pair else condition(b, cond, class_))
    Wf, Hf = padded((W, H), b.factor)
    total = pair.tokens(n, (W, H)) if pair else n * (Wf // b.factor) * (Hf // b.factor)
    t0, done = time.time(), [0]

    def tick(k):
        done[0] += k
        advance(k, status=f"{done[0] / max(time.time() - t0, 1e-9):.0f} tokens/s")

    with _ui.progress("sample", total=total) as advance:
        opts = SampleOptions(top_k=top_k, top_p=top_p, temperature=temperature, cfg=cfg, seed=seed, mode=mode,
                             batch_size=batch_size, prefix=prefix, max_memory=limit, back_project=back_project)
        ims, thumbs = (pair.generate(n, wh, cond, class_, opts, tick) if pair else
                       (generate(b, n, wh, cond_path=cond, class_=class_, opts=opts, progress=tick), []))
    _warn_flat(ims)
    _write(out, ims, thumbs, f"{_name(cond, class_)}-{W}x{H}-s{seed}-{mode}", grid)


def _write(out: Path, ims: list, thumbs: list, stem: str, grid: bool) -> None:
    """The samples' PNGs (their paths to stdout), the coarse samples they grew from, the grid."""
    from vqtool.commands import _ui
    from vqtool.data.images import save_grid

    out.mkdir(parents=True, exist_ok=True)
    for i, im in enumerate(ims):
        p = out / f"{stem}-{i:04d}.png"
        im.save(p)
        _ui.result(str(p))
    if thumbs:
        (out / "coarse").mkdir(exist_ok=True)
        for i, im in enumerate(thumbs):
            im.save(out / "coarse" / f"{stem}-{i:04d}.png")
        _ui.info(f"the coarse samples ({thumbs[0].size[0]}x{thumbs[0].size[1]}) they grew from: {out / 'coarse'}")
    if grid:
        save_grid(ims, out / "grid.png", cols=min(len(ims), 4))
        _ui.result(str(out / "grid.png"))


def _name(cond, class_: str | None) -> str:
    """What the files are named after: the first --cond file, the class, or 'sample'."""
    if isinstance(cond, dict):
        return Path(str(next(iter(cond.values())))).stem
    if cond:
        kind, eq, rest = cond[0].partition("=")
        return Path(rest if eq and "/" not in kind else cond[0]).stem
    return f"class-{class_}" if class_ else "sample"


def _warn_flat(ims) -> None:
    from vqtool.commands import _ui
    from vqtool.pipeline.generate import flat_samples

    bad = flat_samples(ims)
    if bad:
        _ui.warn(f"FLAT SAMPLES: {len(bad)} of {len(ims)} sample(s) are one colour (pixel std {bad[0][1]:.2f} on "
                 "0-255): the VQGAN inside this model has collapsed or the transformer learnt nothing; check "
                 "the VQGAN with `vqtool eval-recon` and the run's val_bpt against its unigram_bpt")
