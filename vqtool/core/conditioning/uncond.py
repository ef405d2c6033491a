"""No condition: a start token before the image tokens (taming's SOSProvider)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vqtool.core.conditioning.base import Condition


@dataclass
class Uncond(Condition):
    kind = "uncond"
    adjective = "unconditional"

    token: int = 0  # the start token's id

    @classmethod
    def new(cls, offset: int, wanted: dict) -> Uncond:
        return cls(offset=offset, vocab=1, token=offset)

    def default(self, model: str):
        return None

    def set_entries(self, n: int, inputs: list | None) -> list:
        return [None] * n

    def tokens(self, entries: list, h: int, w: int, stage, factor: int, cache: dict) -> torch.Tensor:
        return torch.full((len(entries), 1), self.token, dtype=torch.long)

    def from_sample(self, s: dict, flip: bool) -> torch.Tensor:
        return torch.tensor([self.token])
