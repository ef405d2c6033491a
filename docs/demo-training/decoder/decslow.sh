# issue 13: decoder fine-tune, disc_weight 1.0 with a lower learning rate (3e-5): the 1e-4 run overshoots
cd /work/demo13; export PYTHONPATH=/work/demo13/src9
. /work/main/.venv/bin/activate
date
OMP_NUM_THREADS=1 vqtool train-vqgan data/scenes-vq/images --recipe scenes-vqgan-decoder-demo --init-from runs/vqgan/last.pt --out dec/runs/slow --set loss.disc_weight=1.0 --set optim.lr=3e-5
date
