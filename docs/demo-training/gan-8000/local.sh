# issue 16: the local transformer at the size and budget of the demo's seg transformer, same shards
cd /work/demo13; export PYTHONPATH=/work/demo13/src5
. /work/main/.venv/bin/activate
date
OMP_NUM_THREADS=1 vqtool train-transformer shards --recipe scenes-transformer-local-demo --out runs/local-transformer
date
