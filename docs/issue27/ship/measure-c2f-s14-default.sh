# issue 27 (session 14): the shipped coarse-to-fine pair on the held-out lake map at the default options
# (top-k 100), 4 samples of seed S, exact and fast; beside measure-c2f-s14.sh's top-p 0.9. Demo folder, one thread.
cd /work/d27/demo; . /work/venv/bin/activate
export OMP_NUM_THREADS=1
s=${1:-1}; date
vqtool bench quality --model runs/fine-transformer/last.pt --coarse runs/coarse-transformer/last.pt --cond data/big/seg/lake/00001.png --n 4 --classifier /work/main/docs/issue27/ship/classifier.pt --seed $s --save look-c2f-default-seed$s --json > c2f-lake-s14-default-seed$s.json
date
