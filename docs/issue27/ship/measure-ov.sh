# issue 27: the overview models (chain-depth-overview.sh) scored as the shipped depth model, at --cfg 4,
# 2 samples of each held-out map (time was short): measure-depth-cfg.sh RUN 4 2, both models at once.
cd /work/main
bash docs/issue27/ship/measure-depth-cfg.sh depth-transformer-ov4 4 2 &
bash docs/issue27/ship/measure-depth-cfg.sh depth-transformer-ov8 4 2 &
wait
