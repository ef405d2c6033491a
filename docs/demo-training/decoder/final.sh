# issue 13: the shipped decoder run, with the recipe as shipped (max_steps 750); its weights should equal
# the step-750 checkpoint of the 3,000-step run (dec/runs/slow, dec/ck/slow-750.pt): same data order, constant lr
cd /work/demo13; export PYTHONPATH=/work/demo13/src10
. /work/main/.venv/bin/activate
date
OMP_NUM_THREADS=1 vqtool train-vqgan data/scenes-vq/images --recipe scenes-vqgan-decoder-demo --init-from runs/vqgan/last.pt --out dec/runs/final
date
