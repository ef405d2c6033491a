"""issue 27: a depth VQGAN's mean absolute error (maps in [0, 1]) at the scales it meets: the 4 held-out
1280x832 maps (and the same downscaled 2x, 4x), 40 of the 640x576 training maps, the 40 256² val maps.
Run in the demo folder: python depth-vq-scales.py VQGAN"""
import glob, numpy as np, torch, sys
from vqtool.core.imagefile import load_map
from vqtool.core.tokenizer.loading import load_vqgan
from vqtool.core.tokenizer.tiles import decode
import torch.nn.functional as F
vq, _ = load_vqgan(sys.argv[1])
def rec(d, s=1):
    x = torch.from_numpy((d - d.min()) / (d.max() - d.min() + 1e-9) * 2 - 1)[None, None].float()
    if s != 1: x = F.interpolate(x, scale_factor=1/s, mode="area")
    with torch.no_grad(): r = decode(vq, vq.encode(x).indices)
    return float((r - x).abs().mean() / 2)
for s in (1, 2, 4):
    print("big /", s, np.mean([rec(load_map(f), s) for f in sorted(glob.glob("data/big/depth/*/*.png"))]))
print("scenes 640x576", np.mean([rec(load_map(f)) for f in sorted(glob.glob("data/scenes/depth/*/*.png"))[:40]]))
print("val 256", np.mean([rec(load_map(f)) for f in sorted(glob.glob("data/val/depth/*/*.png"))]))
