# issue 27 item 3: the pixel classifier for bench quality --classifier, trained on the demo's training scenes
# with the height channel (the first, runs/classifier.pt, had none: the lake sky IoU 0.06)
# (make-scenes seed 0; the held-out maps it scores are seed 2026)
cd /work/d27/demo; . /work/venv/bin/activate
date
OMP_NUM_THREADS=1 nice vqtool bench classifier data/scenes --out runs/classifier-pos.pt --steps 3000
date
