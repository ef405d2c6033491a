# issue 13: the from-scratch demo's class stages (tokenize classes, class-transformer) run beside its seg
# transformer once the image VQGAN is done, with the commands the demo records (the demo then reuses them)
cd /work/fs13; export PYTHONPATH=/work/demo13/src9
. /work/main/.venv/bin/activate
while [ ! -f /work/fs13/demo/shards/manifest.json ]; do sleep 30; done
date
D=/work/fs13/demo
OMP_NUM_THREADS=1 vqtool tokenize $D/data/scenes-class/images --out $D/shards-class --vqgan $D/runs/vqgan/last.pt --no-seg --size 128
OMP_NUM_THREADS=1 vqtool train-transformer $D/shards-class --recipe scenes-class-transformer-demo --out $D/runs/class-transformer
date
