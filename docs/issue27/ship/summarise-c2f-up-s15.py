"""issue 27 (session 15): the coarse-to-fine pair with the fine model on the upscaled low-res codes
(measure-c2f-up-s15.sh, s15/c2f-up-*.json) beside the shipped pair on the same samples (session 13-14's
JSON), exact mode, and each one pooled. Run in the demo folder: python summarise-c2f-up-s15.py"""
import json
KEYS = ("label_agreement", "sharpness", "miou", "classifier_agreement")
shipped = {"lake-seed0": "c2f-lake-s13.json", "lake-seed1": "c2f-lake-s14-default-seed1.json",
           "lake-seed2": "c2f-lake-s14-default-seed2.json", "alpine": "c2f-alpine-s14.json",
           "desert": "c2f-desert-s14.json", "forest": "c2f-forest-s14.json"}
pooled = {}
for name, old in shipped.items():
    for which, f in (("shipped", old), ("upscaled", f"s15/c2f-up-{name}.json")):
        r = next(r for r in json.load(open(f))[1:] if "exact" in r["mode"])
        print(f"{name:10s} {which:8s} " + " ".join(f"{k} {r[k]:.3f}" for k in KEYS)
              + "  " + " ".join(f"{c} {v:.2f}" for c, v in r["class_iou"].items()))
        pooled.setdefault(which, []).append(r)
for which, rows in pooled.items():
    print(f"mean of 6 {which:8s} " + " ".join(f"{k} {sum(r[k] for r in rows) / len(rows):.3f}" for k in KEYS))
