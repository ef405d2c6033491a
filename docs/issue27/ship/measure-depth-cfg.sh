# issue 27: a depth model trained with map dropout (chain-depth-cfg.sh), scored as the shipped one
# (measure-depth2.sh) with classifier-free guidance towards the depth map: N samples of each held-out
# 1280x832 depth map at guidance scale S, label agreement with the scene's label map, two maps at a time
# (one thread each). bash measure-depth-cfg.sh RUN S [N] [BIOMES] (in the demo folder);
# JSON RUN-cfgS-BIOME.json beside this script.
cd /work/d27/demo; . /work/venv/bin/activate
here=/work/main/docs/issue27/ship
run=$1; s=$2; n=${3:-4}; biomes=${4:-"lake alpine desert forest"}
one() {
  m=$(ls data/big/depth/$1/*.png | head -1)
  OMP_NUM_THREADS=1 vqtool bench quality --model runs/$run/last.pt --cond depth=$m --n $n --cfg $s --classifier $here/classifier.pt --json > $here/$run-cfg$s-$1.json
}
date
set -- $biomes
while [ $# -gt 0 ]; do
  one $1 & [ $# -gt 1 ] && one $2 & wait; shift; shift
done
date
python - "$run" "$s" "$biomes" <<'PY'
import json, sys
run, s, biomes = sys.argv[1], sys.argv[2], sys.argv[3].split()
r = {b: json.load(open(f"/work/main/docs/issue27/ship/{run}-cfg{s}-{b}.json")) for b in biomes}
la = {b: round(100 * v[1]["label_agreement"], 1) for b, v in r.items()}
print(run, "cfg", s, la, "mean", round(sum(la.values()) / len(la), 1),
      "sharpness", {b: round(v[1]["sharpness"], 2) for b, v in r.items()}, "mIoU", {b: round(v[1]["miou"], 2) for b, v in r.items()})
PY
