# issue 27 item 1: the shipped coarse-to-fine pair (chain-c2f.sh) on the held-out lake map, 4 samples in each
# mode (exact and fast: the coarse stage is the paper's GPT and slides), beside the single-stage shipped model's
# figures of measure-seg.sh; then one sample of each other held-out map (make-scenes --n 4 --size 1280x832 --seed 2026)
cd /work/d27/demo; . /work/venv/bin/activate
C=docs/issue27/ship/classifier.pt
cp /work/main/$C classifier.pt
date
OMP_NUM_THREADS=2 vqtool bench quality --model runs/fine-transformer/last.pt --coarse runs/coarse-transformer/last.pt --cond data/big/seg/lake/00001.png --n 4 --classifier classifier.pt --json > c2f-lake.json
date
for b in alpine desert forest; do
  m=$(ls data/big/seg/$b/*.png | head -1)
  OMP_NUM_THREADS=2 vqtool bench quality --model runs/fine-transformer/last.pt --coarse runs/coarse-transformer/last.pt --cond $m --n 1 --classifier classifier.pt --json > c2f-$b.json
  date
done
