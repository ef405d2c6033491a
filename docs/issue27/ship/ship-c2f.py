"""Issue 27 items 1-2: pack the demo's coarse-to-fine pair (trained by chain-c2f.sh in the demo's folder
layout) into vqtool/_demo/ as fp16 checkpoints with their SHA256 lines. The record each file carries is
the depth model's (every shipped model's history and commands, ship.py) plus the two new runs' histories
and the chain's commands. Run from the repository root:
    python docs/issue27/ship/ship-c2f.py /work/d27/demo
"""

import sys
from pathlib import Path

from vqtool.app.demo_models import SHIPPED, export_demo_checkpoint, history_of
from vqtool.core.formats import TransformerCheckpoint

runs = Path(sys.argv[1]) / "runs"
record = TransformerCheckpoint.load(SHIPPED["depth-transformer"]).demo
pair = ("coarse-transformer", "fine-transformer")
chain = (Path(__file__).parent / "chain-c2f.sh").read_text().splitlines()
history = record["history"] | {name: history_of(runs / name) for name in pair}
commands = record["commands"] + [line for line in chain if line.startswith("vqtool ")]
for name in pair:
    print(SHIPPED[name], export_demo_checkpoint(runs / name / "last.pt", SHIPPED[name], history, commands))
