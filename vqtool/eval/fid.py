"""FID (and KID, IS, precision/recall) through torch-fidelity, with a written protocol.

Protocol, identical for both sides (one function, ``prepare_fid``): decode to RGB (any mode, see
data.images.to_rgb), take the largest centred square, resize it with PIL's bicubic filter
(antialiased) to the model's resolution (``resolution``, 256 by default: what the paper's models
were trained and evaluated at), then to 299x299 the same way, uint8. torch-fidelity's Inception-v3
(the TF-FID port) then sees 299x299 inputs and resizes nothing. Reference statistics are cached
under a fingerprint of the file list (names, sizes, mtimes), the protocol and the weights' sha256,
so a changed folder is never scored against stale stats. Precomputed reference statistics (an
npz with ``mu`` (2048,) and ``sigma`` (2048, 2048), the layout pytorch-fid and the TTUR code use)
replace the reference folder with ``ref_stats``; ``save_stats`` writes them.
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

from vqtool.core.errors import DataError, VqtoolError, check_writable
from vqtool.core.io.weights import REGISTRY, find_weights, sha256_of
from vqtool.data import images as imgs

RESOLUTION = 299
FEATURES = 2048  # Inception pool features: the size of mu and of each side of sigma


def protocol_text(resolution: int) -> str:
    first = f"PIL bicubic (antialiased) resize to {resolution}x{resolution}, then " if resolution else ""
    return f"largest centre square, {first}PIL bicubic (antialiased) resize to 299x299, RGB uint8"



def prepare_fid(im: Image.Image, resolution: int = 256) -> torch.Tensor:
    """The one preparation of generated and reference images: (3, 299, 299) uint8."""
    w, h = im.size
    s = min(w, h)
    im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
    if resolution and s != resolution:
        im = im.resize((resolution, resolution), Image.BICUBIC)
    im = im.resize((RESOLUTION, RESOLUTION), Image.BICUBIC)
    return torch.from_numpy(np.asarray(im, dtype=np.uint8).copy()).permute(2, 0, 1)  # (3, 299, 299)


class FolderImages(torch.utils.data.Dataset):
    """uint8 (3, 299, 299) tensors from image files; counts reads (tests check the cache)."""

    reads = 0

    def __init__(self, files: list[Path], resolution: int = 256):
        self.files, self.resolution = files, resolution

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        FolderImages.reads += 1
        return prepare_fid(imgs.load_rgb(self.files[i]), self.resolution)


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


def check_inputs(reference: Path | None, kid: bool = False, isc: bool = False, prc: bool = False,
                 inception_weights: Path | None = None, weights_dir: Path | None = None,
                 ref_stats: Path | None = None, save_stats: Path | None = None) -> tuple[Path, str, object]:
    """Everything but the generated images, checked before any work (eval-fid --n generates first):
    the Inception weights (path, sha256) and the reference side (its image files, or loaded statistics)."""
    wpath, wsha = find_weights("inception", inception_weights, weights_dir, trust_explicit=True)
    if ref_stats is None:
        return wpath, wsha, readable_images(reference, "reference")
    if save_stats is not None:
        raise VqtoolError("--save-stats writes the reference folder's statistics; with --ref-stats there is none")
    if kid or isc or prc:
        raise VqtoolError("--ref-stats gives FID only: KID, IS and precision/recall need the reference images")
    return wpath, wsha, load_stats(ref_stats)


def check_outputs(generated: Path, save_stats: Path | None, will_generate: bool) -> None:
    """The folders eval-fid writes, checked before any work: fid.json goes beside the generated
    images (and the samples themselves with --n), the statistics to ``save_stats``."""
    if will_generate or Path(generated).exists():
        check_writable(generated, "GENERATED")
    if save_stats is not None:
        check_writable(save_stats, "--save-stats", folder=False)


def compute_metrics(generated: Path, reference: Path | None, kid: bool = False, isc: bool = False,
                    prc: bool = False, inception_weights: Path | None = None, weights_dir: Path | None = None,
                    batch_size: int = 32, device: str = "auto", seed: int = 0,
                    feature_extractor: str = "inception-v3-compat", resolution: int = 256,
                    ref_stats: Path | None = None, save_stats: Path | None = None,
                    checked: tuple | None = None) -> dict:
    """Metrics and the protocol that produced them. ``ref_stats``: precomputed reference statistics
    instead of a reference folder (FID only); ``save_stats``: write the reference's statistics;
    ``checked``: what check_inputs returned for these arguments (not read again)."""
    gen = readable_images(generated, "generated")
    if len(gen) < 2:
        raise VqtoolError(f"FID needs at least 2 generated images (there are {len(gen)})")
    wpath, wsha, ref = checked or check_inputs(reference, kid, isc, prc, inception_weights, weights_dir, ref_stats,
                                               save_stats)
    cuda = torch.cuda.is_available() and device != "cpu"
    prep = protocol_text(resolution)
    if ref_stats is not None:
        gen_stats = folder_stats(gen, resolution, wpath, cuda, batch_size, feature_extractor)
        out, n_ref = {"fid": fid_from_stats(gen_stats, ref)}, int(ref.get("n", 0)) or None
        ref_side = f"precomputed statistics {Path(ref_stats).resolve()} (sha256 {sha256_of(Path(ref_stats))[:16]})"
        notes, cache = [], None
    else:
        out, notes, cache = _torch_fidelity(gen, ref, kid, isc, prc, wpath, wsha, cuda, batch_size, seed,
                                            feature_extractor, resolution)
        n_ref, ref_side = len(ref), prep
        if save_stats is not None:
            save_stats_file(save_stats, folder_stats(ref, resolution, wpath, cuda, batch_size, feature_extractor),
                            len(ref), prep)
    comparable = wsha.startswith(REGISTRY["inception"].sha256_prefix)
    if not comparable:  # --inception-weights named another file: used as asked, and said
        notes.append(f"--inception-weights {wpath} is not the published Inception file (sha256 {wsha[:16]}…, "
                     f"published {REGISTRY['inception'].sha256_prefix}…): this score is not comparable with "
                     "published FIDs")
    if min(len(gen), n_ref or 0) < 50000:
        notes.append(f"fewer than 50k images ({len(gen)} generated, {n_ref or 'unknown'} reference): "
                     "FID is biased upwards and not comparable to published 50k numbers")
    import torch_fidelity

    protocol = {
        "generated": str(Path(generated).resolve()),
        "reference": str(Path(ref_stats or reference).resolve()), "n_generated": len(gen), "n_reference": n_ref,
        "preprocess": prep, "preprocess_generated": prep, "preprocess_reference": ref_side,
        "feature_extractor": feature_extractor, "weights": str(wpath), "weights_sha256": wsha,
        "torch_fidelity": torch_fidelity.__version__, "seed": seed, "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "weights_published": comparable,
        "reference_cache": cache, "saved_stats": str(Path(save_stats).resolve()) if save_stats else None,
        "notes": notes,
    }
    return {"metrics": out, "protocol": protocol}


def _torch_fidelity(gen, ref, kid, isc, prc, wpath, wsha, cuda, batch_size, seed, feature_extractor, resolution):
    import torch_fidelity

    if len(ref) < 2:
        raise VqtoolError(f"FID needs at least 2 images on each side (generated {len(gen)}, reference {len(ref)})")
    kw = dict(input1=FolderImages(gen, resolution), input2=FolderImages(ref, resolution), fid=True, kid=kid,
              isc=isc, prc=prc, cuda=cuda, batch_size=batch_size, verbose=False, feature_extractor=feature_extractor,
              feature_extractor_weights_path=str(wpath), cache_root=str(cache_dir()), cache=True,
              input2_cache_name=f"vqtool-ref-{fingerprint(ref, protocol_text(resolution) + wsha + feature_extractor)}",
              save_cpu_ram=True, rng_seed=seed % 2**32)  # numpy RandomState takes 32 bits
    notes = []
    if kid:
        subset = min(1000, len(gen), len(ref))
        if subset < 1000:
            notes.append(f"KID subset size lowered from 1000 to {subset} (the smaller side's image count)")
        kw["kid_subset_size"] = subset
    m = torch_fidelity.calculate_metrics(**kw)
    out = {"fid": float(m["frechet_inception_distance"])}
    if kid:
        out |= {"kid": float(m["kernel_inception_distance_mean"]), "kid_std": float(m["kernel_inception_distance_std"])}
    if isc:
        out |= {"isc": float(m["inception_score_mean"]), "isc_std": float(m["inception_score_std"])}
    if prc:
        out |= {"precision": float(m["precision"]), "recall": float(m["recall"])}
    bad = {k: v for k, v in out.items() if not np.isfinite(v)}
    if bad:
        raise VqtoolError(f"{', '.join(bad)} came out {list(bad.values())[0]} over {len(gen)} generated and {len(ref)} "
                          "reference images: too few images, or all alike (the covariance is degenerate)")
    return out, notes, kw["input2_cache_name"]


def folder_stats(files: list[Path], resolution: int, wpath, cuda: bool, batch_size: int = 32,
                 feature_extractor: str = "inception-v3-compat") -> dict:
    """{"mu": (2048,), "sigma": (2048, 2048)} float64 Inception statistics of prepared images."""
    from torch_fidelity.metric_fid import fid_featuresdict_to_statistics
    from torch_fidelity.utils import create_feature_extractor, get_featuresdict_from_dataset

    fe = create_feature_extractor(feature_extractor, [str(FEATURES)], cuda=cuda,
                                  feature_extractor_weights_path=str(wpath))
    fd = get_featuresdict_from_dataset(FolderImages(files, resolution), fe, batch_size, cuda, True, False)
    st = fid_featuresdict_to_statistics(fd, str(FEATURES))
    return {"mu": np.asarray(st["mu"], np.float64), "sigma": np.asarray(st["sigma"], np.float64)}


def fid_from_stats(a: dict, b: dict) -> float:
    from torch_fidelity.metric_fid import fid_statistics_to_metric

    try:
        fid = float(fid_statistics_to_metric({k: np.asarray(a[k], np.float64) for k in ("mu", "sigma")},
                                             {k: np.asarray(b[k], np.float64) for k in ("mu", "sigma")},
                                             False)["frechet_inception_distance"])
    except (np.linalg.LinAlgError, ValueError) as e:
        raise VqtoolError(f"FID cannot be computed from these statistics ({e}); is sigma a covariance matrix?") from None
    if not np.isfinite(fid) or fid < -1e-3:  # a distance: below zero only by rounding
        raise VqtoolError(f"FID came out {fid:.4g}: the statistics are degenerate (is sigma a covariance matrix?)")
    return fid


def load_stats(path: Path) -> dict:
    """Reference statistics from an npz with ``mu`` and ``sigma``; anything else is a DataError."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"reference statistics not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (OSError, ValueError) as e:
        raise DataError(f"{path} is not an npz file of reference statistics ({e})") from None
    missing = [k for k in ("mu", "sigma") if k not in data]
    if missing:
        raise DataError(f"{path} has no {' or '.join(missing)} (it holds {', '.join(data) or 'nothing'}); "
                        "reference statistics need mu (2048,) and sigma (2048, 2048)")
    mu, sigma = data["mu"], data["sigma"]
    if mu.shape != (FEATURES,) or sigma.shape != (FEATURES, FEATURES):
        raise DataError(f"{path}: mu is {mu.shape} and sigma {sigma.shape}, but the Inception features have "
                        f"{FEATURES} dimensions (mu ({FEATURES},), sigma ({FEATURES}, {FEATURES}))")
    for name, a in (("mu", mu), ("sigma", sigma)):
        if a.dtype.kind not in "fiu":
            raise DataError(f"{path}: {name} holds {a.dtype} values, not numbers; reference statistics are float arrays")
        bad = int(np.count_nonzero(~np.isfinite(a.astype(np.float64))))
        if bad:
            raise DataError(f"{path}: {name} has {bad} non-finite value(s) (NaN or inf); the statistics are broken: "
                            "make them again with `vqtool eval-fid REF_FOLDER GEN --save-stats FILE.npz`")
    out = {"mu": mu.astype(np.float64), "sigma": sigma.astype(np.float64)}
    if "n" in data:
        try:
            out["n"] = int(data["n"])
        except (TypeError, ValueError):
            raise DataError(f"{path}: n is {data['n'].dtype} {data['n'].shape}, not an image count") from None
    return out


def save_stats_file(path: Path, stats: dict, n: int, protocol: str) -> Path:
    from vqtool.core.io.checkpoint import atomic_write

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    def write(f):
        np.savez(f, mu=stats["mu"], sigma=stats["sigma"], n=np.int64(n), protocol=np.array(protocol))
    atomic_write(path, write)
    return path


def write_result(folder: Path, result: dict) -> Path:
    from vqtool.core.io.checkpoint import atomic_write

    path = Path(folder) / "fid.json"
    atomic_write(path, lambda f: f.write(json.dumps(result, indent=1).encode()))
    return path


def reference_from_model(model: Path) -> Path:
    """The image folder recorded in a transformer checkpoint's token manifest."""
    from vqtool.core.io import checkpoint as ck

    c = ck.load_checkpoint(model)
    src = (c.get("manifest") or {}).get("source")
    if not src:
        raise VqtoolError(f"{model} records no token manifest (no reference image folder); give REFERENCE")
    return Path(src)
