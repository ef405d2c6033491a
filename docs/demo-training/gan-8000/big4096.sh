# issue 16: the paper GPT (random, scenes-transformer-tiny size) at 4096x4096, exact and fast, one thread
cd /work/demo13; export PYTHONPATH=/work/demo13/src6
. /work/main/.venv/bin/activate
date
OMP_NUM_THREADS=1 /usr/bin/time -v vqtool bench sample --size 4096x4096 --modes fast
date
OMP_NUM_THREADS=1 /usr/bin/time -v vqtool bench sample --size 4096x4096 --modes exact
date
