# issue 27: what a depth model that drew every held-out scene exactly right, but at another time of day,
# would score. The depth map says nothing about the time of day (make-scenes draws it first, before any
# geometry), while bench quality's colour measure takes its class colours from the real scene's own
# reconstruction. So each held-out 1280x832 scene (make-scenes seed 2026) is rendered again with the same
# random draws at each time of day, passed through the demo's image VQGAN, and scored as a sample is:
# label agreement (colour) and the classifier's pixel accuracy and mean IoU against the scene's label map.
# python depth-tod-ceiling.py [N] (in the demo folder, runs/ unpacked from vqtool/_demo): the first N scenes
# (4: the maps measure-depth-cfg.sh scores; 12: measure-depth-12.sh's); JSON depth-tod-ceiling-N.json
import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import vqtool.data.scenes as scenes
from vqtool.core.tokenizer.tiles import decode
from vqtool.data.images import to_image, to_tensor
from vqtool.eval.agreement import score_against_real
from vqtool.eval.classifier import iou, load_classifier, predict
from vqtool.pipeline.bundle import load_transformer

torch.set_num_threads(1)
here = Path(__file__).parent
b = load_transformer("runs/depth-transformer/last.pt", "cpu")
net, cfg = load_classifier(here / "classifier.pt")
times = dict(scenes._TIMES)


def render(index: int, tod: str | None):
    """Scene ``index`` of seed 2026 at 1280x832; ``tod`` forces its time of day, every other draw unchanged."""
    scenes._TIMES = {k: times[tod or k] for k in times}
    try:
        img, lab, _, biome = scenes.render_scene(2026, index, 1280, 832)
    finally:
        scenes._TIMES = times
    return Image.fromarray(img), lab.astype(np.int64), biome


def through_vqgan(im):
    x = to_tensor(im)[None]
    with torch.no_grad():
        return to_image(decode(b.first, b.first.encode(x).indices)[0])


n = int(sys.argv[1]) if len(sys.argv) > 1 else 4
rows = []
for index in range(n):
    real, lab, biome = render(index, None)
    own = ["day", "day", "golden", "dusk"][np.random.default_rng([2026, index]).integers(4)]
    for tod in times:
        im = through_vqgan(render(index, tod)[0])
        s = score_against_real(b, lab, real, [im])
        c = iou([predict(net, im)], lab, cfg["n_classes"])
        rows.append({"biome": biome, "scene_time": own, "drawn_at": tod, "label_agreement": s["sample_label_agreement"],
                     "classifier_pixel_accuracy": c["pixel_accuracy"], "classifier_miou": c["miou"]})
        print(json.dumps(rows[-1]), flush=True)
# a depth model that draws each time of day as often as the training scenes do (day half the time)
weight = {"day": 0.5, "golden": 0.25, "dusk": 0.25}
for key in ("label_agreement", "classifier_pixel_accuracy"):
    per = {r: sum(weight[x["drawn_at"]] * x[key] for x in rows if x["biome"] == r) / (n // 4) for r in scenes.BIOMES}
    print(key, "expected at the training scenes' times of day:", {k: round(100 * v, 1) for k, v in per.items()},
          "mean", round(100 * np.mean(list(per.values())), 1))
    own = [x[key] for x in rows if x["drawn_at"] == x["scene_time"]]
    print(key, "at each scene's own time of day: mean", round(100 * np.mean(own), 1))
json.dump(rows, open(here / f"depth-tod-ceiling-{n}.json", "w"), indent=1)
