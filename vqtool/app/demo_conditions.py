"""The demo's other conditions, each from its own shipped model and scored where it is made: the
label map's landscape again coarse to fine (map | thumbnail | sample | real scene), a 1280x832
landscape from a held-out depth map (depth map | sample | real scene), and 4x super-resolution of
held-out 256² scenes (low-res | bicubic | vqtool | real)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch
from PIL import Image

from vqtool.app.demo_folder import command


def train_coarse_to_fine(d, scenes: Path) -> None:
    """The coarse-to-fine pair from scratch: the coarse model on larger scenes made K times smaller
    (whole scenes at the thumbnail's scale), the fine one on the landscape's scenes with their images
    K times smaller as its low-res condition."""
    (count, w, h), k = d.o.coarse_scenes, d.o.coarse_factor
    coarse = d.scenes("scenes-coarse", count, w, h, 5)
    d.train("coarse-transformer", d.tokenize("tokenize coarse", "shards-coarse", coarse, min(w, h) // k,
                                             {"seg": coarse / "seg"}))
    # the thumbnail as its own codes at the K x K it covers (`lowres=K:blocks`): a fine model given the codes
    # of the thumbnail upscaled copies the thumbnail and drops the map's clouds and shore (README, "Coarse to fine")
    d.train("fine-transformer", d.tokenize("tokenize fine", "shards-fine", scenes, min(d.o.train_size),
                                           {"seg": scenes / "seg", "lowres": f"{k}:blocks"}))


def coarse_landscape(d) -> None:
    """The segmentation landscape's label map sampled coarse to fine (the coarse model's thumbnail of
    the whole map, then the fine model's full size from the map and that thumbnail), scored as
    `vqtool bench quality --coarse ... --sample` does."""
    from vqtool.app.bench_quality import bench_quality
    from vqtool.pipeline.bundle import load_transformer
    from vqtool.pipeline.coarse import CoarseToFine
    from vqtool.pipeline.generate import SampleOptions

    fine, coarse = d.runs / "fine-transformer" / "last.pt", d.runs / "coarse-transformer" / "last.pt"
    label, size, mode = d.figures["label_map"], d.o.big_size, "exact" if d.o.exact else "fast"
    target, thumb = (d.out / "samples" / f"coarse-{s}.png" for s in ("landscape", "thumbnail"))
    path = d.out / "coarse.json"

    def run():
        pair = CoarseToFine.pair(load_transformer(fine, torch.device("cpu")), load_transformer(coarse, torch.device("cpu")))
        t = time.time()
        with d.h.progress("coarse to fine", pair.tokens(1, size)) as advance:
            ims, thumbs = pair.generate(1, size, [label], opts=SampleOptions(top_k=100, seed=0, mode=mode),
                                        progress=advance)
        seconds = round(time.time() - t, 1)
        target.parent.mkdir(parents=True, exist_ok=True)
        ims[0].save(target)
        thumbs[0].save(thumb)
        rows = bench_quality(str(fine), [label], None, sample=str(target), coarse=str(coarse), device="cpu")
        path.write_text(json.dumps({"sample": str(target), "thumbnail": str(thumb), "mode": mode,
                                    "sample_seconds": seconds, "quality": rows}, indent=1))
    d.stage("coarse to fine", path, run,
            command("sample", model=fine, coarse=coarse, cond=label, size=f"{size[0]}x{size[1]}", mode=mode,
                    top_k=100, seed=0, out=target.parent) + " && "
            + command("bench", "quality", model=fine, coarse=coarse, cond=label, sample=target))
    d.figures["coarse"] = json.loads(path.read_text())


def depth_landscape(d, big: Path) -> None:
    """Sample the held-out lake scene's depth map at the demo's big size with the depth model and
    score it as `vqtool bench quality` does: label agreement with that scene's own label map,
    sharpness against its image."""
    from vqtool.app.bench_quality import bench_quality
    from vqtool.pipeline.bundle import load_transformer
    from vqtool.pipeline.generate import generate, padded

    maps = sorted((big / "depth").rglob("*.png"))
    depth = next((p for p in maps if p.parent.name == "lake"), maps[0])
    model, size = d.runs / "depth-transformer" / "last.pt", d.o.big_size
    target, path = d.out / "samples" / "depth-landscape.png", d.out / "depth.json"

    def run():
        b = load_transformer(model, torch.device("cpu"))
        t = time.time()
        Wf, Hf = padded(size, b.factor)
        with d.h.progress("depth sample", Wf * Hf // b.factor ** 2) as advance:
            im = generate(b, 1, size, {"depth": depth}, top_k=100, cfg=d.o.depth_cfg, seed=0, progress=advance)[0]
        seconds = round(time.time() - t, 1)
        target.parent.mkdir(parents=True, exist_ok=True)
        im.save(target)
        # the figures of the command below: the real scene through the VQGAN, then the sample
        rows = bench_quality(str(model), [f"depth={depth}"], size, sample=str(target), device="cpu")
        path.write_text(json.dumps({"depth_map": str(depth), "sample": str(target), "truth": str(depth).replace("/depth/", "/images/"),
                                    "cfg": d.o.depth_cfg, "sample_seconds": seconds, "quality": rows}, indent=1))
    d.stage("depth sample", path, run,
            command("sample", model=model, cond=f"depth={depth}", size=f"{size[0]}x{size[1]}", top_k=100,
                    cfg=d.o.depth_cfg, seed=0,
                    out=target.parent) + " && "
            + command("bench", "quality", model=model, cond=f"depth={depth}", sample=target))
    d.figures["depth"] = json.loads(path.read_text())


def landscape_quality(model: Path, fig: dict) -> dict:
    """Label agreement and sharpness of the segmentation landscape, beside the real scene's VQGAN
    reconstruction: `vqtool bench quality --sample`, as the demo records it."""
    from vqtool.app.bench_quality import bench_quality

    real, sample = bench_quality(str(model), [fig["label_map"]], None, sample=fig["sample"], device="cpu")
    return {"sample_label_agreement": sample["label_agreement"], "real_recon_label_agreement": real["label_agreement"],
            "sample_sharpness": sample["sharpness"], "real_recon_sharpness": real["sharpness"]}


def superres(d, val: Path) -> None:
    """4x super-resolution of ``d.o.sr_images`` held-out scenes (one biome after another), scored
    beside bicubic upscaling; a grid of low-res | bicubic | vqtool | real per scene."""
    from vqtool.app.bench_quality import spread, superres_compare
    from vqtool.data import images as imgs
    from vqtool.pipeline.bundle import load_transformer

    model, n = d.runs / "sr-transformer" / "last.pt", d.o.sr_images
    target, path = d.out / "samples" / "superres.png", d.out / "superres.json"

    def run():
        b = load_transformer(model, torch.device("cpu"))
        files = spread(imgs.list_images(val / "images"), n)
        with d.h.progress("super-resolution"):
            rows, ims = superres_compare(b, files, seed=0)
        target.parent.mkdir(parents=True, exist_ok=True)
        _grid(ims).save(target)
        path.write_text(json.dumps({"rows": rows, "grid": str(target), "images": [str(f) for f in files]}, indent=1))
    d.stage("super-resolution", path, run, command("bench", "superres", model=model, images=val / "images", n=n))
    d.figures["superres"] = json.loads(path.read_text())


def _grid(ims: dict) -> Image.Image:
    """One row per scene: its low-res input (nearest, at full size), bicubic, the sample (back-projected
    onto the input where it was), the real image."""
    real = ims["real"]
    w, h = real[0].size
    grid = Image.new("RGB", (4 * w, h * len(real)), "white")
    for i, row in enumerate(zip(ims["lowres"], ims["bicubic"], ims["projected"] or ims["sampled"], real)):
        for j, im in enumerate(row):
            grid.paste(im.resize((w, h), Image.NEAREST) if im.size != (w, h) else im, (j * w, i * h))
    return grid
