# issue 27: the figures of measure-depth-12.sh's JSON, per biome (three maps each) and over the twelve maps:
# python summarise-12.py RUN S
import json, sys
from collections import defaultdict
from pathlib import Path

run, s = sys.argv[1], sys.argv[2]
rows = defaultdict(list)
for p in sorted((Path(__file__).parent / "maps12").glob(f"{run}-cfg{s}-*.json")):
    biome = p.stem.removeprefix(f"{run}-cfg{s}-").split("-")[0]
    recon, sample = json.loads(p.read_text())
    rows[biome].append((sample["label_agreement"], sample["classifier_agreement"], sample["miou"], sample["sharpness"],
                        recon["label_agreement"], recon["classifier_agreement"]))
names = ["label agreement", "classifier agreement", "classifier mIoU", "sharpness", "recon label agreement",
         "recon classifier agreement"]
every = [r for v in rows.values() for r in v]
for i, name in enumerate(names):
    per = {b: round(sum(r[i] for r in v) / len(v) * (1 if i in (2, 3) else 100), 2 if i in (2, 3) else 1)
           for b, v in sorted(rows.items())}
    mean = sum(r[i] for r in every) / len(every) * (1 if i in (2, 3) else 100)
    print(f"{run} cfg {s} {name}: {per} mean over {len(every)} maps {mean:.{2 if i in (2, 3) else 1}f}")
