# issue 27 item 2: the demo's depth -> landscape model, the stages `vqtool demo --from-scratch` runs, by hand in its folder
cd /work/d27/demo; . /work/venv/bin/activate
date
OMP_NUM_THREADS=1 vqtool make-scenes data/scenes-vq --n 1000 --size 256x256 --seed 0 --no-edges
OMP_NUM_THREADS=1 vqtool make-scenes data/scenes-depth --n 400 --size 640x576 --seed 0 --no-edges
mv data/scenes-depth/depth data/scenes/depth && rm -rf data/scenes-depth
OMP_NUM_THREADS=1 vqtool make-scenes data/big --n 4 --size 1280x832 --seed 2026 --no-edges
OMP_NUM_THREADS=1 vqtool make-scenes data/val --n 40 --size 256x256 --seed 7 --no-edges
date
OMP_NUM_THREADS=1 vqtool train-vqgan data/scenes-vq/depth --kind depth --recipe scenes-depth-vqgan-demo --out runs/depth-vqgan
date
OMP_NUM_THREADS=1 vqtool tokenize data/scenes/images --out shards-depth --vqgan runs/vqgan/last.pt --cond depth=data/scenes/depth --cond-vqgan depth=runs/depth-vqgan/last.pt --no-auto-cond --size 576
date
OMP_NUM_THREADS=1 vqtool train-transformer shards-depth --recipe scenes-depth-transformer-demo --out runs/depth-transformer
date
