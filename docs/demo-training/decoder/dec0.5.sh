# issue 13: decoder fine-tune of the 8,000-step demo VQGAN (encoder and codebook frozen), disc_weight 0.5
cd /work/demo13; export PYTHONPATH=/work/demo13/src8
. /work/main/.venv/bin/activate
date
OMP_NUM_THREADS=1 vqtool train-vqgan data/scenes-vq/images --recipe scenes-vqgan-decoder-demo --init-from runs/vqgan/last.pt --out dec/runs/dw0.5 --set loss.disc_weight=0.5
date
