"""Issue 27: pack the demo's super-resolution model retrained on the upscaled low-res codes
(chain-sr-up.sh, in the demo's folder layout) into vqtool/_demo/ as an fp16 checkpoint with its SHA256
line. Its record is the coarse-to-fine model's (every shipped model's history and commands) with the
super-resolution run's history and commands replaced by the new run's. Run from the repository root:
    python docs/issue27/ship/ship-sr.py /work/d27/demo
"""

import sys
from pathlib import Path

from vqtool.app.demo_models import SHIPPED, export_demo_checkpoint, history_of
from vqtool.core.formats import TransformerCheckpoint

runs = Path(sys.argv[1]) / "runs"
record = TransformerCheckpoint.load(SHIPPED["fine-transformer"]).demo
chain = (Path(__file__).parent / "chain-sr-up.sh").read_text().splitlines()
new = [line.removeprefix("OMP_NUM_THREADS=1 ") for line in chain if line.startswith("OMP_NUM_THREADS=1 vqtool")]
old = [c for c in record["commands"] if "shards-sr " in c + " " or "runs/sr-transformer" in c]
commands = [c for c in record["commands"] if c not in old] + new
history = record["history"] | {"sr-transformer": history_of(runs / "sr-up-transformer")}
print(SHIPPED["sr-transformer"], export_demo_checkpoint(runs / "sr-up-transformer" / "last.pt",
                                                       SHIPPED["sr-transformer"], history, commands))
