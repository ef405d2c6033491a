# issue 13: figures of a saved decoder checkpoint (dec/ck/TAG.pt): held-out 256² recon, 1280x832 recon
# sharpness, the lake landscape sampled (seed 0) with the local transformer given this decoder
# usage: bash dec/evalck.sh TAG
cd /work/demo13; export PYTHONPATH=/work/demo13/src9
. /work/main/.venv/bin/activate
export OMP_NUM_THREADS=1
tag=$1; s=dec/snap/$tag
vqtool eval-recon data/val/images --vqgan dec/ck/$tag.pt --size 256 --no-rfid --json > $s-val.json 2>/dev/null
vqtool eval-recon data/big/images --vqgan dec/ck/$tag.pt --size 832 --no-rfid --json > $s-big.json 2>/dev/null
vqtool replace-decoder runs/transformer/last.pt dec/ck/$tag.pt --out $s-tr.pt > /dev/null 2>&1
vqtool sample --model $s-tr.pt --cond data/big/seg/lake/00001.png --size 1280x832 --top-k 100 --seed 0 --out $s-sample > /dev/null 2>&1
vqtool bench quality --model $s-tr.pt --cond data/big/seg/lake/00001.png --sample $s-sample/*.png --json > $s-q.json 2>/dev/null
python - "$s" <<'PY'
import json, sys
s = sys.argv[1]
v, b, q = (json.load(open(f"{s}-{k}.json")) for k in ("val", "big", "q"))
print(s, "val psnr %.2f ssim %.3f sharp %.3f | big psnr %.2f sharp %.3f | land agree %.3f sharp %.3f (real recon %.3f %.3f)" % (
    v["psnr"], v["ssim"], v["sharpness"], b["psnr"], b["sharpness"], q[1]["label_agreement"], q[1]["sharpness"],
    q[0]["label_agreement"], q[0]["sharpness"]))
PY
