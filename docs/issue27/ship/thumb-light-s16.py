"""issue 27 (session 16): does a coarse-to-fine sample keep its thumbnail's light? For each sample saved by
`bench quality --save DIR` (DIR/coarse-exact-NN.png) and the thumbnail it grew from (THUMBS/NN.png, written by
`vqtool sample --model runs/coarse-transformer/last.pt` at the coarse stage's seed, see below), the sample is
downscaled to the thumbnail's size and, inside each of the label map's sky and water regions, its mean colour is
compared with the thumbnail's: the mean absolute difference per channel (0-255). A day-blue lake under a dusk
thumbnail's water differs by tens. Run in the demo folder:
python thumb-light-s16.py LABELS THUMBS DIR [DIR ...]"""
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from vqtool.core.imagefile import load_labels

CLASSES = {"sky": 0, "water": 4, "grass": 5}
labels, thumbs, dirs = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
for d in dirs:
    rows = []
    for k, t in enumerate(sorted(thumbs.glob("*.png"))):
        th = np.asarray(Image.open(t).convert("RGB"), dtype=np.float64)
        h, w = th.shape[:2]
        s = Image.open(Path(d) / f"coarse-exact-{k:02d}.png").convert("RGB")
        small = np.asarray(s.resize((w, h), Image.BOX), dtype=np.float64)
        lab = np.asarray(Image.fromarray(load_labels(labels).astype(np.int32)).resize((w, h), Image.NEAREST))
        rows.append([np.abs(small[lab == c].mean(0) - th[lab == c].mean(0)).mean() for c in CLASSES.values()])
    r = np.array(rows)
    print(f"{d}: " + "  ".join(f"{name} " + "/".join(f"{v:.0f}" for v in r[:, i]) + f" (mean {r[:, i].mean():.1f})"
                               for i, name in enumerate(CLASSES)))
