"""issue 27 item 2: the shipped super-resolution model on the 8 held-out 256² scenes (make-scenes data/val
--n 40 --size 256x256 --seed 7), sampled with other top-k / temperatures, each raw and back-projected 5
steps (`sample --back-project 5`: pipeline.generate.back_projected). Run in the demo folder: python sr-back-project.py"""
import tempfile
from pathlib import Path

import numpy as np
import torch

from vqtool.app.bench_quality import spread, superres_compare
from vqtool.data import images as imgs
from vqtool.eval.agreement import sharpness
from vqtool.eval.metrics import psnr
from vqtool.pipeline.bundle import load_transformer
from vqtool.pipeline.generate import SampleOptions, back_projected, generate_each

torch.set_num_threads(1)
b = load_transformer("runs/sr-transformer/last.pt", torch.device("cpu"))
files = spread(imgs.list_images("data/val/images"), 8)
rows, ims = superres_compare(b, files, seed=0)  # the bench's rows and its low-res PNGs' images
real, small = ims["real"], ims["lowres"]


def score(xs):
    p = [float(psnr((imgs.to_tensor(a)[None] + 1) / 2, (imgs.to_tensor(r)[None] + 1) / 2)) for a, r in zip(xs, real)]
    return round(float(np.mean(p)), 2), round(sharpness(xs, real), 3)


def project(xs, paths, steps=5):
    return back_projected(b, xs, [{"lowres": p} for p in paths], steps)


tmp = Path(tempfile.mkdtemp())
paths = []
for i, s in enumerate(small):
    s.save(tmp / f"{i}.png")
    paths.append(tmp / f"{i}.png")
print("real through the VQGAN, back-projected", score(project(ims["recon"], paths)))
for opts in (dict(top_k=100), dict(top_k=1), dict(top_k=5), dict(top_k=20, temperature=0.7),
             dict(top_k=100, temperature=0.5)):
    s = generate_each(b, [{"lowres": p} for p in paths], None, SampleOptions(seed=0, **opts))
    print(opts, "raw (PSNR, sharpness)", score(s), "back-projected", score(project(s, paths)), flush=True)
