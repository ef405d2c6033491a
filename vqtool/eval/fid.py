"""FID (and KID, IS, precision/recall) through torch-fidelity, with a written protocol.

Protocol, identical for both sides: decode to RGB (any mode, see data.images.to_rgb), take the
largest centred square, resize it to 299x299 with PIL's bicubic filter (antialiased), uint8.
torch-fidelity's Inception-v3 (the TF-FID port) then sees 299x299 inputs and resizes nothing.
Reference statistics are cached under a fingerprint of the file list (names, sizes, mtimes),
the protocol and the weights' sha256, so a changed folder is never scored against stale stats.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from vqtool.core.errors import DataError, VqtoolError
from vqtool.core.weights import find_weights
from vqtool.data import images as imgs

RESOLUTION = 299
PROTOCOL = "largest centre square, PIL bicubic (antialiased) resize to 299x299, RGB uint8"


def prepare_fid(im: Image.Image) -> torch.Tensor:
    w, h = im.size
    s = min(w, h)
    im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
    im = im.resize((RESOLUTION, RESOLUTION), Image.BICUBIC)
    return torch.from_numpy(np.asarray(im, dtype=np.uint8).copy()).permute(2, 0, 1)  # (3, 299, 299)


class FolderImages(torch.utils.data.Dataset):
    """uint8 (3, 299, 299) tensors from image files; counts reads (tests check the cache)."""

    reads = 0

    def __init__(self, files: list[Path]):
        self.files = files

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        FolderImages.reads += 1
        return prepare_fid(imgs.load_rgb(self.files[i]))


def readable_images(folder: Path | str, what: str) -> list[Path]:
    folder = Path(folder)
    if not folder.exists():
        raise DataError(f"{what} folder not found: {folder}")
    try:
        files = imgs.list_images(folder)
    except DataError:
        raise DataError(f"{what} folder {folder} holds no images") from None
    good = [f for f in files if imgs.header_ok(f) is None]
    if not good:
        raise DataError(f"{what} folder {folder} holds no readable images ({len(files)} file(s) could not be decoded)")
    return good


def fingerprint(files: list[Path], extra: str) -> str:
    h = hashlib.sha256(extra.encode())
    for f in sorted(files):
        st = f.stat()
        h.update(f"{f}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:24]


def cache_dir() -> Path:
    return Path(os.environ.get("VQTOOL_CACHE", Path.home() / ".cache" / "vqtool")) / "fidelity"


def compute_metrics(generated: Path, reference: Path, kid: bool = False, isc: bool = False, prc: bool = False,
                    inception_weights: Path | None = None, weights_dir: Path | None = None,
                    batch_size: int = 32, device: str = "auto", seed: int = 0,
                    feature_extractor: str = "inception-v3-compat") -> dict:
    """Metrics and the protocol that produced them."""
    import torch_fidelity

    gen = readable_images(generated, "generated")
    ref = readable_images(reference, "reference")
    wpath, wsha = find_weights("inception", inception_weights, weights_dir)
    cuda = torch.cuda.is_available() and device != "cpu"
    kw = dict(input1=FolderImages(gen), input2=FolderImages(ref), fid=True, kid=kid, isc=isc, prc=prc,
              cuda=cuda, batch_size=batch_size, verbose=False, feature_extractor=feature_extractor,
              feature_extractor_weights_path=str(wpath), cache_root=str(cache_dir()), cache=True,
              input2_cache_name=f"vqtool-ref-{fingerprint(ref, PROTOCOL + wsha + feature_extractor)}",
              save_cpu_ram=True, rng_seed=seed % 2**32)  # numpy RandomState takes 32 bits
    notes = []
    if kid:
        subset = min(1000, len(gen), len(ref))
        if subset < 1000:
            notes.append(f"KID subset size lowered from 1000 to {subset} (the smaller side's image count)")
        if subset < 2:
            raise VqtoolError("KID needs at least 2 images on each side")
        kw["kid_subset_size"] = subset
    if len(gen) < 2 or len(ref) < 2:
        raise VqtoolError(f"FID needs at least 2 images on each side (generated {len(gen)}, reference {len(ref)})")
    m = torch_fidelity.calculate_metrics(**kw)
    out = {"fid": float(m["frechet_inception_distance"])}
    if kid:
        out |= {"kid": float(m["kernel_inception_distance_mean"]), "kid_std": float(m["kernel_inception_distance_std"])}
    if isc:
        out |= {"isc": float(m["inception_score_mean"]), "isc_std": float(m["inception_score_std"])}
    if prc:
        out |= {"precision": float(m["precision"]), "recall": float(m["recall"])}
    if min(len(gen), len(ref)) < 50000:
        notes.append(f"fewer than 50k images ({len(gen)} generated, {len(ref)} reference): "
                     "FID is biased upwards and not comparable to published 50k numbers")
    protocol = {
        "generated": str(Path(generated).resolve()), "reference": str(Path(reference).resolve()),
        "n_generated": len(gen), "n_reference": len(ref), "preprocess": PROTOCOL,
        "feature_extractor": feature_extractor, "weights": str(wpath), "weights_sha256": wsha,
        "torch_fidelity": torch_fidelity.__version__, "seed": seed, "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "reference_cache": kw["input2_cache_name"], "notes": notes,
    }
    return {"metrics": out, "protocol": protocol}


def write_result(folder: Path, result: dict) -> Path:
    from vqtool.core.checkpoint import atomic_write

    path = Path(folder) / "fid.json"
    atomic_write(path, lambda f: f.write(json.dumps(result, indent=1).encode()))
    return path


def reference_from_model(model: Path) -> Path:
    """The image folder recorded in a transformer checkpoint's token manifest."""
    from vqtool.core import checkpoint as ck

    c = ck.load_checkpoint(model)
    src = (c.get("manifest") or {}).get("source")
    if not src:
        raise VqtoolError(f"{model} records no token manifest (no reference image folder); give REFERENCE")
    return Path(src)
