# issue 27 item 3: the shipped segmentation landscape model on the held-out lake map, 4 samples, with the
# per-class IoU of the height-aware pixel classifier (clf.sh) beside the colour-based label agreement
cd /work/d27/demo; . /work/venv/bin/activate
date
OMP_NUM_THREADS=1 vqtool bench quality --model runs/transformer/last.pt --cond data/big/seg/lake/00001.png --n 4 --classifier runs/classifier-pos.pt --json > seg-lake-pos.json
date
