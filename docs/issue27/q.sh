# issue 26 item 6 / 27: one sample each at 1280x832 of the held-out lake map: shipped (before), condition blocks (after), coarse to fine
cd /work/i26b; . /work/venv/bin/activate
L=data/big/seg/lake/00001.png
OMP_NUM_THREADS=1 vqtool bench quality --model /work/meas/runs/transformer/last.pt --cond $L --n 1 --json > q-shipped.json
OMP_NUM_THREADS=1 vqtool bench quality --model runs/local-cond2/last.pt --cond $L --n 1 --json > q-cond2.json
OMP_NUM_THREADS=1 vqtool bench quality --model runs/fine/last.pt --coarse runs/coarse/last.pt --cond $L --n 1 --json > q-c2f.json
