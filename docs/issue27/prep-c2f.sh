# issue 27 item 1: coarse-to-fine data. Fine: the landscape scenes (the shipped model's) with their 8x low-res
# codes; coarse: larger scenes (1280x1024, the held-out maps' width) downscaled 8x (160x128 = 20x16 tokens)
cd /work/i26b; . /work/venv/bin/activate
date
OMP_NUM_THREADS=1 vqtool make-scenes data/coarse --n 400 --size 1280x1024 --seed 5 --no-depth --no-edges
date
OMP_NUM_THREADS=1 vqtool tokenize data/coarse/images --out shards-coarse --vqgan /work/meas/runs/vqgan/last.pt --seg-vqgan /work/meas/runs/seg-vqgan/last.pt --size 128
date
OMP_NUM_THREADS=1 vqtool tokenize data/scenes/images --out shards-c2f --vqgan /work/meas/runs/vqgan/last.pt --seg-vqgan /work/meas/runs/seg-vqgan/last.pt --cond lowres=8 --size 576
date
