# issue 13/16: the demo's stages on the 8,000-step VQGAN with the local landscape transformer; exports to export/
cd /work/demo13; export PYTHONPATH=/work/demo13/src7
. /work/main/.venv/bin/activate
date
OMP_NUM_THREADS=1 vqtool demo --from-scratch --out /work/demo13
date
