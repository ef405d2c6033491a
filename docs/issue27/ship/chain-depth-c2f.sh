# issue 27 item 2: depth -> landscape coarse to fine (the single-stage depth model reached 46.6% label
# agreement, target 60%); the stages `vqtool demo --from-scratch` runs, by hand in its folder beside the
# shipped image and depth VQGANs (unpacked from vqtool/_demo); two chains side by side, one thread each
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
vqtool make-scenes data/scenes --n 400 --size 640x576 --seed 0 --no-edges
vqtool make-scenes data/big --n 4 --size 1280x832 --seed 2026 --no-edges
date
vqtool tokenize data/scenes/images --out shards-fine-depth --vqgan runs/vqgan/last.pt --cond depth=data/scenes/depth --cond lowres=8 --cond-vqgan depth=runs/depth-vqgan/last.pt --no-auto-cond --size 576
date
vqtool train-transformer shards-fine-depth --recipe scenes-fine-depth-transformer-demo --out runs/fine-depth-transformer
date
) > chain-fine-depth.log 2>&1 &
wait
