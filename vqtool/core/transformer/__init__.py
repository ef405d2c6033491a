"""The second stage: the paper's GPT and the local-attention transformer. ``build_gpt`` is the one
way any code makes one."""

from __future__ import annotations

from dataclasses import replace

import torch.nn as nn

from vqtool.core.config import GPTConfig
from vqtool.core.errors import ConfigError
from vqtool.core.transformer.gpt import GPT
from vqtool.core.transformer.local import LocalGPT

FAMILIES = {"global": GPT, "local": LocalGPT}  # gpt.attention -> the model family


def gpt_config_for(cfg: GPTConfig, vocab: int, block: int, window: int = 0) -> GPTConfig:
    """Fill the sizes the shards decide (vocabulary, block size; a local model's radius: half the
    window) when the recipe leaves them 0. A new config: ``cfg`` is not changed."""
    radius = cfg.radius or (window // 2 if cfg.attention == "local" else 0)
    return replace(cfg, vocab_size=cfg.vocab_size or vocab, block_size=cfg.block_size or block, radius=radius)


def build_gpt(cfg: GPTConfig, layout) -> nn.Module:
    """The transformer a config describes (``gpt.attention``: the paper's GPT or the local model),
    for a conditioning ``layout``."""
    for c in getattr(layout, "conditions", []):  # (no layout: a bare model, for size estimates)
        if cfg.attention == "local" and not c.local_ok:
            raise ConfigError(f"'gpt.attention' = \"local\" takes one condition token per position, and a "
                              f"{c.input_name} is a sequence of its own: train this {layout.adjective} model with "
                              "gpt.attention = \"global\" (the paper's GPT)")
    return FAMILIES[cfg.attention](cfg, layout)
