# issue 27 (session 16): the coarse-to-fine pair with a fine model trained with map dropout (fine-cfg: the
# thumbnail dropped with the label map, chain-fine-cfg-s16.sh) or low-res dropout (fine-lowcfg: the thumbnail
# alone, chain-fine-lowcfg-s16.sh), guided at --cfg C; the shipped coarse model, so each seed's thumbnails are
# the shipped pair's (measure-c2f-s14-default.sh). Exact mode, 4 samples, demo folder, one thread:
# `measure-c2f-cfg-s16.sh RUN MAP SEED C [C ...]` (RUN: fine-cfg or fine-lowcfg; MAP: lake/00001, alpine/00000, ...)
cd /work/d27/demo; . /work/venv/bin/activate
export OMP_NUM_THREADS=1
mkdir -p s16
run=$1; map=$2; seed=$3; shift 3
name=$(dirname $map)
for c in "$@"; do
  date
  vqtool bench quality --model runs/$run-transformer/last.pt --coarse runs/coarse-transformer/last.pt --cond data/big/seg/$map.png --n 4 --classifier /work/main/docs/issue27/ship/classifier.pt --seed $seed --cfg $c --mode exact --save s16/look-$run-$name-seed$seed-cfg$c --json > s16/c2f-$run-$name-seed$seed-cfg$c.json
done
date
