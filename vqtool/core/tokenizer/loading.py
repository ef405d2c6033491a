"""Build models from self-describing checkpoints."""

from __future__ import annotations

from pathlib import Path

import torch

from vqtool.core.io import checkpoint as ck
from vqtool.core.config import VQGANModelConfig, from_dict
from vqtool.core.tokenizer.inputs import input_of
from vqtool.core.tokenizer.vqgan import VQGAN


def vqgan_from_state(model_cfg: dict, state: dict, device="cpu") -> VQGAN:
    model = VQGAN(from_dict(VQGANModelConfig, model_cfg, prefix="model."))
    model.load_state_dict(state)
    return model.to(device).eval().requires_grad_(False)


def load_vqgan(path: Path | str, device="cpu", encodes: str | None = None) -> tuple[VQGAN, dict]:
    """A VQGAN from its own checkpoint; ``encodes`` ("image", "seg", ...) requires what it encodes."""
    ckpt = ck.load_checkpoint(path, ck.VQGAN)
    if encodes is not None and ckpt["encodes"] != encodes:
        raise ck.CheckpointError(f"{path} is a {input_of(ckpt['encodes']).what} checkpoint; this needs a "
                                 f"{input_of(encodes).what} checkpoint")
    return vqgan_from_state(ckpt["config"]["model"], ckpt["model"], device), ckpt


def count_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
