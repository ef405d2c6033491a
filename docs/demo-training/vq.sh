set -x
cd /work/demo13; export PYTHONPATH=/work/demo13/src
. /work/main/.venv/bin/activate
date
[ -f data/scenes-vq/classes.json ] || vqtool make-scenes data/scenes-vq --n 1000 --size 256x256 --seed 0
date
vqtool train-vqgan data/scenes-vq/images --recipe scenes-vqgan-demo --out runs/vqgan
date
vqtool train-vqgan data/scenes-vq/seg --seg --recipe scenes-seg-vqgan-demo --out runs/seg-vqgan
date
