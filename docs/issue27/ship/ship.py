"""Issue 27 item 2: pack the demo's depth and super-resolution models (trained by chain-depth.sh and
chain-sr.sh in the demo's folder layout, the stages `vqtool demo --from-scratch` runs) into
vqtool/_demo/ as fp16 checkpoints with their SHA256 lines. Each carries the training history of
every demo model and the commands that made them: those of the shipped models (from the landscape
model's own record) and the new stages'. Run from the repository root:
    python docs/issue27/ship/ship.py /work/d27/demo
"""

import sys
from pathlib import Path

from vqtool.app.demo_models import SHIPPED, export_demo_checkpoint, history_of
from vqtool.core.formats import TransformerCheckpoint

demo = Path(sys.argv[1])
old = TransformerCheckpoint.load(SHIPPED["transformer"]).demo
new = ("depth-vqgan", "depth-transformer", "sr-transformer")
history = {**old["history"], **{k: history_of(demo / "runs" / k) for k in new}}
commands = old["commands"] + [line.strip().removeprefix("OMP_NUM_THREADS=1 ") for script in ("chain-depth.sh", "chain-sr.sh")
                              for line in (Path(__file__).parent / script).read_text().splitlines()
                              if line.startswith("OMP_NUM_THREADS=1 vqtool")]
for name in ("depth-transformer", "sr-transformer"):
    digest = export_demo_checkpoint(demo / "runs" / name / "last.pt", SHIPPED[name], history, commands)
    print(SHIPPED[name], digest)
