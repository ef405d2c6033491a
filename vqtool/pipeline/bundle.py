"""A transformer checkpoint loaded for sampling: the GPT, its conditioning layout and its VQGANs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from vqtool.core import checkpoint as ck
from vqtool.core.config import GPTConfig, from_dict
from vqtool.core.gpt import build_gpt
from vqtool.core.layout import Layout
from vqtool.core.loading import vqgan_from_state
from vqtool.core.vqgan import VQGAN


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
