"""The demo's shipped checkpoints (vqtool/_demo/): checksums, export from a from-scratch run
(fp16, with the history and commands that made them), and unpacking into ordinary run folders."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from vqtool.core import checkpoint as ck
from vqtool.core.errors import VqtoolError
from vqtool.core.weights import sha256_of

SHIPPED_DIR = Path(__file__).parents[1] / "_demo"
SHIPPED = {"transformer": SHIPPED_DIR / "scenes-demo.pt", "class-transformer": SHIPPED_DIR / "scenes-class-demo.pt"}


def shipped_checkpoint(name: str = "transformer") -> Path:
    path, sums = SHIPPED[name], SHIPPED_DIR / "SHA256"
    want = dict(reversed(line.split()) for line in sums.read_text().splitlines() if line.strip()) \
        if sums.is_file() else {}
    if not path.is_file() or path.name not in want:
        raise VqtoolError("the demo checkpoints are not installed; run `vqtool demo --from-scratch`")
    if sha256_of(path) != want[path.name]:
        raise VqtoolError(f"{path} does not match its sha256; reinstall vqtool or use --from-scratch")
    return path


def _map_weights(sd: dict, fn) -> dict:
    return {k: (fn(v) if v.is_floating_point() else v) for k, v in sd.items()}


def _convert(c: dict, fn) -> dict:
    """A transformer checkpoint (with its stages) with every float tensor passed through ``fn``."""
    out = {**c, "model": _map_weights(c["model"], fn)}
    for stage in ("first_stage", "cond_stage"):
        if c.get(stage):
            out[stage] = {**c[stage], "model": _map_weights(c[stage]["model"], fn)}
    return out


def export_demo_checkpoint(transformer: Path, out: Path, history: dict, commands: list[str]) -> str:
    """Shrink a trained demo transformer (with its VQGANs) to fp16 weights and record its story;
    adds or replaces its line in ``SHA256`` beside it."""
    c = ck.load_checkpoint(transformer, ck.TRANSFORMER)
    keep = ("format", "config", "step", "cond", "manifest", "metrics", "provenance", "model", "first_stage",
            "cond_stage", "decoder_replaced")
    slim = _convert({k: c[k] for k in keep if k in c}, torch.Tensor.half)
    slim["demo"] = {"history": history, "commands": commands, "made_by": "vqtool demo --from-scratch"}
    out = Path(out)
    ck.save_checkpoint(out, slim)
    digest = sha256_of(out)
    sums = out.parent / "SHA256"
    lines = [ln for ln in (sums.read_text().splitlines() if sums.is_file() else []) if not ln.endswith(f"  {out.name}")]
    sums.write_text("".join(f"{ln}\n" for ln in lines + [f"{digest}  {out.name}"]))
    return digest


def unpack(runs: Path) -> dict:
    """Write the shipped models as ordinary vqtool checkpoints (fp32) under runs/; their history."""
    history = {}
    for name, path in SHIPPED.items():
        c = ck.load_checkpoint(shipped_checkpoint(name), ck.TRANSFORMER)
        t = _convert({k: v for k, v in c.items() if k not in ("demo", "_path")}, torch.Tensor.float)
        ck.save_checkpoint(runs / name / "last.pt", t)
        history.update((c.get("demo") or {}).get("history", {}))
        if name != "transformer":
            continue
        for stage, fmt, kind, run in (("first_stage", ck.VQGAN, "vqgan", "vqgan"),
                                      ("cond_stage", ck.SEG_VQGAN, "seg-vqgan", "seg-vqgan")):
            s = t[stage]
            ck.save_checkpoint(runs / run / "last.pt", {
                "format": fmt, "config": {"kind": kind, "model": s["config"], "data": {"size": 128, "resize": 0}},
                "model": s["model"], "step": 0, "data": s.get("data")})
    return history


def history_of(run: Path) -> list[dict]:
    p = run / "metrics.jsonl"
    return [json.loads(line) for line in p.read_text().splitlines()] if p.is_file() else []
