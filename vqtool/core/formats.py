"""Typed checkpoints: a transformer checkpoint is written and read here only (``to_payload`` /
``from_payload``), so every writer (the trainer, the taming converter, replace-decoder, the demo
export, the tests) stores the same form and every reader gets the same object.

The stored form: format tag, the resolved recipe, the GPT's state dict, the conditioning layout,
the image VQGAN (``first_stage``) and the cond-stage VQGANs by what they encode (``stages``), the
step, the token manifest, and provenance. The previous release stored ``cond`` (a mode-style
layout) and one ``cond_stage``; those files are migrated on read.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from vqtool.core.conditioning.layout import Layout
from vqtool.core.io import checkpoint as ck


@dataclass
class Stage:
    """A VQGAN inside a transformer checkpoint: its model config and weights, and what it trained on."""

    config: dict
    model: dict
    data: dict | None = None

    def to_dict(self) -> dict:
        return {"config": self.config, "model": self.model, "data": self.data}

    @classmethod
    def from_dict(cls, d: dict) -> Stage:
        return cls(d["config"], d["model"], d.get("data"))

    def map(self, fn) -> Stage:
        return replace(self, model=_map(self.model, fn))


@dataclass
class TransformerCheckpoint:
    config: dict  # the resolved recipe, plain data
    model: dict  # the GPT's state dict
    layout: Layout
    first_stage: Stage  # the image VQGAN
    stages: dict[str, Stage] = field(default_factory=dict)  # cond-stage VQGANs, by what they encode
    step: int = 0
    manifest: dict | None = None  # the token manifest it was trained on (its record)
    metrics: dict | None = None
    train_state: dict | None = None  # optimiser, RNG, world size: for --resume
    decoder_replaced: list = field(default_factory=list)
    demo: dict | None = None  # the shipped demo models' history
    provenance: dict | None = None
    path: str | None = None  # where it was read from

    def to_payload(self) -> dict:
        out = {"format": ck.TRANSFORMER, "config": self.config, "model": self.model, "step": self.step,
               "layout": self.layout.to_dict(), "first_stage": self.first_stage.to_dict(),
               "stages": {k: s.to_dict() for k, s in self.stages.items()}, "manifest": self.manifest}
        for k in ("metrics", "train_state", "demo", "provenance"):
            if getattr(self, k) is not None:
                out[k] = getattr(self, k)
        if self.decoder_replaced:
            out["decoder_replaced"] = self.decoder_replaced
        return out

    @classmethod
    def from_payload(cls, c: dict) -> TransformerCheckpoint:
        dropout = (c.get("config") or {}).get("class_dropout", 0.0)
        layout = Layout.from_dict(c["layout"] if "layout" in c else c["cond"], dropout)
        stages = {k: Stage.from_dict(s) for k, s in (c.get("stages") or {}).items()}
        if c.get("cond_stage"):  # the previous release: one cond stage, the segmentation VQGAN
            stages[next(x.stage for x in layout.conditions if x.stage)] = Stage.from_dict(c["cond_stage"])
        return cls(c["config"], c["model"], layout, Stage.from_dict(c["first_stage"]), stages, c.get("step", 0),
                   c.get("manifest"), c.get("metrics"), c.get("train_state"), list(c.get("decoder_replaced") or []),
                   c.get("demo"), c.get("provenance"), c.get("_path"))

    @classmethod
    def load(cls, path: Path | str) -> TransformerCheckpoint:
        return cls.from_payload(ck.load_checkpoint(path, ck.TRANSFORMER))

    def save(self, path: Path | str) -> None:
        ck.save_checkpoint(Path(path), self.to_payload())

    def map_weights(self, fn) -> TransformerCheckpoint:
        """Every float tensor of the GPT and its VQGANs through ``fn`` (fp16 for shipping, back to fp32)."""
        return replace(self, model=_map(self.model, fn), first_stage=self.first_stage.map(fn),
                       stages={k: s.map(fn) for k, s in self.stages.items()})


def _map(sd: dict, fn) -> dict:
    return {k: (fn(v) if v.is_floating_point() else v) for k, v in sd.items()}
