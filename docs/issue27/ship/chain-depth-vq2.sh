# issue 27: depth VQGANs trained on the depth model's own 400 scenes (640x576 maps) instead of the 1,000
# 256² ones: the 256² one reconstructs the 640x576 maps with 2.5x its error on 256² maps (0.054 vs 0.022
# mean absolute error) and 1280x832 ones worse (0.069). A: the recipe as it is; B: 1024 codes. One thread each.
cd /work/d27/demo; . /work/venv/bin/activate
date
OMP_NUM_THREADS=1 vqtool train-vqgan data/scenes/depth --kind depth --recipe scenes-depth-vqgan-demo --out runs/depth-vqgan-A > depth-vqgan-A.log 2>&1 &
OMP_NUM_THREADS=1 vqtool train-vqgan data/scenes/depth --kind depth --recipe scenes-depth-vqgan-demo --set model.quantizer.n_embed=1024 --out runs/depth-vqgan-B > depth-vqgan-B.log 2>&1 &
wait
date
