# issue 27 (session 13): the depth coarse-to-fine pair again, after the fix to sampling grids smaller than the
# window (the coarse model's 20x13 thumbnails); same commands as docs/issue27/ship/chain-depth-c2f.sh
cd /work/d27/demo; . /work/venv/bin/activate
export OMP_NUM_THREADS=1
(
date
vqtool make-scenes data/scenes-coarse --n 400 --size 1280x1024 --seed 5 --no-edges
date
vqtool tokenize data/scenes-coarse/images --out shards-coarse-depth --vqgan runs/vqgan/last.pt --cond depth=data/scenes-coarse/depth --cond-vqgan depth=runs/depth-vqgan/last.pt --no-auto-cond --size 128
date
vqtool train-transformer shards-coarse-depth --recipe scenes-coarse-depth-transformer-demo --out runs/coarse-depth-transformer
date
) > chain-coarse-depth.log 2>&1 &
(
date
vqtool tokenize data/scenes/images --out shards-fine-depth --vqgan runs/vqgan/last.pt --cond depth=data/scenes/depth --cond lowres=8 --cond-vqgan depth=runs/depth-vqgan/last.pt --no-auto-cond --size 576
date
vqtool train-transformer shards-fine-depth --recipe scenes-fine-depth-transformer-demo --out runs/fine-depth-transformer
date
) > chain-fine-depth.log 2>&1 &
wait
