"""The demo's other conditions, each from its own shipped model and scored where it is made: a
1280x832 landscape from a held-out depth map (depth map | sample | real scene), and 4x
super-resolution of held-out 256² scenes (low-res | bicubic | vqtool | real)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch
from PIL import Image

from vqtool.app.demo_folder import command

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
            im = generate(b, 1, size, {"depth": depth}, top_k=100, seed=0, progress=advance)[0]
        seconds = round(time.time() - t, 1)
        target.parent.mkdir(parents=True, exist_ok=True)
        im.save(target)
        # the figures of the command below: the real scene through the VQGAN, then the sample
        rows = bench_quality(str(model), [f"depth={depth}"], size, sample=str(target), device="cpu")
        path.write_text(json.dumps({"depth_map": str(depth), "sample": str(target), "truth": str(depth).replace("/depth/", "/images/"),
                                    "sample_seconds": seconds, "quality": rows}, indent=1))
    d.stage("depth sample", path, run,
            command("sample", model=model, cond=f"depth={depth}", size=f"{size[0]}x{size[1]}", top_k=100, seed=0,
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
    """One row per scene: its low-res input (nearest, at full size), bicubic, the sample, the real image."""
    real = ims["real"]
    w, h = real[0].size
    grid = Image.new("RGB", (4 * w, h * len(real)), "white")
    for i, row in enumerate(zip(ims["lowres"], ims["bicubic"], ims["sampled"], real)):
        for j, im in enumerate(row):
            grid.paste(im.resize((w, h), Image.NEAREST) if im.size != (w, h) else im, (j * w, i * h))
    return grid
