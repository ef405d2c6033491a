"""Summaries of vqtool files for `vqtool info` (checkpoints, run folders, shard folders)."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

from vqtool.core import checkpoint as ck
from vqtool.core.errors import VqtoolError


def _params(state: dict) -> float:
    return sum(v.numel() for v in state.values() if hasattr(v, "numel")) / 1e6


def _what_tar(path: Path) -> str:
    """What a tar file is, for `info` (it is no checkpoint): a token shard, or a shard of images."""
    if (path.parent / "manifest.json").is_file():
        return (f"{path} is one token shard of the shard folder {path.parent}: "
                f"`vqtool info {path.parent}` describes the folder")
    return (f"{path} is a tar archive (webdataset shards of images are read by train-vqgan, tokenize and "
            "eval-recon), not a vqtool checkpoint or shard folder")


def describe(path: Path) -> dict:
    path = Path(path)
    if path.is_dir() and (path / "manifest.json").is_file():
        m = json.loads((path / "manifest.json").read_text())
        return {"kind": "token shards", "format": m.get("format"),
                "samples": sum(s["count"] for s in m.get("shards", [])),
                "val_samples": sum(s["count"] for s in m.get("val_shards", [])),
                "shards": len(m.get("shards", [])) + len(m.get("val_shards", [])),
                "codebook_size": m.get("codebook_size"), "factor": m.get("factor"),
                "mode": m.get("mode"), "classes": m.get("classes"),
                "cond_codebook_size": m.get("cond_codebook_size"), "source": m.get("source"),
                "vqgan_fingerprint": (m.get("vqgan_fingerprint") or "")[:16]}
    if path.is_dir() and not (path / "last.pt").is_file():
        raise VqtoolError(f"{path} is neither a shard folder (no manifest.json) nor a run folder (no last.pt)")
    if path.is_file() and tarfile.is_tarfile(path):
        raise VqtoolError(_what_tar(path))
    c = ck.load_checkpoint(path)
    cfg = c["config"]
    d = {"kind": ck.FORMATS[c["format"]], "format": c["format"], "step": c.get("step"),
         "file": c["_path"], "created": c.get("provenance", {}).get("time"),
         "vqtool": c.get("provenance", {}).get("vqtool")}
    if c["format"] in (ck.VQGAN, ck.SEG_VQGAN):
        m, q = cfg["model"], cfg["model"]["quantizer"]
        d |= {"params_m": round(_params(c["model"]), 3), "factor": 2 ** (len(m["ch_mult"]) - 1),
              "channels": f"{m['in_channels']} -> {m['out_channels']}", "ch": m["ch"],
              "ch_mult": m["ch_mult"], "codebook": f"{q['n_embed']} x {q['codebook_dim'] or q['embed_dim']}"
              f"{' (l2)' if q['l2_norm'] else ''}{' (ema)' if q['ema'] else ''}",
              "quantizer": q["kind"], "legacy_beta": q["legacy"], "train_crop": cfg.get("data", {}).get("size"),
              "trained_on": (c.get("data") or {}).get("images"), "perceptual": c.get("perceptual"),
              "resumable": "train_state" in c}
        if cfg.get("train", {}).get("trainable", "all") != "all":
            d["trainable"] = cfg["train"]["trainable"]
        if c.get("init_from"):
            d["init_from"] = f"{c['init_from']['path']} (step {c['init_from']['step']})"
    else:
        g = cfg["gpt"]
        local = g.get("attention") == "local"
        d |= {"params_m": round(_params(c["model"]), 3), "layers": g["n_layer"], "heads": g["n_head"],
              "width": g["n_embd"], "attention": f"local (radius {g.get('radius')})" if local else "global (the paper's)",
              "block_size": None if local else g["block_size"], "vocab": g["vocab_size"],
              "mode": c["cond"]["mode"], "window": c["cond"]["window"],
              "classes": c["cond"].get("classes"), "resumable": "train_state" in c}
        if c.get("decoder_replaced"):
            d["decoder"] = "replaced by " + c["decoder_replaced"][-1]["vqgan"]
    return d
