cd /work/demo13; export PYTHONPATH=/work/demo13/src3
. /work/main/.venv/bin/activate
date
OMP_NUM_THREADS=1 vqtool train-vqgan data/scenes-vq/images --resume --out runs/vqgan --set loss.disc_weight=0.2 --set loss.perceptual_weight=0.5 --set train.eval_every=250 --set train.max_steps=8000
date
