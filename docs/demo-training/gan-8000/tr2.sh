# the transformer stages of `vqtool demo --from-scratch` on the 8,000-step VQGAN, run by hand in the demo's folder layout
cd /work/demo13; export PYTHONPATH=/work/demo13/src4
. /work/main/.venv/bin/activate
set -x
date
vqtool tokenize data/scenes/images --out shards --vqgan runs/vqgan/last.pt --seg-vqgan runs/seg-vqgan/last.pt --size 576
vqtool tokenize data/scenes-class/images --out shards-class --vqgan runs/vqgan/last.pt --no-seg --size 128
date
OMP_NUM_THREADS=1 vqtool train-transformer shards --recipe scenes-transformer-demo --out runs/transformer > tr2-seg.log 2>&1 &
OMP_NUM_THREADS=1 vqtool train-transformer shards-class --recipe scenes-class-transformer-demo --out runs/class-transformer > tr2-class.log 2>&1 &
wait
date
