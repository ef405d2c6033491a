# issue 27: the depth -> landscape model trained twice as long. Its codes are not the limit
# (depth-code-lookup.py: a depth code alone, looked up in a table of the training scenes, labels 71.1% of
# the held-out maps' pixels right; the model reaches 46.6%) and its validation loss was still falling at
# 2,400 steps. Tokenized with the shipped image and depth VQGANs (runs/ unpacked from vqtool/_demo);
# then two runs side by side, one thread each: the recipe at 4,800 steps, and the same at lr 2e-3 (stopped as it
# started, 2026-12-07, to give its thread to chain-depth-data.sh's 800 scenes; its log is not kept).
cd /work/d27/demo; . /work/venv/bin/activate
date
OMP_NUM_THREADS=2 vqtool tokenize data/scenes/images --out shards-depth --vqgan runs/vqgan/last.pt --cond depth=data/scenes/depth --cond-vqgan depth=runs/depth-vqgan/last.pt --no-auto-cond --size 576
date
OMP_NUM_THREADS=1 vqtool train-transformer shards-depth --recipe scenes-depth-transformer-demo --set train.max_steps=4800 --out runs/depth-transformer-4800 > depth-4800.log 2>&1 &
OMP_NUM_THREADS=1 vqtool train-transformer shards-depth --recipe scenes-depth-transformer-demo --set train.max_steps=4800 --set optim.lr=2e-3 --out runs/depth-transformer-4800-lr2 > depth-4800-lr2.log 2>&1 &
wait
date
