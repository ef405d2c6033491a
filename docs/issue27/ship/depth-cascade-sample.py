# issue 27 (session 14): depth -> landscape through a predicted label map (depth-cascade-labels.py: pred1-B.png):
# the shipped coarse-to-fine segmentation pair samples each predicted map at 1280x832 (exact, top-k 100,
# temperature T, samples 0..n-1 of seed 0); each sample is scored against the scene's own label map
# as `bench quality --cond data/big/seg/B/N.png --sample PNG --classifier ...` does. Ran in the same work
# folder as: python depth-cascade-sample.py 2 1.0 lake alpine desert forest
import glob, json, sys, time
from pathlib import Path
import torch
from vqtool.app.bench_quality import bench_quality
from vqtool.pipeline.bundle import load_transformer
from vqtool.pipeline.coarse import CoarseToFine
from vqtool.pipeline.generate import SampleOptions
D = "/work/d27/demo/"
fine, coarse = D + "runs/fine-transformer/last.pt", D + "runs/coarse-transformer/last.pt"
clf = "/work/main/docs/issue27/ship/classifier.pt"
n, temp, biomes = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]
pair = CoarseToFine.pair(load_transformer(fine, torch.device("cpu")), load_transformer(coarse, torch.device("cpu")))
out = Path(f"cascade-t{temp}"); out.mkdir(exist_ok=True)
res, t = {}, time.time()
for b in biomes:
    truth = sorted(glob.glob(D + f"data/big/seg/{b}/*.png"))[0]
    rows = []
    for i in range(n):
        ims, _ = pair.generate(1, (1280, 832), [f"pred1-{b}.png"], opts=SampleOptions(top_k=100, seed=0, temperature=temp), first_sample=i)
        ims[0].save(out / f"{b}-{i:02d}.png")
        r = bench_quality(fine, [truth], None, sample=str(out / f"{b}-{i:02d}.png"), coarse=coarse, classifier=clf, device="cpu")[-1]
        rows.append(r)
        print(b, i, round(time.time() - t), {k: round(r[k], 4) for k in ("label_agreement", "sharpness", "miou", "classifier_agreement")}, flush=True)
    res[b] = {k: sum(r[k] for r in rows) / n for k in ("label_agreement", "sharpness", "miou", "classifier_agreement")}
    print(b, "mean", res[b], flush=True)
print("all", {k: sum(v[k] for v in res.values()) / len(res) for k in res[biomes[0]]})
json.dump(res, open(out / f"scores-{'-'.join(biomes)}.json", "w"), indent=1)
