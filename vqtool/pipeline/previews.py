"""Window-sized samples during transformer training (previews and the in-training FID), through
the same pipeline as `vqtool sample`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vqtool.core.layout import Layout
from vqtool.core.loading import vqgan_from_state
from vqtool.data.images import save_grid
from vqtool.pipeline.bundle import Bundle
from vqtool.pipeline.generate import SampleOptions, sample_tokens, to_images


def training_samples(gpt, layout: Layout, first_stage: dict, samples: list[dict], path: Path, n: int = 4,
                     tiles: bool = False, seed: int = 0) -> list:
    """Decoded window-sized samples, conditioned like held-out grids (their label-map crop or
    class): one grid PNG, or with ``tiles`` one PNG per sample (``path`` stem + index)."""
    b = Bundle(gpt, layout, vqgan_from_state(first_stage["config"], first_stage["model"], next(gpt.parameters()).device))
    W, n = layout.window, min(n, len(samples))
    if layout.mode == "seg":
        conds = torch.stack([torch.from_numpy(s["cond.npy"][:W, :W].astype(np.int64)) for s in samples[:n]])
        cond = (conds + layout.cond_offset).to(b.device)  # (n, W, W) as core.sampling.cond_tokens makes it
    elif layout.mode == "class":
        cond = (torch.tensor([[s.get("cls", 0)] for s in samples[:n]]) + layout.cond_offset).to(b.device)
    else:
        cond = torch.full((n, 1), layout.sos, device=b.device)
    was = gpt.training
    gpt.eval()
    z = sample_tokens(b, cond, W, W, SampleOptions(seed=seed, top_k=100))
    gpt.train(was)
    ims = to_images(b, z)
    if tiles:
        for k, im in enumerate(ims):
            im.save(path.with_name(f"{path.stem}-{k}.png"))
    else:
        save_grid(ims, path, cols=n)
    return ims
