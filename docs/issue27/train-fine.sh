# issue 27 item 1: the fine model (the local model with two condition blocks, seg + lowres=8) on the landscape
# scenes: the single-stage model's data, recipe and steps (started beside the coarse model's training)
cd /work/i26b; . /work/venv/bin/activate
date
OMP_NUM_THREADS=1 vqtool train-transformer shards-c2f --recipe scenes-transformer-local-demo --set gpt.cond_layers=2 --out runs/fine
date
