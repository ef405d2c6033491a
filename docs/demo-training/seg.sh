cd /work/demo13; export PYTHONPATH=/work/demo13/src
. /work/main/.venv/bin/activate
date
OMP_NUM_THREADS=1 vqtool train-vqgan data/scenes-vq/seg --seg --recipe scenes-seg-vqgan-demo --out runs/seg-vqgan
date
