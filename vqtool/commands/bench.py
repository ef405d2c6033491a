from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Optional

import typer

from vqtool.commands._options import BackProjectOpt, DeviceOpt, JsonOpt, ModeOpt, RecipeOpt, SeedOpt, SetOpt, user_errors

app = typer.Typer(help="Throughput and memory of each stage on this device.", invoke_without_command=True)


@app.callback()
@user_errors
def all_stages(ctx: typer.Context, device: DeviceOpt = "auto", json_: JsonOpt = False):
    """With no stage named: every stage's benchmark (tiny scenes models), one table."""
    if ctx.invoked_subcommand is not None:
        given = [o for o, v in (("--device", device != "auto"), ("--json", json_)) if v]
        if given:  # each stage has its own: these would be dropped without a word
            from vqtool.core.errors import VqtoolError

            raise VqtoolError(f"{' and '.join(given)} before the stage name apply to `vqtool bench` alone; put them "
                              f"after it: vqtool bench {ctx.invoked_subcommand} {' '.join(given)} ...")
        return
    from vqtool.app.bench import bench_all

    _render(bench_all(device), json_)


def _render(rows: list[dict], json_: bool) -> None:
    from vqtool.commands import _ui

    if json_:
        _ui.emit_json(rows if len(rows) > 1 else rows[0])
    else:
        _ui.table("bench", rows) if len(rows) > 1 else _ui.table(f"bench {rows[0]['stage']}", rows[0])
        for r in rows:
            _ui.figures(r)


@app.command("vqgan")
@user_errors
def vqgan(recipe: RecipeOpt = None, set_: SetOpt = None,
          steps: Annotated[int, typer.Option("--steps", min=1)] = 5,
          batch_size: Annotated[Optional[int], typer.Option("--batch-size", min=1)] = None,
          size: Annotated[Optional[int], typer.Option("--size", min=8)] = None,
          device: DeviceOpt = "auto", json_: JsonOpt = False):
    """VQGAN training steps/s, images/s and peak memory for a recipe."""
    from vqtool.app.bench import bench_vqgan

    _render([bench_vqgan(recipe or "scenes-vqgan-tiny", set_, steps, batch_size, size, device)], json_)


@app.command("tokenize")
@user_errors
def tokenize(images: Annotated[Optional[str], typer.Argument(help="Image folder (default: fresh scenes).")] = None,
             vqgan: Annotated[Optional[str], typer.Option("--vqgan", help="Default: runs/vqgan/last.pt, else a random scenes-vqgan-tiny.")] = None,
             n: Annotated[int, typer.Option("--n", min=1)] = 64,
             batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 16,
             device: DeviceOpt = "auto", json_: JsonOpt = False):
    """Tokenize images/s against the encoder alone on the same batches."""
    from vqtool.app.bench import bench_tokenize

    _render([bench_tokenize(images, vqgan, n, batch_size, device)], json_)


@app.command("data")
@user_errors
def data(samples: Annotated[str, typer.Option("--samples", help="Synthetic set sizes, comma-separated.")] = "10000,1000000",
         steps: Annotated[int, typer.Option("--steps", min=1, help="Training steps per set.")] = 50,
         work: Annotated[Optional[Path], typer.Option("--work", help="Where the synthetic sets go (kept and reused); default a temporary folder.")] = None,
         shards: Annotated[Optional[Path], typer.Option("--shards", help="Shards for the reader comparison (default: the smallest synthetic set).")] = None,
         tokenize_images: Annotated[int, typer.Option("--tokenize-images", min=0, help="Images for tokenize tar vs folder (0: skip).")] = 64,
         device: DeviceOpt = "cpu", json_: JsonOpt = False):
    """The data path at scale: train-transformer's tokens/s and peak RSS on synthetic shard sets,
    the streaming reader vs the in-memory one, tokenize from tars vs a folder."""
    from vqtool.app.bench_data import bench_data

    try:
        sizes = [int(v.replace("_", "")) for v in samples.split(",") if v.strip()]
    except ValueError:
        raise typer.BadParameter(f"{samples!r}: expected comma-separated sample counts, e.g. 10000,1000000",
                                 param_hint="--samples") from None
    _render(bench_data(sizes, steps, work, shards, tokenize_images, device), json_)


@app.command("transformer")
@user_errors
def transformer(recipe: RecipeOpt = None, set_: SetOpt = None,
                steps: Annotated[int, typer.Option("--steps", min=1)] = 5,
                batch_size: Annotated[Optional[int], typer.Option("--batch-size", min=1)] = None,
                device: DeviceOpt = "auto", json_: JsonOpt = False):
    """Transformer training tokens/s and peak memory (segmentation-conditional windows)."""
    from vqtool.app.bench import bench_transformer

    _render([bench_transformer(recipe or "scenes-transformer-tiny", set_, steps, batch_size, device=device)], json_)


@app.command("sample")
@user_errors
def sample(model: Annotated[Optional[str], typer.Option("--model", help="Transformer checkpoint (default: a random scenes-transformer-tiny).")] = None,
           size: Annotated[str, typer.Option("--size")] = "1280x832",
           n: Annotated[int, typer.Option("--n", min=1, help="Batch of samples.")] = 1,
           naive_tokens: Annotated[int, typer.Option("--naive-tokens", min=1)] = 32,
           modes: Annotated[str, typer.Option("--modes", help="Comma-separated: naive, exact, fast, local.")] = "naive,exact,fast,local",
           device: DeviceOpt = "auto", json_: JsonOpt = False):
    """Sampled tokens/s: naive reference vs exact vs fast mode, same model and batch, and a local
    transformer of the same size (its exact rolling-cache sampler)."""
    from vqtool.app.bench import bench_sample
    from vqtool.commands._options import parse_size

    chosen = [m.strip() for m in modes.split(",") if m.strip()]
    bad = [m for m in chosen if m not in ("naive", "exact", "fast", "local")]
    if bad or not chosen:
        raise typer.BadParameter(f"{modes!r}: choose from naive, exact, fast, local", param_hint="--modes")
    _render(bench_sample(model, parse_size(size), n, naive_tokens, modes=tuple(chosen), device=device), json_)


@app.command("quality")
@user_errors
def quality(model: Annotated[str, typer.Option("--model")] = "runs/transformer/last.pt",
            cond: Annotated[list[str], typer.Option("--cond", help="The model's condition: a map of make-scenes data (seg/, depth/ or edges/ beside images/), KIND=FILE or a bare FILE; repeatable.")] = ...,
            size: Annotated[str, typer.Option("--size")] = "1280x832",
            n: Annotated[int, typer.Option("--n", min=1)] = 2,
            sample: Annotated[Optional[str], typer.Option("--sample", help="Score this image (sampled from --cond) instead of sampling.")] = None,
            coarse: Annotated[Optional[str], typer.Option("--coarse", help="Sample coarse to fine with this coarse model (--model: the fine one).")] = None,
            classifier: Annotated[Optional[str], typer.Option("--classifier", help="A pixel classifier (`vqtool bench classifier`): adds per-class IoU and pixel agreement against the label map.")] = None,
            cfg: Annotated[Optional[float], typer.Option("--cfg", help="Classifier-free guidance towards the map (models trained with map_dropout).")] = None,
            save: Annotated[Optional[Path], typer.Option("--save", help="Also write the scored samples to this folder (exact-00.png, ...).")] = None,
            top_k: Annotated[Optional[int], typer.Option("--top-k", help="Keep the k most likely codes (>= 1), as in sample.")] = 100,
            top_p: Annotated[Optional[float], typer.Option("--top-p", help="Nucleus sampling mass in (0, 1], as in sample.")] = None,
            temperature: Annotated[float, typer.Option("--temperature", help="> 0, as in sample.")] = 1.0,
            mode: Annotated[Optional[Literal["exact", "fast"]], typer.Option("--mode", help="Sample in this mode only (default: exact and fast; a model whose windows are exact anyway: exact).")] = None,
            seed: SeedOpt = 0,
            device: DeviceOpt = "auto", json_: JsonOpt = False):
    """Sampling quality: label-map agreement and sharpness beside the real scene, bits/token under exact windows."""
    from vqtool.app.bench_quality import bench_quality
    from vqtool.commands._options import parse_size

    _render(bench_quality(model, cond, parse_size(size), n, seed, device=device, sample=sample, coarse=coarse,
                          classifier=classifier, cfg=cfg, save=save, top_k=top_k, top_p=top_p,
                          temperature=temperature, mode=mode), json_)


@app.command("classifier")
@user_errors
def classifier(scenes: Annotated[Path, typer.Argument(help="make-scenes data (images/ and seg/) to train on; not the scenes you will score.")],
               out: Annotated[Path, typer.Option("--out", help="The classifier file.")] = Path("runs/classifier.pt"),
               steps: Annotated[int, typer.Option("--steps", min=1)] = 1500, seed: SeedOpt = 0):
    """Train the pixel classifier `bench quality --classifier` scores samples with (per-class IoU)."""
    import torch

    from vqtool.commands import _ui
    from vqtool.core.errors import check_writable
    from vqtool.eval.classifier import train_classifier

    check_writable(out, "--out", folder=False)
    with _ui.progress("classifier", total=steps) as advance:
        c = train_classifier(scenes, steps=steps, seed=seed, progress=advance)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(c, out)
    _ui.result(str(out))


@app.command("superres")
@user_errors
def superres(model: Annotated[str, typer.Option("--model")] = "runs/transformer/last.pt",
             images: Annotated[str, typer.Option("--images", help="Held-out full-size images (downscaled by the model's factor here).")] = ...,
             n: Annotated[int, typer.Option("--n", min=1, help="The first N images.")] = 8,
             mode: ModeOpt = "exact", back_project: BackProjectOpt = 5, seed: SeedOpt = 0,
             device: DeviceOpt = "auto", json_: JsonOpt = False):
    """Super-resolution: PSNR and sharpness of samples from downscaled images (raw and back-projected), beside bicubic upscaling and the VQGAN's reconstruction."""
    from vqtool.app.bench_quality import bench_superres

    _render(bench_superres(model, images, n, seed, device, mode, back_project), json_)
