cd /work/i26b; . /work/venv/bin/activate
date
OMP_NUM_THREADS=1 vqtool make-scenes data/scenes --n 400 --size 640x576 --seed 0 --no-depth --no-edges
OMP_NUM_THREADS=1 vqtool make-scenes data/big --n 4 --size 1280x832 --seed 2026
date
OMP_NUM_THREADS=1 vqtool tokenize data/scenes/images --out shards --vqgan /work/meas/runs/vqgan/last.pt --seg-vqgan /work/meas/runs/seg-vqgan/last.pt --size 576
date
OMP_NUM_THREADS=1 vqtool train-transformer shards --recipe scenes-transformer-local-demo --set gpt.cond_layers=2 --out runs/local-cond2
date
