# issue 27 item 2: the depth -> landscape pair of chain-depth-c2f.sh on each held-out depth map
# (make-scenes data/big --n 4 --size 1280x832 --seed 2026), 4 samples each, beside the single-stage depth
# model's figures (depth-{lake,alpine,desert,forest}.json, the same command without --coarse)
cd /work/d27/demo; . /work/venv/bin/activate
C=/work/main/docs/issue27/ship/classifier.pt
date
for b in lake alpine desert forest; do
  m=$(ls data/big/depth/$b/*.png | head -1)
  OMP_NUM_THREADS=2 vqtool bench quality --model runs/fine-depth-transformer/last.pt --coarse runs/coarse-depth-transformer/last.pt --cond depth=$m --n 4 --classifier $C --json > depth-c2f-$b.json
  date
done
