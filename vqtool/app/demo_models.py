"""The demo's shipped checkpoints (vqtool/_demo/): checksums, export from a from-scratch run
(fp16, with the history and commands that made them), and unpacking into ordinary run folders."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import torch

from vqtool.core.io import checkpoint as ck
from vqtool.core.errors import VqtoolError
from vqtool.core.formats import TransformerCheckpoint
from vqtool.core.io.weights import sha256_of
from vqtool.core.tokenizer.inputs import input_of

SHIPPED_DIR = Path(__file__).parents[1] / "_demo"
SHIPPED = {"transformer": SHIPPED_DIR / "scenes-demo.pt", "depth-transformer": SHIPPED_DIR / "scenes-depth-demo.pt",
           "sr-transformer": SHIPPED_DIR / "scenes-sr-demo.pt", "coarse-transformer": SHIPPED_DIR / "scenes-coarse-demo.pt",
           "fine-transformer": SHIPPED_DIR / "scenes-fine-demo.pt", "class-transformer": SHIPPED_DIR / "scenes-class-demo.pt"}


def shipped_checkpoint(name: str = "transformer") -> Path:
    path, sums = SHIPPED[name], SHIPPED_DIR / "SHA256"
    want = dict(reversed(line.split()) for line in sums.read_text().splitlines() if line.strip()) \
        if sums.is_file() else {}
    if not path.is_file() or path.name not in want:
        raise VqtoolError("the demo checkpoints are not installed; run `vqtool demo --from-scratch`")
    if sha256_of(path) != want[path.name]:
        raise VqtoolError(f"{path} does not match its sha256; reinstall vqtool or use --from-scratch")
    return path


def export_demo_checkpoint(transformer: Path, out: Path, history: dict, commands: list[str]) -> str:
    """Shrink a trained demo transformer (with its VQGANs) to fp16 weights and record its story;
    adds or replaces its line in ``SHA256`` beside it."""
    c = TransformerCheckpoint.load(transformer)
    slim = replace(c.map_weights(torch.Tensor.half), train_state=None,
                   demo={"history": history, "commands": commands, "made_by": "vqtool demo --from-scratch"})
    out = Path(out)
    slim.save(out)
    digest = sha256_of(out)
    sums = out.parent / "SHA256"
    lines = [ln for ln in (sums.read_text().splitlines() if sums.is_file() else []) if not ln.endswith(f"  {out.name}")]
    sums.write_text("".join(f"{ln}\n" for ln in lines + [f"{digest}  {out.name}"]))
    return digest


def unpack(runs: Path) -> dict:
    """Write the shipped models as ordinary vqtool checkpoints (fp32) under runs/; their history.
    Their VQGANs become runs/vqgan and the cond-stage run folders (runs/seg-vqgan, runs/depth-vqgan);
    every bundle holds the same image VQGAN."""
    history, own, written = {}, {}, set()
    for name, path in SHIPPED.items():
        c = TransformerCheckpoint.load(shipped_checkpoint(name))
        record = (c.demo or {}).get("history", {})
        history.update(record)
        if name in record:  # a model's own file has the last word on its run (one may be retrained later)
            own[name] = record[name]
        t = replace(c.map_weights(torch.Tensor.float), demo=None)
        t.save(runs / name / "last.pt")
        for encodes, stage in (("image", t.first_stage), *t.stages.items()):
            if encodes in written:
                continue
            written.add(encodes)
            inp = input_of(encodes)
            ck.save_checkpoint(runs / Path(inp.run).name / "last.pt", {
                "format": ck.VQGAN, "encodes": encodes,
                "config": {"kind": inp.recipe_kind, "model": stage.config, "data": {"size": 128, "resize": 0}},
                "model": stage.model, "step": 0, "data": stage.data})
    return history | own


def history_of(run: Path) -> list[dict]:
    p = run / "metrics.jsonl"
    return [json.loads(line) for line in p.read_text().splitlines()] if p.is_file() else []


def export_all(runs: Path, out: Path, history: dict, commands: list[str]) -> list[str]:
    """From scratch, the demo writes its own shippable checkpoints (what vqtool/_demo/ holds) into ``out``."""
    files = []
    for name, path in SHIPPED.items():
        export_demo_checkpoint(runs / name / "last.pt", out / path.name, history, commands)
        files.append(str(out / path.name))
    return files
