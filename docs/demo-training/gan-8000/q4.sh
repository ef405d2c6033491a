# issue 13: 4 samples (seed 0, batch of 4) of the lake map at 1280x832: the new demo landscape model (local) and the
# previously shipped one (paper GPT, step-5,000 VQGAN), exact and fast
cd /work/demo13; export PYTHONPATH=/work/demo13/src7
. /work/main/.venv/bin/activate
date
OMP_NUM_THREADS=1 vqtool bench quality --model runs/transformer/last.pt --cond data/big/seg/lake/00001.png --size 1280x832 --n 4 --json > q4-local.json
date
OMP_NUM_THREADS=1 vqtool bench quality --model oldship/runs/transformer/last.pt --cond data/big/seg/lake/00001.png --size 1280x832 --n 4 --json > q4-oldship.json
date
