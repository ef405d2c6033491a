# issue 27 (session 14): c2f-stage-options.py on one thread in a work folder (/work/d27/demo/s14); ran as
# bash c2f-stage-options.sh 1.0 1.0, 0.8 1.0, 1.0 0.9, "1.0 1.0 top_p=0.9", "1.0 1.0 top_p=0.95" (log c2f-stage-options.log)
cd /work/d27/demo/s14; . /work/venv/bin/activate; export OMP_NUM_THREADS=1
date; python /work/main/docs/issue27/ship/c2f-stage-options.py $1 $2 4 ${@:3}; date
