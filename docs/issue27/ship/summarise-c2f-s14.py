"""issue 27 (session 14): the coarse-to-fine lake measurements of measure-c2f-s14*.sh side by side, each
setting's seeds pooled (4 samples a seed, so the pooled figure is the mean over all its samples).
Run in the demo folder: python summarise-c2f-s14.py"""
import glob, json, re
KEYS = ("label_agreement", "sharpness", "miou", "classifier_agreement")
runs = {"s13-default-seed0": "c2f-lake-s13.json"}
runs.update({re.sub(r"c2f-lake-s14-|\.json", "", f): f for f in sorted(glob.glob("c2f-lake-s14-*.json")) if open(f).read().strip()})
pooled = {}
for name, f in runs.items():
    for r in json.load(open(f))[1:]:
        mode = "exact" if "exact" in r["mode"] else "fast"
        print(f"{name:22s} {mode:5s} " + " ".join(f"{k} {r[k]:.3f}" for k in KEYS))
        pooled.setdefault((name.rsplit("-seed", 1)[0].replace("s13-", ""), mode), []).append(r)
for (setting, mode), rows in pooled.items():
    print(f"pooled {setting:12s} {mode:5s} seeds {len(rows)} " + " ".join(f"{k} {sum(r[k] for r in rows) / len(rows):.3f}" for k in KEYS))
