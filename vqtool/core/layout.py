"""The conditioning layout: where image codes and conditioning tokens sit in a transformer's
vocabulary and sequence. The one stored form (checkpoint key ``cond``); the trainer, the taming
converter and the sampler all build and read it here."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass
class Layout:
    mode: str  # "uncond" | "class" | "seg"
    n_embed: int  # image codes are ids [0, n_embed)
    window: int  # training window, tokens per side
    cond_offset: int = 0  # cond token id = offset + code/class
    sos: int = 0  # the start token of unconditional models
    cond_len: int = 1  # conditioning tokens before the image tokens (seg: window², else 1)
    cond_vocab: int = 1  # ids after the image codes taken by conditioning
    null_class: int | None = None  # class models: the token of "no class" (classifier-free guidance)
    classes: list | None = None  # class models: class names, by id
    label_classes: list | None = None  # seg models: label names, by id
    palette: list | None = None  # seg models: the label maps' palette, when they had one

    @classmethod
    def for_codes(cls, mode: str, n_embed: int, window: int, cond_codebook: int = 0, classes: list | None = None,
                  label_classes: list | None = None, palette: list | None = None) -> Layout:
        """vqtool's own layout: conditioning ids follow the image codes (offset = codebook size)."""
        base = dict(mode=mode, n_embed=n_embed, window=window, cond_offset=n_embed, sos=n_embed)
        if mode == "seg":
            return cls(**base, cond_vocab=cond_codebook, cond_len=window * window, label_classes=label_classes,
                       palette=palette)
        if mode == "class":
            k = len(classes or [])
            # one id per class plus the null class (trained only with class dropout)
            return cls(**base, cond_vocab=k + 1, classes=list(classes or []), null_class=n_embed + k)
        return cls(**base)

    @classmethod
    def for_shards(cls, manifest: dict, window: int) -> Layout:
        """The layout decided by what the shards hold (their manifest)."""
        return cls.for_codes(manifest["mode"], manifest["codebook_size"], window,
                             cond_codebook=manifest.get("cond_codebook_size") or 0, classes=manifest.get("classes"),
                             label_classes=manifest.get("label_classes"), palette=manifest.get("palette"))

    @property
    def vocab_size(self) -> int:
        return self.n_embed + self.cond_vocab

    @property
    def block_size(self) -> int:
        """Positions a window needs: the conditioning, then window² - 1 image tokens as input."""
        return self.cond_len + self.window ** 2 - 1

    @classmethod
    def from_dict(cls, d: dict) -> Layout:
        keys = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in keys})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
