# issue 27: a depth model scored on twelve held-out 1280x832 depth maps (make-scenes seed 2026, three of each
# biome, each with its own time of day; the first four are the maps measure-depth-cfg.sh scores), N samples
# each at guidance scale S, with the colour measure and the pixel classifier, two maps at a time (one thread
# each). bash measure-depth-12.sh RUN S [N] (in the demo folder, after
# `vqtool make-scenes data/big12 --n 12 --size 1280x832 --seed 2026 --no-edges`); JSON in maps12/.
cd /work/d27/demo; . /work/venv/bin/activate
here=/work/main/docs/issue27/ship
run=$1; s=$2; n=${3:-4}
one() {
  OMP_NUM_THREADS=1 vqtool bench quality --model runs/$run/last.pt --cond depth=$1 --n $n --cfg $s --classifier $here/classifier.pt --json > $here/maps12/$run-cfg$s-$(basename $(dirname $1))-$(basename $1 .png).json
}
date
set -- data/big12/depth/*/*.png
while [ $# -gt 0 ]; do
  one $1 & [ $# -gt 1 ] && one $2 & wait; shift; shift
done
date
python $here/summarise-12.py $run $s
