"""issue 27 (session 16): the guided fine models' coarse-to-fine samples (measure-c2f-cfg-s16.sh, s16/*.json in
the demo folder, copied to docs/issue27/ship/c2f-cfg-s16/) beside the shipped pair's on the same thumbnails
(session 13-14's JSON), exact mode. In docs/issue27/ship: python summarise-c2f-cfg-s16.py c2f-cfg-s16"""
import glob
import json
import sys

folder = sys.argv[1] if len(sys.argv) > 1 else "s16"

KEYS = ("label_agreement", "sharpness", "miou", "classifier_agreement")
shipped = {"lake-seed0": "c2f-lake-s13.json", "lake-seed1": "c2f-lake-s14-default-seed1.json",
           "lake-seed2": "c2f-lake-s14-default-seed2.json", "alpine-seed0": "c2f-alpine-s14.json",
           "desert-seed0": "c2f-desert-s14.json", "forest-seed0": "c2f-forest-s14.json"}
files = [(f"shipped {k}", v) for k, v in shipped.items()] + [(f[len(f"{folder}/c2f-"):-5], f)
                                                             for f in sorted(glob.glob(f"{folder}/c2f-*.json"))]
for name, f in files:
    r = next(r for r in json.load(open(f))[1:] if "exact" in r["mode"])
    print(f"{name:38s} " + " ".join(f"{k} {r[k]:.3f}" for k in KEYS)
          + "  " + " ".join(f"{c} {v:.2f}" for c, v in r["class_iou"].items()))
for run in ("fine-lowcfg-lake-seed{}-cfg1", "fine-lowcfg-lake-seed{}-cfg2"):  # pooled over seeds 0, 1, 2
    rows = [next(r for r in json.load(open(f"{folder}/c2f-{run.format(s)}.json"))[1:] if "exact" in r["mode"])
            for s in range(3)]
    print(f"{run.format('s 0-2'):38s} " + " ".join(f"{k} {sum(r[k] for r in rows) / 3:.3f}" for k in KEYS))
