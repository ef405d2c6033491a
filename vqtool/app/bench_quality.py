"""Sampling quality benchmarks: how well samples follow a scene's map (label agreement, sharpness,
bits/token beside the real scene through the VQGAN), and super-resolution against bicubic
upscaling and the VQGAN's reconstruction."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from vqtool.core import runtime
from vqtool.core.errors import VqtoolError


TOP_K = 100  # bench quality samples with top-k 100 unless told otherwise (its figures in the README are at it)


def bench_quality(model: str, cond, size: tuple[int, int], n: int = 2, seed: int = 0,
                  device: str = "auto", sample: str | None = None, coarse: str | None = None,
                  classifier: str | None = None, cfg: float | None = None, save: Path | None = None,
                  top_k: int | None = TOP_K, temperature: float = 1.0, top_p: float | None = None,
                  mode: str | None = None) -> list[dict]:
    """Exact vs fast mode (or ``mode`` alone) on one model conditioned on a scene's map (a label, depth or
    edge map of make-scenes data; ``cond``: the --cond values), or on one given ``sample`` image: label-map agreement with the scene's
    label map and sharpness (mean pixel gradient / the real scene's) of the decoded samples, bits/token of
    the sampled grids under the paper's exact windows, and the same figures for the real scene through the
    VQGAN. The real scene and its label map sit beside the map (.../images/..., .../seg/...). ``coarse``:
    sample coarse to fine with this coarse model (``model`` the fine one). ``classifier`` (eval.classifier):
    each row also gets the per-class IoU of its images' predicted classes against the label map, pooled
    over its samples, their mean, and the share of pixels whose predicted class is the map's
    (``classifier_agreement``, averaged over the samples: the colour measure's figure without its class
    colours, which hold one time of day). ``cfg`` (guidance towards the map), ``top_k``, ``top_p``, ``temperature``:
    as `sample`'s. ``save``: a folder for the scored samples, as MODE-NN.png (exact-00.png, coarse-exact-00.png)."""
    from vqtool.core.imagefile import load_labels
    from vqtool.data import images as imgs
    from vqtool.pipeline.bundle import load_transformer
    from vqtool.pipeline.coarse import CoarseToFine
    from vqtool.pipeline.conditioning import condition
    from vqtool.pipeline.generate import SampleOptions, padded

    dev = runtime.resolve_device(device)
    b = load_transformer(model, dev)
    pair = CoarseToFine.pair(b, load_transformer(coarse, dev)) if coarse else None
    opts = SampleOptions(seed=seed, top_k=top_k, top_p=top_p, temperature=temperature, cfg=cfg)
    opts.check(b) if pair is None else pair.check(opts)
    maps = _scene_maps(b)
    cond = [cond] if isinstance(cond, (str, Path)) else cond
    entry = pair.entry(cond) if pair else condition(b, cond)
    first = Path(entry[maps[0].kind])
    truth, labels = _scene_files(first, maps[0].scene_folder)
    real = imgs.load_rgb(truth)

    def scene_labels(wh):
        return np.asarray(Image.fromarray(load_labels(labels).astype(np.int32)).resize(wh, Image.NEAREST))

    score = _saving(_scorer(b, real, classifier, dev), save)
    if sample is not None:
        im = imgs.load_rgb(Path(sample))
        mw, mh = imgs.image_size(first)
        if (mw, mh) != im.size:
            raise VqtoolError(f"the sample is {im.width}x{im.height}, the {maps[0].input_name} {mw}x{mh}")
        return _quality_rows(score(scene_labels(im.size), [im]), "given sample", f"{im.width}x{im.height}", 1)
    lab = scene_labels(padded(size, b.factor))[:size[1], :size[0]]  # sampled on the grid, scored as `sample` crops it
    if pair:
        return _coarse_rows(pair, cond, size, n, opts, lab, score, mode)
    return _single_rows(b, entry, size, n, opts, lab, score, mode)


BACK_PROJECT = 5  # back-projection steps bench superres scores beside the raw samples (converged by 5)


def bench_superres(model: str, images: str, n: int = 8, seed: int = 0, device: str = "auto",
                   mode: str = "exact", back_project: int = BACK_PROJECT) -> list[dict]:
    """A super-resolution model on held-out images: ``n`` of them, taken in turn from each sub-folder
    (class) so that every kind of scene counts; see ``superres_compare``."""
    from vqtool.data import images as imgs
    from vqtool.pipeline.bundle import load_transformer

    b = load_transformer(model, runtime.resolve_device(device))
    files = spread(imgs.list_images(images), n) if Path(images).is_dir() else []
    if not files:
        raise VqtoolError(f"no images in {images}")
    return superres_compare(b, files, seed, mode, back_project)[0]


def spread(files: list[Path], n: int) -> list[Path]:
    """The first ``n`` of ``files`` taken round-robin over their folders (a folder of alpine scenes,
    then one of deserts, ...), in sorted order within each."""
    groups: dict = {}
    for f in sorted(files):
        groups.setdefault(f.parent, []).append(f)
    turns = [g[i] for i in range(max(map(len, groups.values()), default=0)) for g in groups.values() if i < len(g)]
    return turns[:n]


def superres_compare(b, files: list[Path], seed: int = 0, mode: str = "exact",
                     back_project: int = BACK_PROJECT) -> tuple[list[dict], dict]:
    """Each image downscaled by the model's factor (as tokenize does), saved as the PNG a user would
    give, and sampled back to full size, also back-projected onto that PNG (``back_project`` steps,
    as `sample --back-project` does; 0: not); PSNR and sharpness (mean pixel gradient / the real
    image's) against the real image, beside bicubic upscaling of the same PNG and the real image
    through the VQGAN (the ceiling). Returns the rows and the images (low-res, bicubic, sampled,
    projected, recon, real)."""
    import tempfile

    from vqtool.core.conditioning.lowres import downscale
    from vqtool.core.tokenizer.tiles import decode
    from vqtool.data import images as imgs
    from vqtool.eval.agreement import sharpness
    from vqtool.eval.metrics import psnr
    from vqtool.pipeline.generate import SampleOptions, back_projected, generate_each

    lowres = next((c for c in b.layout.conditions if c.fixed_size), None)
    if lowres is None or len(b.layout.conditions) != 1:
        raise VqtoolError(f"bench superres needs a super-resolution model (--cond lowres=K alone); this one is "
                          f"{b.layout.adjective}")
    k, step = lowres.factor, b.factor * lowres.factor
    real, small, up, paths = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i, f in enumerate(files):
            im = imgs.load_rgb(f)
            im = im.crop((0, 0, im.width // step * step, im.height // step * step))  # whole low-res codes
            s = imgs.to_image(downscale(imgs.to_tensor(im)[None], k)[0])
            s.save(Path(tmp) / f"{i:05d}.png")
            real.append(im)
            small.append(s)
            paths.append(Path(tmp) / f"{i:05d}.png")
            up.append(s.resize(im.size, Image.BICUBIC))
        t = time.perf_counter()
        samples = generate_each(b, [{lowres.kind: p} for p in paths], None, SampleOptions(seed=seed, mode=mode))
        dt = time.perf_counter() - t
        projected = back_projected(b, samples, [{lowres.kind: p} for p in paths], back_project) if back_project else []
    dev = next(b.first.parameters()).device
    recon = [imgs.to_image(decode(b.first, b.first.encode(imgs.to_tensor(im)[None].to(dev)).indices)[0]) for im in real]

    def score(ims):
        p = [float(psnr((imgs.to_tensor(a)[None] + 1) / 2, (imgs.to_tensor(r)[None] + 1) / 2)) for a, r in zip(ims, real)]
        return {"psnr": float(np.mean(p)), "sharpness": sharpness(ims, real)}

    size = f"{real[0].width}x{real[0].height}"
    rows = [{"stage": "superres", "mode": m, "factor": k, "images": len(real), "size": size, **score(ims)}
            for m, ims in (("bicubic upscaling", up), ("reconstruction of the real image", recon))] + [
        {"stage": "superres", "mode": f"sampled ({mode})", "factor": k, "images": len(real), "size": size,
         **score(samples), "seconds": dt}] + ([
        {"stage": "superres", "mode": f"sampled ({mode}), back-projected ({back_project} steps)", "factor": k,
         "images": len(real), "size": size, **score(projected)}] if back_project else [])
    return rows, {"lowres": small, "bicubic": up, "sampled": samples, "projected": projected, "recon": recon,
                  "real": real}


def _scene_maps(b) -> list:
    """The model's conditions read from a scene's map; at least one, or bench quality has nothing to compare."""
    maps = [c for c in b.layout.conditions if c.scene_folder]
    if not maps:
        raise VqtoolError("bench quality needs a model conditioned on a scene's map (label, depth or edge map); "
                          f"this one is {b.layout.adjective}")
    return maps


def _scene_files(first: Path, folder: str) -> tuple[Path, Path]:
    """The real scene and the label map beside a make-scenes map (.../images/..., .../seg/...)."""
    truth, labels = (Path(str(first).replace(f"/{folder}/", f"/{d}/")) for d in ("images", "seg"))
    for what, p in (("real scene", truth), ("label map", labels)):
        if not p.is_file() or (what == "real scene" and p == first):
            raise VqtoolError(f"bench quality compares with the {what} of {first}, and {p} does not exist "
                              "(make-scenes data: images/, seg/, depth/, edges/ side by side)")
    return truth, labels


def _settings(opts) -> str:
    """The sampling options a row's mode names where they are not the bench's defaults."""
    parts = [f"cfg {opts.cfg:g}"] if opts.cfg is not None else []
    if opts.top_k != TOP_K:
        parts.append(f"top-k {opts.top_k}" if opts.top_k is not None else "no top-k")
    if opts.top_p is not None:
        parts.append(f"top-p {opts.top_p:g}")
    if opts.temperature != 1.0:
        parts.append(f"temperature {opts.temperature:g}")
    return "".join(", " + p for p in parts)


def _modes(exact_only: bool, mode: str | None) -> tuple[str, ...]:
    """The modes to sample: one asked for, or both; only exact where fast would be exact too (a local model)."""
    return ("exact",) if exact_only else (mode,) if mode else ("exact", "fast")


def _single_rows(b, entry, size: tuple, n: int, opts, lab, score, mode: str | None) -> list[dict]:
    """Each mode of one model, with the bits/token of its sampled grids under the paper's exact windows."""
    from vqtool.eval.agreement import bits_per_token
    from vqtool.pipeline.conditioning import cond_batch
    from vqtool.pipeline.generate import padded, sample_tokens, to_images

    W, H = padded(size, b.factor)
    h, w, rows = H // b.factor, W // b.factor, []
    toks = cond_batch(b, [entry] * n, h, w)
    for m in _modes(b.sampler.exact_only, mode):
        t = time.perf_counter()
        z = sample_tokens(b, toks, h, w, replace(opts, mode=m))
        dt = time.perf_counter() - t
        r = _quality_rows(score(lab, to_images(b, z, size), m), m + _settings(opts), f"{size[0]}x{size[1]}", n)
        r[-1] |= {"bits_per_token_exact_windows": bits_per_token(b.gpt, b.layout, z, toks), "seconds": dt}
        rows += r if not rows else r[1:]  # the real scene's row once
    return rows


def _coarse_rows(pair, cond, size: tuple, n: int, opts, lab, score, mode: str | None) -> list[dict]:
    """Each mode in both stages; bits/token would need the thumbnails' tokens, which are not kept."""
    rows = []
    for m in _modes(pair.fine.sampler.exact_only and pair.coarse.sampler.exact_only, mode):
        t = time.perf_counter()
        ims = pair.generate(n, size, cond, None, replace(opts, mode=m))[0]
        r = _quality_rows(score(lab, ims, f"coarse-{m}"), f"coarse to fine ({m}){_settings(opts)}",
                          f"{size[0]}x{size[1]}", n)
        r[-1]["seconds"] = time.perf_counter() - t
        rows += r if not rows else r[1:]
    return rows


def _saving(score, folder: Path | None):
    """``score`` that also writes the samples it scores under ``folder`` (when given) as NAME-NN.png."""
    if folder is not None and Path(folder).exists() and not Path(folder).is_dir():
        raise VqtoolError(f"--save {folder} is a file; give a folder for the samples")
    def scored(labels, ims, name: str | None = None):
        if folder is not None and name is not None:
            Path(folder).mkdir(parents=True, exist_ok=True)
            for i, im in enumerate(ims):
                im.save(Path(folder) / f"{name}-{i:02d}.png")
        return score(labels, ims)
    return scored


def _scorer(b, real, classifier: str | None, dev):
    """score(labels, samples) -> the figures of eval.agreement.score_against_real, and with a
    classifier the IoU of the samples and of the real scene's reconstruction."""
    from vqtool.eval.agreement import score_against_real

    if classifier is None:
        return lambda labels, ims: score_against_real(b, labels, real, ims)
    from vqtool.eval.classifier import iou, load_classifier, predict

    net, cfg = load_classifier(Path(classifier), dev)

    def score(labels, ims):
        s = score_against_real(b, labels, real, ims, keep_recon=True)
        k = cfg["n_classes"]
        if int(labels.max()) >= k:
            raise VqtoolError(f"the classifier {classifier} knows {k} classes; the label map has id {int(labels.max())}")
        names = cfg.get("classes") or [str(i) for i in range(k)]

        def named(r, who):
            return {f"{who}_miou": r["miou"], f"{who}_classifier_agreement": r["pixel_accuracy"],
                    f"{who}_class_iou": {names[c]: v for c, v in r["per_class_iou"].items()}}
        return s | named(iou([predict(net, im) for im in ims], labels, k), "sample") \
            | named(iou([predict(net, s.pop("recon"))], labels, k), "real_recon")
    return score


def _quality_rows(score: dict, mode: str, size: str, n: int) -> list[dict]:
    """The real scene through the VQGAN (the ceiling of both measures), then the samples."""
    def extra(who):
        keys = (f"{who}_miou", f"{who}_classifier_agreement", f"{who}_class_iou")
        return {k.removeprefix(who + "_"): v for k, v in score.items() if k in keys}
    return [{"stage": "quality", "mode": "reconstruction of the real scene", "size": size, "samples": 1,
             "label_agreement": score["real_recon_label_agreement"], "sharpness": score["real_recon_sharpness"],
             **extra("real_recon")},
            {"stage": "quality", "mode": mode, "size": size, "samples": n,
             "label_agreement": score["sample_label_agreement"], "sharpness": score["sample_sharpness"],
             **extra("sample")}]
