# issue 13: ship the decoder fine-tune. The base run becomes runs/vqgan-base, the decoder run runs/vqgan
# (what `vqtool demo --from-scratch` now makes); the transformers, trained on the base's codes (which are
# the decoder run's codes, bit for bit), get the new decoder with `vqtool replace-decoder` (it refuses a
# VQGAN that tokenizes differently) instead of being retrained on identical shards. Then the demo's
# stages reuse the runs, sample, evaluate and export to export/.
# usage: bash dec/ship.sh DECODER_RUN
set -e
cd /work/demo13; export PYTHONPATH=/work/demo13/src10
. /work/main/.venv/bin/activate
export OMP_NUM_THREADS=1
date
[ -d runs-before-decoder ] || cp -r runs runs-before-decoder
[ -d runs/vqgan-base ] || mv runs/vqgan runs/vqgan-base
rm -rf runs/vqgan && cp -r $1 runs/vqgan
for t in transformer class-transformer; do
  vqtool replace-decoder runs/$t/last.pt runs/vqgan/last.pt --out runs/$t/replaced.pt
  mv runs/$t/replaced.pt runs/$t/last.pt
done
rm -rf samples recon metrics.json report.html export history.json
vqtool demo --from-scratch --out /work/demo13
date
