# issue 13: the demo VQGAN continued from step 8,000 to 11,000 (same settings), in next/runs/vqgan
cd /work/demo13; export PYTHONPATH=/work/demo13/src7
. /work/main/.venv/bin/activate
date
OMP_NUM_THREADS=1 vqtool train-vqgan data/scenes-vq/images --resume --out next/runs/vqgan --set loss.disc_weight=0.2 --set loss.perceptual_weight=0.5 --set train.eval_every=250 --set train.max_steps=11000
date
