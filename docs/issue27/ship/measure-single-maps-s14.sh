# issue 27 (session 14): the shipped single-stage landscape model on the four held-out maps with the
# classifier, 4 samples each (as docs/issue27/q4/q4.sh, which had no classifier then), to set beside
# measure-c2f-maps-s14.sh. Two maps per call: bash measure-single-maps-s14.sh lake/00001 alpine/00000
cd /work/d27/demo; . /work/venv/bin/activate
export OMP_NUM_THREADS=1
for m in "$@"; do
  b=${m%/*}; date
  vqtool bench quality --model runs/transformer/last.pt --cond data/big/seg/$m.png --n 4 --classifier /work/main/docs/issue27/ship/classifier.pt --json > single-$b-s14.json
done
date
