# issue 27 item 1: the coarse model (the paper's GPT on the 8x smaller scenes) and the fine model (the local
# model with two condition blocks, seg + lowres=8, on the landscape scenes: the single-stage model's data and steps)
cd /work/i26b; . /work/venv/bin/activate
while [ ! -f shards-coarse/manifest.json ]; do sleep 30; done
date
OMP_NUM_THREADS=1 vqtool train-transformer shards-coarse --recipe scenes-transformer-demo --out runs/coarse
date
while [ ! -f shards-c2f/manifest.json ]; do sleep 30; done
OMP_NUM_THREADS=1 vqtool train-transformer shards-c2f --recipe scenes-transformer-local-demo --set gpt.cond_layers=2 --out runs/fine
date
