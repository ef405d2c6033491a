# issue 27 (session 13): the shipped coarse-to-fine pair on the lake map at two other sampling settings
# (both stages), 4 samples each, to see whether the sky's streaks of mountain codes go; one thread
cd /work/d27/demo; . /work/venv/bin/activate
export OMP_NUM_THREADS=1
for o in "--top-k 20" "--temperature 0.8"; do
  t=$(echo $o | tr -d ' -'); date
  vqtool bench quality --model runs/fine-transformer/last.pt --coarse runs/coarse-transformer/last.pt --cond data/big/seg/lake/00001.png --n 4 --classifier /work/main/docs/issue27/ship/classifier.pt $o --save look-c2f-$t --json > c2f-lake-s13-$t.json
done
date
