# issue 27: the depth -> landscape model on twice the scenes (800 of 640x576, seed 0: the first 400 are the
# demo's scenes, same bytes), the recipe as it is (2,400 steps): its training windows score ~2 bits/token
# below its validation ones, so more scenes may teach it more than more steps. One thread.
cd /work/d27/demo; . /work/venv/bin/activate
date
OMP_NUM_THREADS=1 vqtool make-scenes data/scenes800 --n 800 --size 640x576 --seed 0 --no-edges
date
OMP_NUM_THREADS=1 vqtool tokenize data/scenes800/images --out shards-depth800 --vqgan runs/vqgan/last.pt --cond depth=data/scenes800/depth --cond-vqgan depth=runs/depth-vqgan/last.pt --no-auto-cond --size 576
date
OMP_NUM_THREADS=1 vqtool train-transformer shards-depth800 --recipe scenes-depth-transformer-demo --out runs/depth-transformer-800
date
