"""The condition records of a shard folder's manifest: what a transformer trained on it conditions on."""

from __future__ import annotations

from vqtool.core.conditioning.classes import ClassLabel
from vqtool.core.conditioning.seg import Segmentation
from vqtool.core.conditioning.uncond import Uncond


def for_dataset(tokenized: list[dict], classes: list | None) -> list[dict]:
    """The conditions of a transformer trained on a shard folder: the conditions tokenized beside the
    images, else the images' classes, else none (a start token)."""
    if tokenized:
        return [{k: v for k, v in c.items() if k not in ("vqgan", "fingerprint", "inputs")} for c in tokenized]
    return [{"kind": ClassLabel.kind, "classes": classes}] if classes else [{"kind": Uncond.kind}]


def legacy_manifest_conditions(d: dict) -> list[dict]:
    """The tokenized conditions of a previous release's manifest (``mode`` and ``seg_*`` keys)."""
    if d.get("mode") != "seg":
        return []
    return [{"kind": Segmentation.kind, "vqgan": d.get("seg_vqgan"), "fingerprint": d.get("seg_vqgan_fingerprint"),
             "codebook_size": d.get("cond_codebook_size"), "inputs": d.get("seg_dir"),
             "label_classes": d.get("label_classes"), "palette": d.get("palette")}]
