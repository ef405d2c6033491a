#!/bin/bash
# Issue 26 measurements: a depth-conditional and a 4x super-resolution model on the scenes, small recipes.
# The image VQGAN is the shipped demo's (unpacked to runs/vqgan); the depth VQGAN is trained here.
set -ex
. /work/venv/bin/activate
cd /work/meas
date
[ -f runs/vqgan/last.pt ] || python -c "from pathlib import Path; from vqtool.app.demo_models import unpack; unpack(Path('runs'))"
[ -d data/train ] || vqtool make-scenes data/train --n 400 --size 512x384 --seed 0 --no-edges
# the shipped demo's image VQGAN is f8: the depth VQGAN must share its grid (the tiny recipe is f16)
vqtool train-vqgan data/train/depth --kind depth --recipe scenes-depth-vqgan-tiny --set 'model.ch_mult=[1,1,2,4]' --out runs/depth-vqgan-f8 --device cpu
vqtool eval-recon data/train/depth --vqgan runs/depth-vqgan-f8/last.pt --n 64 --size 256 --json --device cpu > depth-vqgan-eval.json
vqtool tokenize data/train/images --out shards-depth --vqgan runs/vqgan/last.pt --cond depth=data/train/depth --cond-vqgan depth=runs/depth-vqgan-f8/last.pt --no-auto-cond --flip --device cpu
vqtool tokenize data/train/images --out shards-sr --vqgan runs/vqgan/last.pt --cond lowres=4 --no-auto-cond --flip --device cpu
vqtool train-transformer shards-depth --recipe scenes-transformer-tiny --out runs/depth-transformer --device cpu
vqtool train-transformer shards-sr --recipe scenes-transformer-tiny --out runs/sr-transformer --device cpu
date
