# issue 27 (session 14): the shipped coarse-to-fine pair on the other three held-out maps (alpine, desert,
# forest; make-scenes data/big --n 4 --size 1280x832 --seed 2026), 4 samples each at the defaults, exact
# and fast, as the lake's measure-c2f-s13.sh; to set beside the single-stage model's docs/issue27/q4.
cd /work/d27/demo; . /work/venv/bin/activate
export OMP_NUM_THREADS=1
for m in alpine/00000 desert/00002 forest/00003; do
  b=${m%/*}; date
  vqtool bench quality --model runs/fine-transformer/last.pt --coarse runs/coarse-transformer/last.pt --cond data/big/seg/$m.png --n 4 --classifier /work/main/docs/issue27/ship/classifier.pt --save look-c2f-$b --json > c2f-$b-s14.json
done
date
