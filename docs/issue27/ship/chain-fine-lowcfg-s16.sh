# issue 27 (session 16): the shipped fine model's recipe and encoding (lowres=8:blocks) trained with low-res
# dropout (one window in ten sees the null thumbnail, its label map kept), so that --cfg guides the fine stage
# towards its thumbnail alone: the coarse model's light into the water, the map as the unguided pass has it.
# In the demo folder, two threads; shards-fine as chain-fine-cfg-s16.sh made them
cd /work/d27/demo; . /work/venv/bin/activate
export OMP_NUM_THREADS=2
date
vqtool train-transformer shards-fine --recipe scenes-fine-transformer-demo --set lowres_dropout=0.1 --out runs/fine-lowcfg-transformer
date
