# issue 27 (session 14): which stage draws the sky's streaks? The shipped coarse-to-fine pair on the
# held-out lake map, 4 samples (seeds as bench quality: sample k of seed 0), exact mode, top-k 100:
# temperature T_coarse for the coarse stage, T_fine for the fine one; saves thumbnails and samples,
# scores each sample as `bench quality --sample` does (with the classifier).
import json, sys, time
from dataclasses import replace
from pathlib import Path
import torch
from vqtool.app.bench_quality import bench_quality
from vqtool.pipeline.bundle import load_transformer
from vqtool.pipeline.coarse import COARSE_SEED, CoarseToFine
from vqtool.pipeline.generate import SampleOptions, generate_each

tc, tf, n = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
extra = {k: (int(v) if k == "top_k" else float(v)) for k, v in (a.split("=") for a in sys.argv[4:])}  # fine-stage options
runs = Path("/work/d27/demo/runs")
fine, coarse = runs / "fine-transformer/last.pt", runs / "coarse-transformer/last.pt"
label = "/work/d27/demo/data/big/seg/lake/00001.png"
clf = "/work/main/docs/issue27/ship/classifier.pt"
out = Path(f"tc{tc}-tf{tf}" + "".join(f"-{k}{v}" for k, v in extra.items())); out.mkdir(exist_ok=True)
pair = CoarseToFine.pair(load_transformer(fine, torch.device("cpu")), load_transformer(coarse, torch.device("cpu")))
size = (1280, 832)
thumb, grid = pair.sizes(size)
entries = [pair.entry([label])] * n
opts = SampleOptions(top_k=100, seed=0, mode="exact")
t = time.time()
thumbs = generate_each(pair.coarse, entries, thumb, replace(opts, seed=0 ^ COARSE_SEED, temperature=tc), None, 0)
low = pair.fine.layout.from_coarse
rows = []
for i, im in enumerate(thumbs):
    im.save(out / f"thumb-{i:02d}.png")
    e = {**entries[i], low.kind: low.parse(out / f"thumb-{i:02d}.png", pair.fine.layout.adjective)}
    img = generate_each(pair.fine, [e], grid, replace(opts, temperature=tf, **extra), None, i)[0].crop((0, 0) + size)
    img.save(out / f"sample-{i:02d}.png")
    r = bench_quality(str(fine), [label], None, sample=str(out / f"sample-{i:02d}.png"), coarse=str(coarse),
                      classifier=clf, device="cpu")
    rows.append(r[-1]); print(i, round(time.time() - t), {k: r[-1].get(k) for k in ("label_agreement", "sharpness", "miou", "classifier_agreement")}, flush=True)
mean = {k: sum(r[k] for r in rows) / len(rows) for k in ("label_agreement", "sharpness", "miou", "classifier_agreement")}
print("mean", mean)
json.dump({"coarse_temperature": tc, "fine_temperature": tf, "fine_options": extra, "rows": rows, "mean": mean}, open(out / "scores.json", "w"), indent=1)
