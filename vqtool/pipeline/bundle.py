"""A transformer checkpoint loaded for sampling: the GPT, its conditioning layout and its VQGANs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from vqtool.core.io import checkpoint as ck
from vqtool.core.config import GPTConfig, from_dict
from vqtool.core.errors import check_writable
from vqtool.core.formats import Stage, TransformerCheckpoint
from vqtool.core.sampling import sampler_for
from vqtool.core.transformer import build_gpt
from vqtool.core.conditioning.layout import Layout
from vqtool.core.tokenizer.loading import vqgan_from_state
from vqtool.core.tokenizer.vqgan import TOKENIZER_PARTS, VQGAN


@dataclass
class Bundle:
    gpt: torch.nn.Module  # either family (core.transformer); ask ``sampler`` how to sample it
    layout: Layout
    first: VQGAN | None  # the image VQGAN (None: token grids only, e.g. a benchmark)
    stages: dict[str, VQGAN] = field(default_factory=dict)  # cond-stage VQGANs, by what they encode
    ckpt: TransformerCheckpoint | None = None

    @property
    def factor(self) -> int:
        return self.first.factor

    @property
    def device(self) -> torch.device:
        return next(self.gpt.parameters()).device

    @property
    def sampler(self):
        return sampler_for(self.gpt)


def load_transformer(path: Path | str, device="cpu") -> Bundle:
    c = TransformerCheckpoint.load(path)
    gpt = build_gpt(from_dict(GPTConfig, c.config["gpt"], prefix="gpt."), c.layout)
    gpt.load_state_dict(c.model)
    gpt = gpt.to(device).eval().requires_grad_(False)
    first = vqgan_from_state(c.first_stage.config, c.first_stage.model, device)
    stages = {k: vqgan_from_state(s.config, s.model, device) for k, s in c.stages.items()}
    return Bundle(gpt, c.layout, first, stages, c)


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
    c = TransformerCheckpoint.load(model)
    v = ck.load_checkpoint(vqgan, ck.VQGAN)
    old = c.first_stage
    if v["config"]["model"] != old.config:
        raise ck.CheckpointError(f"{vqgan} has another architecture than the VQGAN {model} was trained on")
    bad = _tokenizer_differs(old.model, v["model"])
    if bad:
        raise ck.CheckpointError(
            f"{vqgan} does not tokenize as the VQGAN {model} was trained on ('{bad}' differs): its codes would mean "
            "something else to the transformer. Only a decoder fine-tune (train.trainable = \"decoder\") can be swapped in")
    dtype = next(t.dtype for t in old.model.values() if t.is_floating_point())
    new = {k: (t.to(dtype) if t.is_floating_point() else t) for k, t in v["model"].items()}
    rec = {"from": ck.state_fingerprint(old.model), "to": ck.state_fingerprint(new), "vqgan": str(Path(vqgan).resolve())}
    c.first_stage = Stage(old.config, new, v.get("data") or old.data)
    c.decoder_replaced = [*c.decoder_replaced, rec]
    c.save(out)
    return {"out": str(out), "decoder_from": rec["from"][:16], "decoder_to": rec["to"][:16]}
