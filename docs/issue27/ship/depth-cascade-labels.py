# issue 27 (session 14): depth -> landscape through a predicted label map. The depth-code lookup of
# docs/issue27/ship/depth-code-lookup.py (each depth code of the 400 training scenes -> the class most
# often under it) labels each held-out depth map; a 3x3 majority filter over the code grid (optional)
# smooths it; the label map is written as a grayscale PNG for the segmentation models to sample from.
# Prints the predicted maps' pixel accuracy against the scenes' label maps. Ran in a work folder
# (/work/d27/demo/s14) as: python depth-cascade-labels.py 0,1,2,3 data/big/depth/{lake,alpine,desert,forest}/first.png
import glob, sys
import numpy as np
import torch
from PIL import Image
from vqtool.core.imagefile import load_map
from vqtool.core.tokenizer.inputs import input_of
from vqtool.core.tokenizer.loading import load_vqgan
from vqtool.core.tokenizer.tiles import encode_tiled
torch.set_num_threads(1)
D = "/work/d27/demo/"
vq, _ = load_vqgan(D + "runs/depth-vqgan/last.pt")
levels = [int(v) for v in sys.argv[1].split(',')]; maps = sys.argv[2:]
def codes(f):
    m = torch.from_numpy(input_of("depth").normalise(load_map(f)))
    with torch.no_grad():
        z = encode_tiled(vq, m, lambda part: part[None, None]).numpy().astype(np.int64)  # (h, w)
    return z, np.asarray(Image.open(f.replace("/depth/", "/seg/")))
def patches(seg, h, w):  # (h*8, w*8) labels -> (h, w, 64)
    return seg[: h * 8, : w * 8].reshape(h, 8, w, 8).transpose(0, 2, 1, 3).reshape(h, w, 64)
table = np.zeros((vq.codebook_size if hasattr(vq, "codebook_size") else 4096, 16))
for f in sorted(glob.glob(D + "data/scenes/depth/*/*.png")):
    z, seg = codes(f)
    k, s = z.ravel(), patches(seg, *z.shape).reshape(-1, 64)
    np.add.at(table, (np.repeat(k, 64), s.ravel()), 1)
prior = table.sum(0).argmax()
best = np.where(table.sum(1) > 0, table.argmax(1), prior)
for f, smooth in [(f, s) for s in levels for f in maps]:
    z, seg = codes(f)
    cls = best[z]  # (h, w) a class per code
    for _ in range(smooth):  # 3x3 majority over the code grid, edges replicated
        p = np.pad(cls, 1, mode="edge")
        votes = np.zeros(cls.shape + (16,))
        for dy in range(3):
            for dx in range(3):
                np.add.at(votes, (*np.indices(cls.shape), p[dy:dy + cls.shape[0], dx:dx + cls.shape[1]]), 1)
        cls = votes.argmax(-1)
    pred = np.kron(cls, np.ones((8, 8), dtype=np.int64))
    full = np.zeros_like(seg); full[: pred.shape[0], : pred.shape[1]] = pred[: seg.shape[0], : seg.shape[1]]
    acc = float((full == seg).mean())
    b = f.split("/")[-2]
    Image.fromarray(full.astype(np.uint8), "L").save(f"pred{smooth}-{b}.png")
    print(b, "smooth", smooth, "pixel accuracy", round(acc * 100, 1), flush=True)
