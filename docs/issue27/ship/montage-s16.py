"""issue 27 (session 16): one picture of rows of four coarse-to-fine samples (bench quality --save folders,
coarse-exact-NN.png) under the thumbnails they grew from (a folder of four PNGs). Demo folder:
python montage-s16.py OUT.jpg THUMBS DIR [DIR ...]"""
import sys
from pathlib import Path

from PIL import Image

out, thumbs, dirs = sys.argv[1], sorted(Path(sys.argv[2]).glob("*.png")), sys.argv[3:]
W = Image.new("RGB", (4 * 330, (1 + len(dirs)) * 220), "white")
for j, d in enumerate([None] + dirs):
    for k, t in enumerate(thumbs):
        im = Image.open(t) if d is None else Image.open(Path(d) / f"coarse-exact-{k:02d}.png")
        W.paste(im.convert("RGB").resize((320, 208), Image.LANCZOS), (k * 330, j * 220))
W.save(out, quality=85)
