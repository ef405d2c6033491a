# issue 13: `vqtool demo --from-scratch` end to end on a fresh folder, to measure its tolerance against the
# shipped models (rerun this script to continue it after an interruption: stages resume)
cd /work/fs13; export PYTHONPATH=/work/demo13/src9
. /work/main/.venv/bin/activate
date
OMP_NUM_THREADS=1 vqtool demo --from-scratch --out /work/fs13/demo
date
