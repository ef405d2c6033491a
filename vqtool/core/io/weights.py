"""Pretrained weights that live on the internet: the LPIPS VGG16 trunk and the FID Inception.

Lookup order: an explicit path, the weights folder (``--weights-dir``, env ``VQTOOL_WEIGHTS``),
then torch's hub cache. When none has the file it is downloaded into the weights folder (unless
``VQTOOL_OFFLINE=1``), and its sha256 is checked against the hash prefix the publisher put in
the file name (torch hub's own rule). Otherwise one message names the file and how to provide it.
"""

from __future__ import annotations

import hashlib
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import torch

from vqtool.core.errors import WeightsNotFound


@dataclass(frozen=True)
class WeightFile:
    key: str
    filename: str
    url: str
    sha256_prefix: str
    purpose: str


REGISTRY: dict[str, WeightFile] = {
    "vgg16": WeightFile(
        "vgg16",
        "vgg16-397923af.pth",
        "https://download.pytorch.org/models/vgg16-397923af.pth",
        "397923af",
        "LPIPS perceptual loss (torchvision ImageNet VGG16)",
    ),
    "inception": WeightFile(
        "inception",
        "weights-inception-2015-12-05-6726825d.pth",
        "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
        "weights-inception-2015-12-05-6726825d.pth",
        "6726825d",
        "FID Inception-v3 (torch-fidelity's conversion of the TF FID weights)",
    ),
}


def weights_dir(explicit: str | Path | None = None) -> Path:
    if explicit:
        return Path(explicit)
    if os.environ.get("VQTOOL_WEIGHTS"):
        return Path(os.environ["VQTOOL_WEIGHTS"])
    return Path(torch.hub.get_dir()) / "checkpoints"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def _verify(w: WeightFile, path: Path) -> str:
    digest = sha256_of(path)
    if not digest.startswith(w.sha256_prefix):
        raise WeightsNotFound(
            f"{path} has sha256 {digest[:16]}…, expected {w.sha256_prefix}…: the file is corrupt "
            f"or not {w.filename}. Delete it and run `vqtool fetch-weights` (or download {w.url})."
        )
    return digest


def find_weights(key: str, explicit: str | Path | None = None, weights_folder: str | Path | None = None,
                 download: bool = True, trust_explicit: bool = False) -> tuple[Path, str]:
    """Path and sha256 of the weights file ``key``; downloads it when it can. ``trust_explicit``: a
    file the user named is used whatever its hash (the caller says so); found or fetched ones are checked."""
    w = REGISTRY[key]
    if explicit:
        p = Path(explicit)
        if not p.is_file():
            raise WeightsNotFound(f"{w.purpose}: weights file {p} does not exist")
        return p, (sha256_of(p) if trust_explicit else _verify(w, p))
    folder = weights_dir(weights_folder)
    hub = Path(torch.hub.get_dir()) / "checkpoints"
    for cand in (folder / w.filename, hub / w.filename):
        if cand.is_file():
            return cand, _verify(w, cand)
    if download and os.environ.get("VQTOOL_OFFLINE", "0") != "1":
        try:
            return fetch(key, folder), sha256_of(folder / w.filename)
        except (OSError, RuntimeError):
            pass
    where = str(folder) if folder.resolve() == hub.resolve() else f"{folder} or {hub}"
    raise WeightsNotFound(
        f"{w.purpose}: {w.filename} (sha256 {w.sha256_prefix}…) was not found in {where} "
        f"and could not be downloaded. On a connected machine run `vqtool fetch-weights`, or download "
        f"{w.url} into a folder and point --weights-dir or VQTOOL_WEIGHTS at it."
    )


def fetch(key: str, folder: str | Path | None = None, progress: bool = False) -> Path:
    """Download one weights file into the weights folder and verify it."""
    w = REGISTRY[key]
    folder = weights_dir(folder)
    folder.mkdir(parents=True, exist_ok=True)
    dst = folder / w.filename
    if not dst.is_file():
        old = socket.getdefaulttimeout()
        socket.setdefaulttimeout(60)
        try:
            torch.hub.download_url_to_file(w.url, str(dst), hash_prefix=w.sha256_prefix, progress=progress)
        finally:
            socket.setdefaulttimeout(old)
    _verify(w, dst)
    return dst


# --------------------------------------------------------------------------- LPIPS

_VGG_SLICES = [(1, range(0, 4)), (2, range(4, 9)), (3, range(9, 16)), (4, range(16, 23)), (5, range(23, 30))]


def build_lpips(weights_folder: str | Path | None = None, trunk_path: str | Path | None = None):
    """lpips.LPIPS(net='vgg') with its trunk loaded from our weights lookup (never torchvision's
    implicit download); the linear heads ship inside the lpips wheel."""
    import lpips  # lazy: imports torchvision

    path, _ = find_weights("vgg16", trunk_path, weights_folder)
    sd = torch.load(path, map_location="cpu", weights_only=True)
    net = lpips.LPIPS(net="vgg", pretrained=True, pnet_rand=True, verbose=False)
    trunk = {}
    for s, idx in _VGG_SLICES:
        for i in idx:
            for p in ("weight", "bias"):
                if f"features.{i}.{p}" in sd:
                    trunk[f"slice{s}.{i}.{p}"] = sd[f"features.{i}.{p}"]
    missing, _ = net.net.load_state_dict(trunk, strict=False)
    if missing:
        raise WeightsNotFound(f"{path} is not a VGG16 state dict (missing {missing[:3]}…)")
    return net.eval().requires_grad_(False)
