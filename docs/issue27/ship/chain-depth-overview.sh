# issue 27: the depth -> landscape model with the depth map's overview (overview = S: the whole map as
# S x S cells of its commonest depth codes, added at every position of every window), so every window
# knows what the whole scene holds. The shipped recipe otherwise (map_dropout 0.1, 2,400 steps), on the
# shipped shards-depth; S = 4 and S = 8 side by side, one thread each. Then measure-depth-cfg.sh.
cd /work/d27/demo; . /work/venv/bin/activate
date
for s in 4 8; do
  OMP_NUM_THREADS=1 vqtool train-transformer shards-depth --recipe scenes-depth-transformer-demo \
    --set overview=$s --out runs/depth-transformer-ov$s > /work/main/docs/issue27/ship/train-depth-ov$s.log 2>&1 &
done
wait
date
