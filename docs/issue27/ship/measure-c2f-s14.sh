# issue 27 (session 14): the shipped coarse-to-fine pair on the held-out lake map with nucleus sampling
# (--top-p 0.9, both stages, beside the default top-k 100), 4 samples, exact and fast; seed S (0: the
# samples of measure-c2f-s13.sh, 1: four others). Run in the demo folder, one thread.
cd /work/d27/demo; . /work/venv/bin/activate
export OMP_NUM_THREADS=1
s=${1:-0}; date
vqtool bench quality --model runs/fine-transformer/last.pt --coarse runs/coarse-transformer/last.pt --cond data/big/seg/lake/00001.png --n 4 --classifier /work/main/docs/issue27/ship/classifier.pt --top-p 0.9 --seed $s --save look-c2f-topp0.9-seed$s --json > c2f-lake-s14-topp0.9-seed$s.json
date
