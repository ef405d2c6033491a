# issue 27 done-when figures on the shipped depth and super-resolution models (in the demo folder of chain-*.sh)
cd /work/d27/demo; . /work/venv/bin/activate
date
# depth -> landscape at 1280x832, 4 samples of each held-out depth map (make-scenes --n 4 --size 1280x832 --seed 2026)
for b in lake alpine desert forest; do
  m=$(ls data/big/depth/$b/*.png | head -1)
  OMP_NUM_THREADS=1 vqtool bench quality --model runs/depth-transformer/last.pt --cond depth=$m --n 4 --classifier runs/classifier-pos.pt --json > depth-$b.json
  date
done
# 4x super-resolution of 8 held-out 256² scenes (make-scenes --n 40 --size 256x256 --seed 7), biome after biome
OMP_NUM_THREADS=1 vqtool bench superres --model runs/sr-transformer/last.pt --images data/val/images --n 8 --json > sr.json
date
