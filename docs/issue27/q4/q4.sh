# issue 26 item 6 before/after over 4 samples on each held-out 1280x832 map (make-scenes --n 4 --size 1280x832 --seed 2026)
cd /work/i26b; . /work/venv/bin/activate
date
for L in data/big/seg/*/*.png; do
  b=$(basename $(dirname $L))
  OMP_NUM_THREADS=1 vqtool bench quality --model /work/meas/runs/transformer/last.pt --cond $L --n 4 --json > q4-shipped-$b.json
  OMP_NUM_THREADS=1 vqtool bench quality --model runs/local-cond2/last.pt --cond $L --n 4 --json > q4-cond2-$b.json
  date
done
