"""issue 27: does the demo's depth VQGAN keep what the depth lookup reads? The lookup of depth-lookup.py
(table from the 400 training scenes' raw depth maps, no height band) applied to the 4 held-out 1280x832
depth maps as they are and as a depth VQGAN reconstructs them (encode, decode), with its mean absolute
error on them (maps in [0, 1]). Run in the demo folder: python depth-recon-lookup.py [VQGAN]
(runs/depth-vqgan/last.pt by default)"""
import glob, sys
import numpy as np
import torch
from PIL import Image
from vqtool.core.imagefile import load_map
from vqtool.core.tokenizer.loading import load_vqgan
from vqtool.core.tokenizer.tiles import decode
torch.set_num_threads(1)
def feats(d):
    d = d.astype(np.float64); d = (d - d.min()) / (d.max() - d.min() + 1e-9)
    gy, gx = np.gradient(d)
    rough = np.clip((np.log10(np.hypot(gx, gy) + 1e-6) + 6) * 2, 0, 11).astype(int)
    return np.clip(d * 32, 0, 31).astype(int) * 12 + rough
table = np.zeros((32 * 12, 16))
for f in sorted(glob.glob("data/scenes/depth/*/*.png")):
    np.add.at(table, (feats(load_map(f)).ravel(), np.asarray(Image.open(f.replace("/depth/", "/seg/"))).ravel()), 1)
best = table.argmax(1)
vq, _ = load_vqgan(sys.argv[1] if len(sys.argv) > 1 else "runs/depth-vqgan/last.pt")
out = {}
with torch.no_grad():
    for b in "lake alpine desert forest".split():
        f = sorted(glob.glob(f"data/big/depth/{b}/*.png"))[0]
        seg = np.asarray(Image.open(f.replace("/depth/", "/seg/")))
        d = load_map(f)
        x = torch.from_numpy((d - d.min()) / (d.max() - d.min() + 1e-9) * 2 - 1)[None, None].float()
        r = decode(vq, vq.encode(x).indices)[0, 0].numpy()
        out[b] = {"raw": round(float((best[feats(d)] == seg).mean()) * 100, 1),
                  "reconstructed": round(float((best[feats(r)] == seg).mean()) * 100, 1),
                  "mae": round(float(np.abs((r + 1) / 2 - (x[0, 0].numpy() + 1) / 2).mean()), 4)}
        print(b, out[b], flush=True)
for k in ("raw", "reconstructed", "mae"):
    print(k, "mean", round(np.mean([v[k] for v in out.values()]), 4))
