# issue 27 (session 15): the fine segmentation model of the coarse-to-fine pair again, on the upscaled
# low-res codes that `vqtool demo --from-scratch` now makes (the shipped one, made before, read the repeated
# codes); the same commands as chain-c2f.sh's fine chain, in the demo folder, two threads
cd /work/d27/demo; . /work/venv/bin/activate
export OMP_NUM_THREADS=2
date
vqtool tokenize data/scenes/images --out shards-fine-up --vqgan runs/vqgan/last.pt --cond seg=data/scenes/seg --cond lowres=8 --cond-vqgan seg=runs/seg-vqgan/last.pt --no-auto-cond --size 576
date
vqtool train-transformer shards-fine-up --recipe scenes-fine-transformer-demo --out runs/fine-up-transformer
date
