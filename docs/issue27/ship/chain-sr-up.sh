# issue 27: the 4x super-resolution model retrained on the upscaled low-res codes (LowRes.upscaled)
cd /work/d27/demo; . /work/venv/bin/activate
date
OMP_NUM_THREADS=1 vqtool tokenize data/scenes/images --out shards-sr-up --vqgan runs/vqgan/last.pt --cond lowres=4 --no-auto-cond --size 576
date
OMP_NUM_THREADS=1 vqtool train-transformer shards-sr-up --recipe scenes-sr-transformer-demo --out runs/sr-up-transformer
date
