# issue 27 item 2: the demo's 4x super-resolution model, the stages `vqtool demo --from-scratch` runs, by hand in its folder
cd /work/d27/demo; . /work/venv/bin/activate
date
OMP_NUM_THREADS=1 vqtool tokenize data/scenes/images --out shards-sr --vqgan runs/vqgan/last.pt --cond lowres=4 --no-auto-cond --size 576
date
OMP_NUM_THREADS=1 vqtool train-transformer shards-sr --recipe scenes-sr-transformer-demo --out runs/sr-transformer
date
