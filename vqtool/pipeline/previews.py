"""Window-sized samples during transformer training (previews and the in-training FID), through
the same pipeline as `vqtool sample`."""

from __future__ import annotations

from pathlib import Path

from vqtool.core.conditioning.layout import Layout
from vqtool.core.formats import Stage
from vqtool.core.tokenizer.loading import vqgan_from_state
from vqtool.data.images import save_grid
from vqtool.pipeline.bundle import Bundle
from vqtool.pipeline.generate import SampleOptions, sample_tokens, to_images


def training_samples(gpt, layout: Layout, first_stage: Stage, samples: list[dict], path: Path, n: int = 4,
                     tiles: bool = False, seed: int = 0) -> list:
    """Decoded window-sized samples, conditioned like held-out grids (the top-left window of their
    conditioning: a label-map crop, a class): one grid PNG, or with ``tiles`` one PNG per sample
    (``path`` stem + index)."""
    b = Bundle(gpt, layout, vqgan_from_state(first_stage.config, first_stage.model, next(gpt.parameters()).device))
    W, n = layout.window, min(n, len(samples))
    cond = layout.to(layout.sample_tokens(samples[:n], W, W), b.device)
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
