"""Where training curves go besides metrics.jsonl (always written): TensorBoard or Weights & Biases,
each an optional extra (``train.logger``). Scalars are the metrics.jsonl records flattened
("eval": {"psnr": ...} -> "eval/psnr"); images are the preview grids the trainers already write."""

from __future__ import annotations

import os
from pathlib import Path

from vqtool.core.errors import VqtoolError


def scalars(record: dict, prefix: str = "") -> dict[str, float]:
    """The numbers of a metrics record by flattened name (the step itself and non-numbers left out)."""
    out = {}
    for k, v in record.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            out |= scalars(v, f"{name}/")
        elif isinstance(v, (int, float)) and not isinstance(v, bool) and name != "step":
            out[name] = float(v)
    return out


class TensorBoard:
    def __init__(self, run_dir: Path, config: dict):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise VqtoolError("train.logger = \"tensorboard\" needs the tensorboard package: "
                              "pip install 'vqtool[tensorboard]'") from None
        self.w = SummaryWriter(str(Path(run_dir) / "tensorboard"))

    def scalars(self, step: int, values: dict) -> None:
        for k, v in values.items():
            self.w.add_scalar(k, v, step)

    def image(self, tag: str, path: Path, step: int) -> None:
        import numpy as np
        from PIL import Image

        self.w.add_image(tag, np.asarray(Image.open(path).convert("RGB")), step, dataformats="HWC")

    def close(self) -> None:
        self.w.close()


class WandB:
    """A W&B run in the run folder (``WANDB_MODE=offline`` keeps it local; ``WANDB_PROJECT`` names it)."""

    def __init__(self, run_dir: Path, config: dict):
        try:
            import wandb
        except ImportError:
            raise VqtoolError("train.logger = \"wandb\" needs the wandb package: pip install 'vqtool[wandb]'") from None
        self.wandb = wandb
        self.run = wandb.init(project=os.environ.get("WANDB_PROJECT", "vqtool"), name=Path(run_dir).name,
                              dir=str(run_dir), config=config)

    def scalars(self, step: int, values: dict) -> None:
        self.run.log(values, step=step)

    def image(self, tag: str, path: Path, step: int) -> None:
        self.run.log({tag: self.wandb.Image(str(path))}, step=step)

    def close(self) -> None:
        self.run.finish()


SINKS = {"tensorboard": TensorBoard, "wandb": WandB}  # "jsonl": metrics.jsonl only


def open_sink(kind: str, run_dir: Path, config: dict | None):
    return SINKS[kind](run_dir, config or {}) if kind in SINKS else None
