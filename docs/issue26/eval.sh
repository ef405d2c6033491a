#!/bin/bash
# Issue 26 measurements, after train.sh: depth-conditioned 1280x832 samples against the scenes' label maps,
# 4x super-resolution of held-out 256x256 scenes against bicubic upscaling and the VQGAN's reconstruction.
set -ex
. /work/venv/bin/activate
cd /work/meas
date
vqtool make-scenes data/test --n 4 --size 1280x832 --seed 7 --no-edges
vqtool eval-recon data/test/depth --vqgan runs/depth-vqgan-f8/last.pt --size 256 --json --device cpu > depth-vqgan-eval-heldout.json
vqtool make-scenes data/srtest --n 16 --size 256x256 --seed 11 --no-depth --no-edges
for f in $(ls data/test/depth/*/*.png | head -2); do
  vqtool bench quality --model runs/depth-transformer/last.pt --cond depth=$f --size 1280x832 --n 1 --json --device cpu > quality-$(basename $(dirname $f))-$(basename $f .png).json
done
vqtool bench superres --model runs/sr-transformer/last.pt --images data/srtest/images --n 16 --json --device cpu > superres.json
f=$(ls data/test/depth/*/*.png | head -1)
vqtool sample --model runs/depth-transformer/last.pt --cond depth=$f --out look/depth --device cpu
python -c "
from PIL import Image; from vqtool.core.conditioning.lowres import downscale; from vqtool.data import images as imgs
im = imgs.load_rgb('$(ls data/srtest/images/*/*.png | head -1)'); imgs.to_image(downscale(imgs.to_tensor(im)[None], 4)[0]).save('look/small.png')"
vqtool sample --model runs/sr-transformer/last.pt --cond lowres=look/small.png --out look/sr --device cpu --n 2
date
