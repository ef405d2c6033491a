"""issue 27: what the two encodings of a low-res input keep. The 8 held-out 256² scenes (make-scenes
data/val --n 40 --size 256x256 --seed 7), downscaled 4x as tokenize does, then: bicubic upscaling; the
small image's own codes, each repeated 4x4 (models made before December 2026); the codes of the small
image upscaled to 256² (LowRes.upscaled); the real scene's own codes. Each decoded by the demo's image
VQGAN and scored (PSNR, sharpness against the real scenes). Run in the demo folder:
python sr-codes.py"""
import numpy as np
import torch
import torch.nn.functional as F

from vqtool.app.bench_quality import spread
from vqtool.core.conditioning.lowres import back_project, downscale, lowres_codes
from vqtool.core.tokenizer.tiles import decode
from vqtool.data import images as imgs
from vqtool.eval.agreement import sharpness
from vqtool.eval.metrics import psnr
from vqtool.pipeline.bundle import load_transformer

torch.set_num_threads(2)
st = load_transformer("runs/sr-transformer/last.pt", torch.device("cpu")).first
got = {k: ([], []) for k in ("bicubic", "own codes repeated", "upscaled codes", "upscaled codes, back-projected",
                              "real scene's codes")}
real = []
with torch.no_grad():
    for f in spread(imgs.list_images("data/val/images"), 8):
        x = imgs.to_tensor(imgs.load_rgb(f))[None]
        real.append(imgs.to_image(x[0]))
        s = downscale(x, 4)
        h, w = x.shape[-2] // st.factor, x.shape[-1] // st.factor
        up = decode(st, lowres_codes(st, s, 4, h, w, upscaled=True))
        outs = {"bicubic": F.interpolate(s, size=x.shape[-2:], mode="bicubic", align_corners=False).clamp(-1, 1),
                "own codes repeated": decode(st, lowres_codes(st, s, 4, h, w, upscaled=False)),
                "upscaled codes": up, "upscaled codes, back-projected": back_project(up, s, 5),
                "real scene's codes": decode(st, st.encode(x).indices)}
        for k, v in outs.items():
            got[k][0].append(float(psnr((v + 1) / 2, (x + 1) / 2)))
            got[k][1].append(imgs.to_image(v[0].clamp(-1, 1)))
for k, (p, ims) in got.items():
    print(f"{k}: PSNR {np.mean(p):.2f} dB, sharpness {sharpness(ims, real):.3f}")
