"""issue 27: how much a depth VQGAN's codes say about the class under them. The 400 training scenes'
depth maps are encoded (one code per 8x8 patch); a table maps each code to the class most often found
in its patches; the 4 held-out 1280x832 maps are encoded, looked up and scored pixel by pixel against
their label maps (labels compared directly). A transformer conditioned on the codes is given at least
this much. Run in the demo folder: python depth-code-lookup.py VQGAN"""
import glob, sys
import numpy as np
import torch
from PIL import Image
from vqtool.core.imagefile import load_map
from vqtool.core.tokenizer.inputs import input_of
from vqtool.core.tokenizer.loading import load_vqgan
from vqtool.core.tokenizer.tiles import encode_tiled
torch.set_num_threads(2)
vq, _ = load_vqgan(sys.argv[1])
def codes(f):  # the map read and encoded as tokenize and sample do (normalised per map, in tiles)
    m = torch.from_numpy(input_of("depth").normalise(load_map(f)))
    with torch.no_grad():
        z = encode_tiled(vq, m, lambda part: part[None, None]).numpy().astype(np.int64)  # (h, w)
    return z, np.asarray(Image.open(f.replace("/depth/", "/seg/")))
def patches(seg, h, w):  # (h*8, w*8) labels -> (h, w, 64): the pixels under each code
    return seg[: h * 8, : w * 8].reshape(h, 8, w, 8).transpose(0, 2, 1, 3).reshape(h, w, 64)
table = {}
for f in sorted(glob.glob("data/scenes/depth/*/*.png")):
    z, seg = codes(f)
    k, s = z.ravel(), patches(seg, *z.shape).reshape(-1, 64)
    h = np.zeros((len(k), 16)); np.add.at(h, (np.repeat(np.arange(len(k)), 64), s.ravel()), 1)
    for key, row in zip(k, h):
        table[key] = table.get(key, 0) + row
prior = sum(table.values()).argmax()
best = {k: v.argmax() for k, v in table.items()}
res = {}
for b in "lake alpine desert forest".split():
    f = sorted(glob.glob(f"data/big/depth/{b}/*.png"))[0]
    z, seg = codes(f)
    pred = np.kron(np.vectorize(lambda k: best.get(k, prior))(z), np.ones((8, 8), dtype=np.int64))
    res[b] = round(float((pred == seg[: pred.shape[0], : pred.shape[1]]).mean()) * 100, 1)
print("code alone", res, "mean", round(np.mean(list(res.values())), 1), flush=True)
