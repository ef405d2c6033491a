# issue 27 (session 13): the shipped coarse-to-fine pair on the held-out lake map, after the fix to grids
# smaller than the window (the 20x13-token thumbnail); as docs/issue27/ship/measure-c2f.sh, with --save
cd /work/d27/demo; . /work/venv/bin/activate
export OMP_NUM_THREADS=1
date
vqtool bench quality --model runs/fine-transformer/last.pt --coarse runs/coarse-transformer/last.pt --cond data/big/seg/lake/00001.png --n 4 --classifier /work/main/docs/issue27/ship/classifier.pt --save look-c2f-s13 --json > c2f-lake-s13.json
date
