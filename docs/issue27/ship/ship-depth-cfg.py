"""Issue 27: pack the demo's depth model retrained with map dropout (chain-depth-cfg.sh, in the demo's
folder layout) into vqtool/_demo/ as an fp16 checkpoint with its SHA256 line. Its record is the
super-resolution model's (every shipped model's history and commands, the latest packed) with the depth
run's history and training command replaced by the new run's. Run from the repository root:
    python docs/issue27/ship/ship-depth-cfg.py /work/d27/demo
"""

import sys
from pathlib import Path

from vqtool.app.demo_models import SHIPPED, export_demo_checkpoint, history_of
from vqtool.core.formats import TransformerCheckpoint

runs = Path(sys.argv[1]) / "runs"
record = TransformerCheckpoint.load(SHIPPED["sr-transformer"]).demo
chain = (Path(__file__).parent / "chain-depth-cfg.sh").read_text().splitlines()
new = [line.removeprefix("OMP_NUM_THREADS=2 ") for line in chain if line.startswith("OMP_NUM_THREADS=2 vqtool")]
old = [c for c in record["commands"] if "--out runs/depth-transformer" in c]
assert len(old) == 1 and len(new) == 1, (old, new)
commands = [new[0] if c in old else c for c in record["commands"]]
history = record["history"] | {"depth-transformer": history_of(runs / "depth-transformer-cfg")}
print(SHIPPED["depth-transformer"], export_demo_checkpoint(runs / "depth-transformer-cfg" / "last.pt",
                                                          SHIPPED["depth-transformer"], history, commands))
