"""Issue 13: per-sample label agreement and sharpness of the 1280x832 lake map, seeds 0..7 (sample
numbers 0..7 of seed 0, as bench quality's), for the shipped and the from-scratch landscape models.
Usage: python persample.py MODEL LABEL_MAP"""
import json
import sys
from pathlib import Path

from vqtool.data import images as imgs
from vqtool.eval.agreement import score_against_real
from vqtool.pipeline.bundle import load_transformer
from vqtool.pipeline.conditioning import cond_batch, read_label_map
from vqtool.pipeline.generate import SampleOptions, padded, sample_tokens, to_images

model, label_map = sys.argv[1], Path(sys.argv[2])
b = load_transformer(model, "cpu")
W, H = padded((1280, 832), b.factor)
h, w, n = H // b.factor, W // b.factor, 8
cond = cond_batch(b, [label_map] * n, h, w)
lab = read_label_map(b, label_map, (W, H)).numpy()
real = imgs.load_rgb(Path(str(label_map).replace("/seg/", "/images/")))
ims = to_images(b, sample_tokens(b, cond, h, w, SampleOptions(seed=0, mode="exact", top_k=100, batch_size=n)))
rows = [score_against_real(b, lab, real, [im]) for im in ims]
print(json.dumps({"model": model, "per_sample": rows}, indent=1))
