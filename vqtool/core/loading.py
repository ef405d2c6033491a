"""Build models from self-describing checkpoints."""

from __future__ import annotations

from pathlib import Path

import torch

from vqtool.core import checkpoint as ck
from vqtool.core.config import VQGANModelConfig, from_dict
from vqtool.core.vqgan import VQGAN


def vqgan_from_state(model_cfg: dict, state: dict, device="cpu") -> VQGAN:
    model = VQGAN(from_dict(VQGANModelConfig, model_cfg, prefix="model."))
    model.load_state_dict(state)
    return model.to(device).eval().requires_grad_(False)


def load_vqgan(path: Path | str, device="cpu", seg: bool | None = None) -> tuple[VQGAN, dict]:
    """A VQGAN (image or segmentation) from its own checkpoint; ``seg`` restricts the kind."""
    want = {None: (ck.VQGAN, ck.SEG_VQGAN), False: ck.VQGAN, True: ck.SEG_VQGAN}[seg]
    ckpt = ck.load_checkpoint(path, want)
    return vqgan_from_state(ckpt["config"]["model"], ckpt["model"], device), ckpt


def count_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
