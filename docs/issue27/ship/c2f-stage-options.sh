cd /work/d27/demo/s14; . /work/venv/bin/activate; export OMP_NUM_THREADS=1
date; python c2f-stage-options.py $1 $2 4 ${@:3}; date
