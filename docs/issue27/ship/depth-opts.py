"""issue 27: the shipped depth model's label agreement at other sampling settings (bench quality samples
at top-k 100, temperature 1): 4 samples of each held-out 1280x832 depth map, scored as bench quality."""
import sys, glob, json, time
import numpy as np, torch
from PIL import Image
from vqtool.core.imagefile import load_labels
from vqtool.data import images as imgs
from vqtool.eval.agreement import score_against_real
from vqtool.pipeline.bundle import load_transformer
from vqtool.pipeline.conditioning import cond_batch, condition
from vqtool.pipeline.generate import SampleOptions, padded, sample_tokens, to_images

torch.set_num_threads(1)
b = load_transformer("runs/depth-transformer/last.pt", torch.device("cpu"))
opts = json.loads(sys.argv[1])
res = {}
for m in "lake alpine desert forest".split():
    f = sorted(glob.glob(f"data/big/depth/{m}/*.png"))[0]
    real = imgs.load_rgb(f.replace("/depth/", "/images/"))
    W, H = padded((1280, 832), b.factor)
    lab = np.asarray(Image.fromarray(load_labels(f.replace("/depth/", "/seg/")).astype(np.int32)).resize((W, H), Image.NEAREST))
    toks = cond_batch(b, [condition(b, [f])] * 4, H // b.factor, W // b.factor)
    t = time.time()
    z = sample_tokens(b, toks, H // b.factor, W // b.factor, SampleOptions(seed=0, **opts))
    s = score_against_real(b, lab, real, to_images(b, z))
    res[m] = (round(100 * s["sample_label_agreement"], 1), round(s["sample_sharpness"], 2))
    print(m, res[m], round(time.time() - t), flush=True)
print(opts, res, "mean", round(np.mean([v[0] for v in res.values()]), 1), flush=True)
