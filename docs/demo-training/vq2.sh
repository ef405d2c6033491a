cd /work/demo13; export PYTHONPATH=/work/demo13/src
. /work/main/.venv/bin/activate
date
vqtool train-vqgan data/scenes-vq/images --resume --out runs/vqgan --set loss.disc_weight=0.1 --set loss.perceptual_weight=0.5 --set train.eval_every=250
date
