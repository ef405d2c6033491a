# issue 27 (session 15): the coarse-to-fine pair with the fine model retrained on the upscaled low-res codes
# (chain-fine-up-s15.sh), the same command as the shipped pair's measurements: lake seeds 0, 1, 2
# (measure-c2f-s14-default.sh) and the other three maps at seed 0 (measure-c2f-maps-s14.sh), 4 samples each,
# exact and fast. Demo folder, one thread; `measure-c2f-up-s15.sh A` and `... B` run the two halves.
cd /work/d27/demo; . /work/venv/bin/activate
export OMP_NUM_THREADS=1
q() {  # map seed name
  date
  vqtool bench quality --model runs/fine-up-transformer/last.pt --coarse runs/coarse-transformer/last.pt --cond data/big/seg/$1.png --n 4 --classifier /work/main/docs/issue27/ship/classifier.pt --seed $2 --save s15/look-$3 --json > s15/c2f-up-$3.json
}
if [ "$1" = A ]; then q lake/00001 0 lake-seed0; q lake/00001 1 lake-seed1; q alpine/00000 0 alpine; fi
if [ "$1" = B ]; then q lake/00001 2 lake-seed2; q desert/00002 0 desert; q forest/00003 0 forest; fi
date
