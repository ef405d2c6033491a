"""The GPU path: run on a machine with CUDA (skipped, with that reason, where there is none).

Sampling (exact, fast, class with CFG, seg), a few steps of both trainers with bf16 autocast and
with torch.compile, tiled decoding and eval-recon, all on cuda; where a CPU twin exists the
result is compared with it."""

import json

import pytest
import torch
from PIL import Image

from tests_helpers import TINY_GPT_WINDOW4, TINY_SEG, label_map, ok, tiny_transformer

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("cuda-models")
    return {"seg": tiny_transformer(d / "seg.pt", "seg"), "guided": tiny_transformer(d / "guided.pt", "class",
                                                                                   class_dropout=0.1),
            "map": label_map(d / "map.png", (44, 36))}


@pytest.mark.parametrize("mode", ["exact", "fast"])
def test_sampling_on_cuda(models, tmp_path, mode):
    r = ok(["sample", "--model", models["seg"], "--cond", models["map"], "--size", "45x37", "--n", 3, "--seed", 42,
            "--mode", mode, "--device", "cuda", "--out", tmp_path / "g"])
    assert all(Image.open(p).size == (45, 37) for p in r.stdout.split())
    # the same draw on both devices: GPU kernels round differently, so a token whose uniform falls
    # right on a CDF boundary may differ, but nearly all tokens agree
    from vqtool.core.sampling import Rule
    from vqtool.pipeline.bundle import load_transformer

    grids = []
    for dev in ("cpu", "cuda"):
        b = load_transformer(models["seg"], dev)
        cond = b.layout.to(b.layout.random_tokens(2, 9, 11, torch.Generator().manual_seed(0)), dev)
        grids.append(b.sampler.sample(b.gpt, b.layout, 9, 11, cond, Rule(seed=42), mode).cpu())
    assert (grids[0] == grids[1]).float().mean() > 0.9


def test_class_cfg_on_cuda(models, tmp_path):
    r = ok(["sample", "--model", models["guided"], "--class", "lake", "--cfg", 3, "--n", 4, "--batch-size", 2,
            "--device", "cuda", "--seed", 9007199254740993, "--out", tmp_path / "a", "--size", "40x24"])
    b = ok(["sample", "--model", models["guided"], "--class", "lake", "--cfg", 3, "--n", 4, "--batch-size", 4,
            "--device", "cuda", "--seed", 9007199254740993, "--out", tmp_path / "b", "--size", "40x24"])
    assert [Image.open(p).tobytes() for p in r.stdout.split()] == [Image.open(p).tobytes() for p in b.stdout.split()]


@pytest.mark.parametrize("extra", [[], ["--set", "train.compile=true"]])
def test_vqgan_trainer_bf16_on_cuda(tmp_path, scenes, tiny_recipe, extra):
    r = ok(["train-vqgan", scenes / "images", "--recipe", tiny_recipe, "--out", tmp_path / "v", "--device", "cuda",
            "--set", "train.amp=\"bf16\"", "--json"] + extra)
    s = json.loads(r.stdout)
    assert s["step"] == 4 and all(v == v for v in s["last"].values())  # no NaN
    ok(["train-vqgan", scenes / "seg", "--seg", "--recipe", _write(tmp_path / "s.toml", TINY_SEG), "--out",
        tmp_path / "s", "--device", "cuda"] + extra)
    r = ok(["eval-recon", scenes / "images", "--vqgan", tmp_path / "v/last.pt", "--device", "cuda", "--no-rfid",
            "--json", "--size", "32"])
    assert json.loads(r.stdout)["psnr"] > 0


@pytest.mark.parametrize("extra", [[], ["--set", "train.compile=true"]])
def test_transformer_trainer_bf16_on_cuda(tmp_path, scenes, tiny_recipe, extra):
    ok(["train-vqgan", scenes / "images", "--recipe", tiny_recipe, "--out", tmp_path / "v", "--device", "cuda"])
    ok(["tokenize", scenes / "images", "--out", tmp_path / "sh", "--vqgan", tmp_path / "v/last.pt", "--no-seg",
        "--size", "48", "--device", "cuda"])
    # image_every=3: the preview sampling (CUDA ids bug) runs after the save at step 3
    r = ok(["train-transformer", tmp_path / "sh", "--recipe", _write(tmp_path / "g.toml", TINY_GPT_WINDOW4), "--out",
            tmp_path / "g", "--device", "cuda", "--set", "train.image_every=3", "--json"] + extra)
    assert json.loads(r.stdout)["step"] == 6
    assert (tmp_path / "g" / "samples" / "sample-000003.png").is_file()


def test_tiled_decoding_on_cuda(models):
    from vqtool.core.tokenizer.tiles import decode
    from vqtool.pipeline.bundle import load_transformer

    b = load_transformer(models["seg"], "cuda")
    z = torch.randint(0, 16, (1, 40, 70), device="cuda")
    full = decode(b.first, z)
    tiled = decode(b.first, z, tile=32, overlap=8, max_tokens=16)
    assert tiled.shape == full.shape == (1, 3, 160, 280)
    assert (tiled.cpu() - full.cpu()).abs().mean() < 0.05


def _write(path, text):
    path.write_text(text)
    return path
