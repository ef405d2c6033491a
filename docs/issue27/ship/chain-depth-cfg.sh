# issue 27: the depth -> landscape model trained with map dropout (map_dropout = 0.1: one training window
# in ten sees the null map, the local model's id of no token at every position), so that sampling can
# guide it towards its depth map (--cfg S: logits u + S (c - u), u the prediction with the null map).
# The recipe otherwise as shipped (2,400 steps), on the shipped shards-depth (chain-depth-long.sh),
# two threads. Then measured as the shipped model (measure-depth-cfg.sh).
cd /work/d27/demo; . /work/venv/bin/activate
date
OMP_NUM_THREADS=2 vqtool train-transformer shards-depth --recipe scenes-depth-transformer-demo --set map_dropout=0.1 --out runs/depth-transformer-cfg
date
