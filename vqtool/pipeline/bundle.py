"""A transformer checkpoint loaded for sampling: the GPT, its conditioning layout and its VQGANs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from vqtool.core import checkpoint as ck
from vqtool.core.config import GPTConfig, from_dict
from vqtool.core.errors import check_writable
from vqtool.core.gpt import build_gpt
from vqtool.core.layout import Layout
from vqtool.core.loading import vqgan_from_state
from vqtool.core.vqgan import TOKENIZER_PARTS, VQGAN


@dataclass
class Bundle:
    gpt: torch.nn.Module  # core.gpt.GPT, or core.local_gpt.LocalGPT
    layout: Layout
    first: VQGAN | None  # the image VQGAN (None: token grids only, e.g. a benchmark)
    cond: VQGAN | None = None  # the segmentation VQGAN of a seg model
    ckpt: dict = field(default_factory=dict)

    @property
    def factor(self) -> int:
        return self.first.factor

    @property
    def device(self) -> torch.device:
        return next(self.gpt.parameters()).device


def load_transformer(path: Path | str, device="cpu") -> Bundle:
    c = ck.load_checkpoint(path, ck.TRANSFORMER)
    lay = Layout.from_dict(c["cond"])
    gpt = build_gpt(from_dict(GPTConfig, c["config"]["gpt"], prefix="gpt."), lay.mode)
    gpt.load_state_dict(c["model"])
    gpt = gpt.to(device).eval().requires_grad_(False)
    first = vqgan_from_state(c["first_stage"]["config"], c["first_stage"]["model"], device)
    cond = None
    if c.get("cond_stage"):
        cond = vqgan_from_state(c["cond_stage"]["config"], c["cond_stage"]["model"], device)
    return Bundle(gpt, lay, first, cond, c)


# a VQGAN that shares these tensors gives every image the same tokens
TOKENIZER = tuple(f"{name}." for name in TOKENIZER_PARTS)


def _tokenizer_differs(old: dict, new: dict) -> str | None:
    """The first tokenizer tensor that differs between two VQGAN state dicts (compared in the
    lower of their precisions: shipped checkpoints are fp16), or None."""
    keys = sorted(k for k in old.keys() | new.keys() if k.startswith(TOKENIZER))
    for k in keys:
        a, b = old.get(k), new.get(k)
        if a is None or b is None or a.shape != b.shape:
            return k
        if a.is_floating_point():
            low = a.dtype if a.element_size() <= b.element_size() else b.dtype
            a, b = a.to(low), b.to(low)
        if not torch.equal(a, b):
            return k
    return None


def replace_decoder(model: Path | str, vqgan: Path | str, out: Path | str) -> dict:
    """Write ``model`` (a transformer checkpoint) with ``vqgan`` as its first stage, when ``vqgan``
    tokenizes exactly as the embedded one (same encoder, quant_conv and codebook: a
    ``train.trainable = "decoder"`` fine-tune of it), so the transformer's tokens keep their meaning."""
    check_writable(out, "--out", folder=False)
    c = ck.load_checkpoint(model, ck.TRANSFORMER)
    v = ck.load_checkpoint(vqgan, ck.VQGAN)
    old = c["first_stage"]
    if v["config"]["model"] != old["config"]:
        raise ck.CheckpointError(f"{vqgan} has another architecture than the VQGAN {model} was trained on")
    bad = _tokenizer_differs(old["model"], v["model"])
    if bad:
        raise ck.CheckpointError(
            f"{vqgan} does not tokenize as the VQGAN {model} was trained on ('{bad}' differs): its codes would mean "
            "something else to the transformer. Only a decoder fine-tune (train.trainable = \"decoder\") can be swapped in")
    dtype = next(t.dtype for t in old["model"].values() if t.is_floating_point())
    new = {k: (t.to(dtype) if t.is_floating_point() else t) for k, t in v["model"].items()}
    rec = {"from": ck.state_fingerprint(old["model"]), "to": ck.state_fingerprint(new), "vqgan": str(Path(vqgan).resolve())}
    out_ckpt = {k: x for k, x in c.items() if k != "_path"}
    out_ckpt["first_stage"] = {**old, "model": new, "data": v.get("data") or old.get("data")}
    out_ckpt["decoder_replaced"] = [*c.get("decoder_replaced", []), rec]
    ck.save_checkpoint(Path(out), out_ckpt)
    return {"out": str(out), "decoder_from": rec["from"][:16], "decoder_to": rec["to"][:16]}
