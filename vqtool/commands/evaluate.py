from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from vqtool.commands._options import (DeviceOpt, JsonOpt, MaxMemoryOpt, ModeOpt, SeedOpt, WeightsDirOpt, parse_memory,
                                      user_errors)

InceptionOpt = Annotated[Optional[Path], typer.Option("--inception-weights", envvar="VQTOOL_INCEPTION_WEIGHTS",
                                                      show_envvar=False,
                                                      help="FID Inception weights file (env VQTOOL_INCEPTION_WEIGHTS; else the weights folder, else the torch hub cache).")]


@user_errors
def eval_fid(
    generated: Annotated[Path, typer.Argument(help="Folder of generated images.")] = Path("samples"),
    reference: Annotated[Optional[Path], typer.Argument(help="Reference image folder (default: the model's token manifest source).")] = None,
    model: Annotated[Path, typer.Option("--model", show_default=False, help="Transformer checkpoint (reference folder, and samples with --n); default runs/transformer/last.pt.")] = Path("runs/transformer/last.pt"),
    n: Annotated[int, typer.Option("--n", min=0, metavar="N", help="Generate N samples into GENERATED first (class-uniform / one per label map).")] = 0,
    top_k: Annotated[Optional[int], typer.Option("--top-k")] = 100,
    top_p: Annotated[Optional[float], typer.Option("--top-p")] = None,
    temperature: Annotated[float, typer.Option("--temperature")] = 1.0,
    cfg: Annotated[Optional[float], typer.Option("--cfg")] = None,
    mode: ModeOpt = "exact",
    labels: Annotated[Optional[Path], typer.Option("--labels", help="Maps for --n with a model of one map kind (default: the folder in the model's manifest).")] = None,
    cond: Annotated[Optional[list[str]], typer.Option("--cond", help="KIND=DIR: the inputs of a spatial condition for --n (seg, depth, edges maps; lowres: small images, default the shards' images downscaled); repeatable.")] = None,
    coarse: Annotated[Optional[Path], typer.Option("--coarse", help="With --n: sample coarse to fine with this coarse model (--model: the fine one).")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, metavar="N", help="Samples generated per batch (with --n).")] = 16,
    kid: Annotated[bool, typer.Option("--kid")] = False,
    isc: Annotated[bool, typer.Option("--isc")] = False,
    prc: Annotated[bool, typer.Option("--prc")] = False,
    resolution: Annotated[int, typer.Option("--resolution", min=0, metavar="PX", help="Both sides: largest centre square resized to this (the model's resolution), then to 299 (0: straight to 299).")] = 256,
    ref_stats: Annotated[Optional[Path], typer.Option("--ref-stats", help="Precomputed reference statistics (npz with mu, sigma) instead of REFERENCE.")] = None,
    save_stats: Annotated[Optional[Path], typer.Option("--save-stats", help="Write the reference's Inception statistics (mu, sigma) to this npz.")] = None,
    inception_weights: InceptionOpt = None,
    weights_dir: WeightsDirOpt = None,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
    max_memory: MaxMemoryOpt = None,
    json_: JsonOpt = False,
):
    """FID of GENERATED against REFERENCE through torch-fidelity; writes GENERATED/fid.json with the protocol."""
    from vqtool.commands import _ui
    from vqtool.core.errors import VqtoolError
    from vqtool.data.token_job import parse_conds
    from vqtool.eval.fid import check_inputs, check_outputs, compute_metrics, reference_from_model, write_result

    limit = parse_memory(max_memory)
    check_outputs(generated, save_stats, will_generate=n > 0)
    if reference is None and ref_stats is None:
        if not model.exists() and not str(model).startswith("hf:"):
            raise VqtoolError(f"no REFERENCE given and no model at {model} to read the reference folder from")
        reference = reference_from_model(model)
    if coarse and not n:
        raise VqtoolError("--coarse samples the set coarse to fine: give --n N too")
    checked = None
    if n:
        from vqtool.eval.generate_set import generate_set

        # before the work: the weights and the reference side, not learnt after hours of sampling
        checked = check_inputs(reference, kid, isc, prc, inception_weights, weights_dir, ref_stats, save_stats)
        with _ui.progress("generate", total=n) as advance:
            generate_set(model, generated, n, top_k=top_k, top_p=top_p, temperature=temperature, cfg=cfg,
                         mode=mode, seed=seed, device=device, batch_size=batch_size, max_memory=limit, labels=labels,
                         conds=parse_conds(cond), coarse=coarse, progress=advance)
    r = compute_metrics(generated, reference, kid, isc, prc, inception_weights, weights_dir, device=device, seed=seed,
                        resolution=resolution, ref_stats=ref_stats, save_stats=save_stats, checked=checked)
    _render_fid(r, write_result(generated, r), json_)


def _render_fid(r: dict, path: Path, json_: bool) -> None:
    from vqtool.commands import _ui

    for note in r["protocol"]["notes"]:
        _ui.warn(note)
    if json_:
        _ui.emit_json(r)
    else:
        _ui.table("eval-fid", r["metrics"] | {"generated": r["protocol"]["n_generated"],
                                             "reference": r["protocol"]["n_reference"], "protocol": str(path)})
        _ui.result(f"{r['metrics']['fid']:.4f}")


@user_errors
def eval_recon(
    images: Annotated[str, typer.Argument(help="Image folder or tar shards (label maps for a segmentation VQGAN).")],
    vqgan: Annotated[Path, typer.Option("--vqgan")] = Path("runs/vqgan/last.pt"),
    n: Annotated[Optional[int], typer.Option("--n", min=1, help="Evaluate the first N images.")] = None,
    size: Annotated[Optional[int], typer.Option("--size", min=8, help="Centre crop (default: the training crop).")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 8,
    no_rfid: Annotated[bool, typer.Option("--no-rfid")] = False,
    inception_weights: InceptionOpt = None,
    weights_dir: WeightsDirOpt = None,
    device: DeviceOpt = "auto",
    max_memory: MaxMemoryOpt = None,
    json_: JsonOpt = False,
):
    """Reconstruction quality of a VQGAN: PSNR, SSIM, LPIPS, rFID, codebook usage, perplexity."""
    from vqtool.commands import _ui
    from vqtool.eval.metrics import eval_recon as run

    r = run(images, vqgan, n, size, batch_size, device, weights_dir, inception_weights, not no_rfid, warn=_ui.warn,
            max_memory=parse_memory(max_memory))
    if json_:
        _ui.emit_json(r)
    else:
        _ui.table("eval-recon", r)
        _ui.figures(r)


@user_errors
def fetch_weights(weights_dir: WeightsDirOpt = None):
    """Download the LPIPS VGG16 trunk and the FID Inception weights into the weights folder."""
    from vqtool.commands import _ui
    from vqtool.core.io.weights import REGISTRY, fetch

    for key, w in REGISTRY.items():
        _ui.info(f"{w.filename}: {w.purpose}")
        try:
            _ui.result(str(fetch(key, weights_dir, progress=True)))
        except OSError as e:
            from vqtool.core.errors import WeightsNotFound

            raise WeightsNotFound(f"could not download {w.url}: {e}") from None
