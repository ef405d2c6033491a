# issue 27 (session 16): the shipped fine model's recipe and encoding (lowres=8:blocks) trained with map
# dropout, which since this session drops the thumbnail with the label map, so that --cfg can guide the fine
# stage towards both (the coarse model's light into the water); in the demo folder, two threads
cd /work/d27/demo; . /work/venv/bin/activate
export OMP_NUM_THREADS=2
date
[ -f shards-fine/manifest.json ] || vqtool tokenize data/scenes/images --out shards-fine --vqgan runs/vqgan/last.pt --cond seg=data/scenes/seg --cond lowres=8:blocks --cond-vqgan seg=runs/seg-vqgan/last.pt --no-auto-cond --size 576
date
vqtool train-transformer shards-fine --recipe scenes-fine-transformer-demo --set map_dropout=0.1 --out runs/fine-cfg-transformer
date
