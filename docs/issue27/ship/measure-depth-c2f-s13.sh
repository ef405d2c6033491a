# issue 27 (session 13): the depth coarse-to-fine pair (chain-depth-c2f-s13.sh) on the four held-out depth maps,
# 2 samples of each map in each mode, unguided; two maps at a time, one thread each
cd /work/d27/demo; . /work/venv/bin/activate
export OMP_NUM_THREADS=1
date
run() { for b in "$@"; do m=$(ls data/big/depth/$b/*.png | head -1)
  vqtool bench quality --model runs/fine-depth-transformer/last.pt --coarse runs/coarse-depth-transformer/last.pt --cond depth=$m --n 2 --classifier /work/main/docs/issue27/ship/classifier.pt --save look-dc2f-$b --json > depth-c2f-s13-$b.json; echo $b; date; done; }
run lake alpine &
run desert forest &
wait
