"""How well a sample follows its label map, and how likely a grid is under its model's geometry.

Label-map agreement: every pixel of a sample is given the class whose mean colour (measured on
real images with their label maps) is nearest; the score is the fraction of pixels whose class is
the label map's. Crude, but it needs no segmentation network and tells sky from water from grass.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from vqtool.core.conditioning.layout import Layout
from vqtool.core.sampling import sampler_for


def class_colours(images: list, labels: list, k: int) -> np.ndarray:
    """(k, 3) mean RGB per class over real images and their label maps."""
    s, n = np.zeros((k, 3)), np.zeros(k)
    for im, lab in zip(images, labels):
        a = np.asarray(im.convert("RGB"), dtype=np.float64).reshape(-1, 3)
        lab = np.asarray(lab).reshape(-1)
        np.add.at(s, lab, a)
        np.add.at(n, lab, 1)
    return s / np.maximum(n, 1)[:, None]


def label_agreement(sample: Image.Image, labels: np.ndarray, colours: np.ndarray) -> float:
    a = np.asarray(sample.convert("RGB"), dtype=np.float64)
    d = ((a[:, :, None, :] - colours[None, None]) ** 2).sum(-1)  # (H, W, k)
    return float((d.argmin(-1) == labels).mean())


@torch.no_grad()
def bits_per_token(gpt, layout: Layout, z: torch.Tensor, cond: list) -> float:
    """Mean negative log2-likelihood of grid ``z`` under the model's own sampling geometry (the
    paper's exact windows; a local transformer's neighbourhoods), from its sampler's likelihood pass."""
    return sampler_for(gpt).bits_per_token(gpt, layout, z, cond)


def sharpness(images: list, reference: list) -> float:
    """Mean pixel gradient of ``images`` over that of ``reference`` (see eval.metrics.mean_gradient)."""
    from vqtool.data.images import to_tensor
    from vqtool.eval.metrics import mean_gradient

    def g(ims):
        return sum(mean_gradient(to_tensor(im.convert("RGB"))[None]).item() for im in ims) / len(ims)
    return g(images) / g(reference)


def score_against_real(b, labels: np.ndarray, real: Image.Image, samples: list, keep_recon: bool = False) -> dict:
    """Label agreement and sharpness of samples of one label map, beside the real scene of that
    map through the VQGAN (the ceiling of both). Class colours come from that reconstruction:
    a sample can only use the decoder's palette. ``keep_recon``: the reconstruction too ("recon")."""
    from vqtool.data.images import to_image, to_tensor
    from vqtool.core.tokenizer.tiles import decode

    from vqtool.pipeline.generate import padded

    w, h = samples[0].size
    real = real.resize(padded((w, h), b.factor), Image.BICUBIC)  # off the token grid: encoded on it, cropped as samples
    x = to_tensor(real)[None].to(next(b.first.parameters()).device)
    real, recon = (im.crop((0, 0, w, h)) for im in (real, to_image(decode(b.first, b.first.encode(x).indices)[0])))
    colours = class_colours([recon], [labels], int(np.max(labels)) + 1)
    return {"sample_label_agreement": float(np.mean([label_agreement(s, labels, colours) for s in samples])),
            "real_recon_label_agreement": label_agreement(recon, labels, colours),
            "sample_sharpness": sharpness(samples, [real]), "real_recon_sharpness": sharpness([recon], [real]),
            **({"recon": recon} if keep_recon else {})}
