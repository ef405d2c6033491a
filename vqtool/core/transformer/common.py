"""What both transformer families share, as plain functions: the weight initialisation, the MLP
of a block, and the weight-decay groups (minGPT's)."""

from __future__ import annotations

import torch.nn as nn

from vqtool.core.config import GPTConfig


def init_weights(m: nn.Module) -> None:
    """minGPT's initialisation: N(0, 0.02) weights, zero biases, unit LayerNorms (``module.apply``)."""
    if isinstance(m, (nn.Linear, nn.Embedding)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)


def mlp(cfg: GPTConfig) -> nn.Sequential:
    """A block's feed-forward part: 4x width, exact GELU, dropout."""
    return nn.Sequential(nn.Linear(cfg.n_embd, 4 * cfg.n_embd), nn.GELU(),
                         nn.Linear(4 * cfg.n_embd, cfg.n_embd), nn.Dropout(cfg.resid_pdrop))


def decay_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Decay on Linear weights only (taming/minGPT): not biases, LayerNorms, embeddings, pos_emb."""
    decay = {f"{mn}.weight" if mn else "weight" for mn, m in model.named_modules() if isinstance(m, nn.Linear)}
    params = dict(model.named_parameters())
    return [{"params": [p for n, p in params.items() if n in decay], "weight_decay": weight_decay},
            {"params": [p for n, p in params.items() if n not in decay], "weight_decay": 0.0}]
