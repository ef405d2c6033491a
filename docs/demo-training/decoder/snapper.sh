# keep a copy of every checkpoint the decoder runs write (last.pt is overwritten every 250 steps)
cd /work/demo13
while true; do
  for r in dw1.0 slow; do
    f=dec/runs/$r/last.pt
    [ -f $f ] || continue
    s=$(/work/main/.venv/bin/python -c "import torch,sys; print(torch.load(sys.argv[1],weights_only=True,map_location='cpu')['step'])" $f 2>/dev/null)
    [ -n "$s" ] && [ ! -f dec/ck/$r-$s.pt ] && mkdir -p dec/ck && cp $f dec/ck/$r-$s.pt
  done
  sleep 60
done
