# issue 26 item 6: the shipped landscape model's recipe and data, with two condition blocks (non-causal)
cd /work/i26b; . /work/venv/bin/activate
while ! grep -q "^Wed.*" <(tail -1 prep.log) || [ ! -f shards/manifest.json ]; do sleep 20; done
date
OMP_NUM_THREADS=1 vqtool train-transformer shards --recipe scenes-transformer-local-demo --set gpt.cond_layers=2 --out runs/local-cond2
date
