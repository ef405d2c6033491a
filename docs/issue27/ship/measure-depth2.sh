# issue 27: a retrained depth model scored as the shipped one (measure.sh): 4 samples of each held-out
# 1280x832 depth map, label agreement with the scene's label map, two maps at a time (one thread each).
# bash measure-depth2.sh RUN (in the demo folder); JSON RUN-BIOME.json beside this script
cd /work/d27/demo; . /work/venv/bin/activate
here=/work/main/docs/issue27/ship
one() {
  m=$(ls data/big/depth/$2/*.png | head -1)
  OMP_NUM_THREADS=1 vqtool bench quality --model runs/$1/last.pt --cond depth=$m --n 4 --classifier $here/classifier.pt --json > $here/$1-$2.json
}
date
one $1 lake & one $1 alpine & wait
one $1 desert & one $1 forest & wait
date
python - "$1" <<'PY'
import json, sys
r = {b: json.load(open(f"/work/main/docs/issue27/ship/{sys.argv[1]}-{b}.json")) for b in "lake alpine desert forest".split()}
la = {b: round(100 * v[1]["label_agreement"], 1) for b, v in r.items()}
print(sys.argv[1], la, "mean", round(sum(la.values()) / 4, 1),
      "sharpness", {b: round(v[1]["sharpness"], 2) for b, v in r.items()}, "mIoU", {b: round(v[1]["miou"], 2) for b, v in r.items()})
PY
