"""Files made by the previous release's own code (tests/fixtures/release-0.1, made by its make.sh at
commit d1169f0): its checkpoints, shard folders and the images its transformers sampled. Today's code
must load them unchanged and sample the same images, byte for byte."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests_helpers import ok

FILES = Path(__file__).parent / "fixtures" / "release-0.1" / "files"
WHERE = "/tmp/relfix"  # where make.sh wrote them (recorded in the manifests)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    """A copy of the release files with the manifests' paths moved to where the copy is."""
    d = tmp_path_factory.mktemp("release") / "files"
    shutil.copytree(FILES, d)
    for m in d.glob("*/manifest.json"):
        m.write_text(m.read_text().replace(WHERE, str(d)))
    return d


SAMPLES = [  # (model, options, folder of the release's PNGs)
    ("seg", ["--cond", "map.png", "--size", "56x44", "--n", "2", "--seed", "7"], "seg"),
    ("seg", ["--cond", "map.png", "--size", "56x44", "--n", "1", "--seed", "7", "--mode", "fast"], "seg-fast"),
    ("seg-local", ["--cond", "map.png", "--size", "56x44", "--n", "2", "--seed", "7"], "seg-local"),
    ("seg-local", ["--cond", "map.png", "--size", "56x44", "--n", "1", "--seed", "7", "--mode", "fast"],
     "seg-local-fast"),
    ("class", ["--class", "lake", "--size", "56x44", "--n", "2", "--seed", "7", "--cfg", "2"], "class"),
    ("class", ["--size", "40x40", "--n", "1", "--seed", "3"], "class-null"),
    ("class-local", ["--class", "lake", "--size", "56x44", "--n", "2", "--seed", "7", "--cfg", "2"], "class-local"),
    ("class-local", ["--size", "40x40", "--n", "1", "--seed", "3"], "class-local-null"),
]


@pytest.mark.parametrize("model,options,expected", SAMPLES, ids=[s[2] for s in SAMPLES])
def test_release_transformers_sample_the_release_images(files, tmp_path, model, options, expected):
    opts = [files / o if o == "map.png" else o for o in options]
    r = ok(["sample", "--model", files / model / "last.pt", *opts, "--out", tmp_path / "s", "--device", "cpu"])
    got = [Path(p) for p in r.stdout.split()]
    want = sorted((files / "samples" / expected).glob("*.png"))
    assert [p.name for p in got] == [p.name for p in want]
    for a, b in zip(got, want):
        assert _same_tokens(Image.open(a), Image.open(b)), a.name


def _same_tokens(a: Image.Image, b: Image.Image) -> bool:
    """The same image up to the decoder's last rounding: another CPU's float kernels (AVX512 against
    AVX2) move a few pixel values by one level; a different sampled token changes a whole block by far more."""
    x, y = (np.asarray(im.convert("RGB"), dtype=np.int16) for im in (a, b))
    return x.shape == y.shape and int(np.abs(x - y).max()) <= 1


def test_release_vqgans_load_and_reconstruct(files, tmp_path):
    import vqtool

    for name in ("vqgan", "seg-vqgan"):
        r = ok(["info", files / name / "last.pt", "--json"])
        assert json.loads(r.stdout)["step"] == 3
    m = vqtool.load(files / "vqgan" / "last.pt", device="cpu")
    idx = vqtool.encode(m, files / "samples" / "seg" / "map-56x44-s7-exact-0000.png")
    assert idx.shape == (11, 14) and 0 <= int(idx.min()) and int(idx.max()) < 32
    ok(["eval-recon", files / "scenes" / "seg", "--vqgan", files / "seg-vqgan" / "last.pt", "--size", "32",
        "--no-rfid"])


def test_release_shard_folders_train_and_resume(files, tmp_path):
    """The release's shard folders train a transformer today; the release's runs resume on them."""
    for shards in ("shards", "class-shards"):
        r = ok(["info", files / shards, "--json"])
        assert json.loads(r.stdout)["samples"] == 5
    run = tmp_path / "seg"
    shutil.copytree(files / "seg", run)
    ok(["train-transformer", files / "shards", "--out", run, "--resume", "--set", "train.max_steps=3", "--force"])
    assert torch.load(run / "last.pt", weights_only=True)["step"] == 3
    ok(["train-transformer", files / "class-shards", "--out", tmp_path / "new", "--force", "--set",
        "train.max_steps=1", "--set", "data.window=4", "--set", "gpt.n_layer=1", "--set", "gpt.n_embd=16",
        "--set", "gpt.n_head=2", "--set", "train.image_every=0"])


# the shipped demo models (vqtool/_demo, stored by the previous release) sampled by the previous
# release's code: its PNGs (tests/golden/shipped; the sha256 of their pixels was pinned before, which
# another CPU's float kernels broke by one level in one pixel)
DEMO = {("transformer", "seg"): 1, ("class-transformer", "class"): 2}
GOLDEN = Path(__file__).parent / "golden" / "shipped"


@pytest.mark.parametrize("name,kind", list(DEMO))
def test_shipped_demo_models_sample_the_previous_release_images(tmp_path, name, kind):
    import os

    from vqtool.app.demo_models import shipped_checkpoint

    model = shipped_checkpoint(name)
    opts = (["--cond", FILES / "scenes" / "seg" / "lake" / "00001.png", "--size", "320x208", "--seed", "3"]
            if kind == "seg" else ["--class", "lake", "--cfg", "2", "--n", "2", "--seed", "5"])
    r = ok(["sample", "--model", model, *opts, "--out", tmp_path, "--device", "cpu"])
    got = r.stdout.split()
    assert len(got) == DEMO[(name, kind)]
    for i, p in enumerate(got):
        want = GOLDEN / f"{name}-{i}.png"
        if os.environ.get("REGENERATE"):
            want.parent.mkdir(exist_ok=True)
            shutil.copy(p, want)
        assert _same_tokens(Image.open(p), Image.open(want)), want.name


# the demo models shipped since (issue 27): sha256 of the pixels they sample from a small make-scenes
# scene, so that a changed file or a changed sampler is seen
SHIPPED_SINCE = {"depth-transformer": "e305cd43c2419907c41debc311a2c66d0ade1971fff27ab08dc4fa184b2ec8c2",
                 "sr-transformer": "3bd0c5cc1c7176a3a0f8355d4ddf1969c82c2b4cb6c8cd294cc1656a5a4fdddd",
                 # coarse to fine: its 12x8 thumbnail is a grid smaller than the coarse model's window, sampled
                 # with the training window's positions since 2026-12-07 (before: 8e274992...)
                 "fine-transformer": "dca672d8637e695e416111cf56cfc180522476319bfe8afdbd1227b619ede37f"}


@pytest.mark.parametrize("name", list(SHIPPED_SINCE))
def test_shipped_depth_superres_and_coarse_to_fine_models_sample_their_images(tmp_path, name):
    import hashlib

    from vqtool.app.demo_models import shipped_checkpoint
    from vqtool.data.scenes import make_scenes

    make_scenes(tmp_path / "s", 1, 96, 64, seed=3, depth=True)
    if name == "depth-transformer":
        # guided towards its map, as the demo samples it (trained with map dropout)
        opts = ["--cond", f"depth={next((tmp_path / 's' / 'depth').rglob('*.png'))}", "--size", "96x64", "--cfg", "4"]
    elif name == "fine-transformer":  # coarse to fine: the coarse model's thumbnail, then the fine model
        opts = ["--coarse", shipped_checkpoint("coarse-transformer"), "--size", "96x64",
                "--cond", str(next((tmp_path / "s" / "seg").rglob("*.png")))]
    else:
        small = tmp_path / "small.png"
        Image.open(next((tmp_path / "s" / "images").rglob("*.png"))).resize((24, 16), Image.BICUBIC).save(small)
        opts = ["--cond", f"lowres={small}"]
    # one thread: a float sum split over threads may round differently and flip a sampled token
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        r = ok(["sample", "--model", shipped_checkpoint(name), *opts, "--seed", "3", "--out", tmp_path / "o",
                "--device", "cpu"])
    finally:
        torch.set_num_threads(threads)
    im = Image.open(r.stdout.split()[0]).convert("RGB")
    assert im.size == (96, 64)
    assert hashlib.sha256(np.asarray(im).tobytes()).hexdigest() == SHIPPED_SINCE[name]


def test_unpacked_history_of_each_shipped_model_is_its_own_files(tmp_path):
    """A model retrained and shipped again (super-resolution, December 2026) carries its new run's
    history; the files shipped before it carry the old one. The demo's report shows the new one."""
    from vqtool.app.demo_models import SHIPPED, shipped_checkpoint, unpack
    from vqtool.core.formats import TransformerCheckpoint

    history = unpack(tmp_path)
    for name in SHIPPED:
        own = TransformerCheckpoint.load(shipped_checkpoint(name)).demo["history"]
        assert history[name] == own[name], name
    assert TransformerCheckpoint.load(tmp_path / "sr-transformer" / "last.pt").layout.conditions[0].upscaled
