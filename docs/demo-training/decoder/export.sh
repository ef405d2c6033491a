# issue 13: re-export after ship.sh with the code that keeps the decoder_replaced record in the shipped files
cd /work/demo13; export PYTHONPATH=/work/demo13/src11
. /work/main/.venv/bin/activate
date
OMP_NUM_THREADS=1 vqtool demo --from-scratch --out /work/demo13
date
