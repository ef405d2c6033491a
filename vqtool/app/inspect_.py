"""Summaries of vqtool files for `vqtool info` (checkpoints, run folders, shard folders)."""

from __future__ import annotations

import tarfile
from pathlib import Path

from vqtool.core.config import VQGANModelConfig, from_dict
from vqtool.core.io import checkpoint as ck
from vqtool.core.io import folder
from vqtool.interop.diffusers import is_diffusers_folder
from vqtool.data.shards import read_manifest
from vqtool.core.errors import VqtoolError
from vqtool.core.formats import TransformerCheckpoint
from vqtool.core.tokenizer.inputs import input_of


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
        m = read_manifest(path)
        return {"kind": "token shards", "format": m.format, "samples": m.samples,
                "val_samples": sum(s["count"] for s in m.val_shards), "shards": len(m.shards) + len(m.val_shards),
                "codebook_size": m.codebook_size, "factor": m.factor,
                "conditions": ", ".join(c["kind"] for c in m.transformer_conditions()), "classes": m.classes,
                "tokenized_conditions": [f"{c['kind']} ({c.get('codebook_size')} codes, "
                                         f"{c.get('inputs') or 'the images downscaled %sx' % c.get('factor')})"
                                         for c in m.conditions] or None,
                "source": m.source, "vqgan_fingerprint": (m.vqgan_fingerprint or "")[:16]}
    if path.is_dir() and is_diffusers_folder(path):
        raise VqtoolError(f"{path} is a diffusers VQModel folder: `vqtool convert {path} --out M.pt` makes it a "
                          "vqtool VQGAN")
    if path.is_dir() and not (path / "last.pt").is_file() and not folder.is_folder(path):
        raise VqtoolError(f"{path} is neither a shard folder (no manifest.json), a run folder (no last.pt) nor an "
                          "exported model (no config.json and model.safetensors)")
    if path.is_file() and tarfile.is_tarfile(path):
        raise VqtoolError(_what_tar(path))
    c = ck.load_checkpoint(path)
    if c["format"] == ck.TRANSFORMER:
        return _transformer(TransformerCheckpoint.from_payload(c))
    cfg = c["config"]
    m, q = cfg["model"], cfg["model"]["quantizer"]
    d = {"kind": input_of(c["encodes"]).what, "format": c["format"], "encodes": c["encodes"], "step": c.get("step"),
         "file": c["_path"], "created": c.get("provenance", {}).get("time"),
         "vqtool": c.get("provenance", {}).get("vqtool"), "params_m": round(_params(c["model"]), 3),
         "factor": from_dict(VQGANModelConfig, m, prefix="model.").factor,
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
    return d


def _transformer(c: TransformerCheckpoint) -> dict:
    g, lay = c.config["gpt"], c.layout
    local = g.get("attention") == "local"
    d = {"kind": "transformer", "format": ck.TRANSFORMER, "step": c.step, "file": c.path,
         "created": (c.provenance or {}).get("time"), "vqtool": (c.provenance or {}).get("vqtool"),
         "params_m": round(_params(c.model), 3), "layers": g["n_layer"], "heads": g["n_head"], "width": g["n_embd"],
         "attention": (f"local (radius {g.get('radius')}" + (f", {g['cond_layers']} condition blocks seeing the rows "
                                                              "below" if g.get("cond_layers") else "") + ")")
         if local else "global (the paper's)",
         "block_size": None if local else g["block_size"], "vocab": g["vocab_size"],
         "conditioning": lay.adjective, "conditions": [x.describe() for x in lay.conditions],
         "window": lay.window, "resumable": c.train_state is not None}
    if lay.permuted:
        d["token_order"] = f"taming's {lay.permuted['name']} (samples its {lay.window}x{lay.window} window only)"
    if c.decoder_replaced:
        d["decoder"] = "replaced by " + c.decoder_replaced[-1]["vqgan"]
    return d
