"""A class id: one token per sample, with a null class for classifier-free guidance when the model
was trained with class dropout."""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from vqtool.core.conditioning.base import Condition
from vqtool.core.errors import VqtoolError


@dataclass
class ClassLabel(Condition):
    kind = "class"
    usage = "--class NAME"
    adjective = "class-conditional"
    option = "class"
    field = "cls"

    classes: list | None = None  # class names, by id
    null: int | None = None  # the token of "no class" (None: taming's Labelator has none)
    null_trained: bool = False  # trained by class dropout: guidance and unconditional samples work

    def describe(self) -> dict:
        return {"kind": self.kind, "classes": len(self.classes or []), "guidance": self.guidable}

    @classmethod
    def new(cls, offset: int, wanted: dict) -> ClassLabel:
        classes = list(wanted.get("classes") or [])
        # one id per class plus the null class (trained only with class dropout)
        return cls(offset=offset, vocab=len(classes) + 1, classes=classes, null=offset + len(classes),
                   null_trained=bool(wanted.get("null_trained")))

    @property
    def guidable(self) -> bool:
        return self.null is not None and self.null_trained

    def guidance_problem(self) -> str | None:
        if self.guidable:
            return None
        return ("--cfg needs a null class trained by class dropout, and this model was trained with class_dropout = 0 "
                "(its null class is untrained); retrain with --set class_dropout=0.1 or sample without --cfg")

    def set_entries(self, n: int, inputs: list | None) -> list:
        return [k % len(self.classes or [0]) for k in range(n)]  # class-uniform

    def parse(self, value, model: str) -> int:
        classes = self.classes or []
        if value in classes:
            return classes.index(value)
        if str(value).isdigit() and int(value) < len(classes):
            return int(value)
        raise VqtoolError(f"unknown class {value!r}; valid classes: " + ", ".join(f"{i}={c}" for i, c in enumerate(classes)))

    def default(self, model: str):
        if not self.guidable:
            raise VqtoolError("this model is class-conditional and was trained without class dropout (no "
                              "unconditional mode): give --class NAME|ID; classes: " + ", ".join(self.classes or []))
        return None  # the null class: unconditional samples

    def tokens(self, entries: list, h: int, w: int, stage, factor: int, cache: dict) -> torch.Tensor:
        ids = [self.null - self.offset if e is None else e for e in entries]
        return (torch.as_tensor(ids).long().view(-1, 1) + self.offset).expand(len(entries), 1)

    def random_tokens(self, n: int, h: int, w: int, g: torch.Generator) -> torch.Tensor:
        return torch.full((n, 1), self.offset, dtype=torch.long)  # the first class

    def unguided(self, t: torch.Tensor, none: int) -> torch.Tensor:
        return torch.full_like(t, self.null)

    def from_sample(self, s: dict, flip: bool) -> torch.Tensor:
        return torch.tensor([self.offset + s["cls"]])

    def train_window(self, s: dict, flip: bool, r0: int, c0: int, W: int, rng: random.Random, dropout: float,
                     center: bool) -> torch.Tensor:
        drop = not center and rng.random() < dropout  # class dropout trains the null class
        return torch.tensor([self.null if drop else self.offset + s["cls"]])
