"""Issue 27 (session 16): pack the coarse-to-fine fine model retrained with low-res dropout
(chain-fine-lowcfg-s16.sh, in the demo's folder layout) into vqtool/_demo/ as an fp16 checkpoint with its
SHA256 line (prepared, not yet run: set `lowres_dropout = 0.1` in recipes/scenes-fine-transformer-demo.toml
with it, so that `vqtool demo --from-scratch` makes what is shipped, and update the shipped-model goldens). Its record is the shipped fine model's (every shipped model's history and commands) with the
fine run's history and commands replaced by the new run's. Run from the repository root:
    python docs/issue27/ship/ship-fine-s16.py /work/d27/demo
"""

import sys
from pathlib import Path

from vqtool.app.demo_models import SHIPPED, export_demo_checkpoint, history_of
from vqtool.core.formats import TransformerCheckpoint

runs = Path(sys.argv[1]) / "runs"
here = Path(__file__).parent
record = TransformerCheckpoint.load(SHIPPED["fine-transformer"]).demo
new = [line.removeprefix("[ -f shards-fine/manifest.json ] || ")
       for name in ("chain-fine-cfg-s16.sh", "chain-fine-lowcfg-s16.sh")
       for line in (here / name).read_text().splitlines() if "vqtool tokenize" in line or "fine-lowcfg" in line]
old = [c for c in record["commands"] if "shards-fine " in c + " " or "runs/fine-transformer" in c]
commands = [c for c in record["commands"] if c not in old] + [c.replace("runs/fine-lowcfg-transformer",
                                                                        "runs/fine-transformer") for c in new]
history = record["history"] | {"fine-transformer": history_of(runs / "fine-lowcfg-transformer")}
print(SHIPPED["fine-transformer"], export_demo_checkpoint(runs / "fine-lowcfg-transformer" / "last.pt",
                                                         SHIPPED["fine-transformer"], history, commands))
