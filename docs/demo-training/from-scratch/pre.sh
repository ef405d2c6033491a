# issue 13: the from-scratch demo's stages that do not depend on the image VQGAN, run beside it with the same
# commands the demo records (the demo then finds them finished and reuses them)
cd /work/fs13; export PYTHONPATH=/work/demo13/src9
. /work/main/.venv/bin/activate
date
OMP_NUM_THREADS=1 vqtool make-scenes /work/fs13/demo/data/scenes-class --n 2000 --size 128x128 --seed 1
OMP_NUM_THREADS=1 vqtool train-vqgan /work/fs13/demo/data/scenes-vq/seg --seg --recipe scenes-seg-vqgan-demo --out /work/fs13/demo/runs/seg-vqgan
date
