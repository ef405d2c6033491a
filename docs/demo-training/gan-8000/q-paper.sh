# run before ship.sh moved the runs: here runs/transformer is the paper GPT, runs/local-transformer the local model
cd /work/demo13; . /work/main/.venv/bin/activate; export PYTHONPATH=/work/demo13/src5
date
vqtool sample --model runs/transformer/last.pt --cond data/big/seg/lake/00001.png --size 1280x832 --out /work/bench16/paper-sample
date
vqtool bench quality --model runs/transformer/last.pt --cond data/big/seg/lake/00001.png --sample /work/bench16/paper-sample/00001-1280x832-s0-exact-0000.png --json > /work/bench16/quality-paper.json
vqtool bench quality --model runs/local-transformer/last.pt --cond data/big/seg/lake/00001.png --sample /work/bench16/local-sample/00001-1280x832-s0-exact-0000.png --json > /work/bench16/quality-local-sample.json
date
