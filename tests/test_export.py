"""Exported folders (issue 29): config.json + model.safetensors + README.md; every command loads them
and hf://OWNER/NAME from the Hub cache; the same images as the .pt; a changed folder is refused."""

import json
from pathlib import Path

import pytest

from tests_helpers import fail, ok, tiny_transformer


def _tiny_vqgan(path: Path) -> Path:
    import torch

    from vqtool.core.config import QuantizerConfig, VQGANModelConfig, to_dict
    from vqtool.core.io import checkpoint as ck
    from vqtool.core.tokenizer.vqgan import VQGAN

    torch.manual_seed(0)
    cfg = VQGANModelConfig(in_channels=3, out_channels=3, ch=8, ch_mult=[1, 2, 2], num_res_blocks=1, attn_resolutions=[],
                           resolution=32, z_channels=8, norm_groups=4, quantizer=QuantizerConfig(n_embed=16, embed_dim=8))
    m = VQGAN(cfg)
    m.quantize.embedding.weight.data.normal_()
    ck.save_checkpoint(path, {"format": ck.VQGAN, "encodes": "image", "step": 3, "data": None, "model": m.state_dict(),
                              "config": {"kind": "vqgan", "model": to_dict(cfg), "data": {"size": 32, "resize": 0}}})
    return path


def _hub_cache(tmp_path, folder: Path, repo="me/scenes") -> Path:
    """A Hugging Face cache holding ``folder`` as the main revision of ``repo`` (what a download leaves)."""
    import shutil

    root = tmp_path / "hf-cache" / f"models--{repo.replace('/', '--')}"
    sha = "0123456789abcdef0123456789abcdef01234567"
    shutil.copytree(folder, root / "snapshots" / sha)
    (root / "refs").mkdir()
    (root / "refs/main").write_text(sha)
    return tmp_path / "hf-cache"


@pytest.mark.parametrize("mode, extra", [("seg", {}), ("class", {}), ("seg-local", {"attention": "local"}),
                                         ("uncond", {})])
def test_an_exported_bundle_samples_the_same_images(tmp_path, monkeypatch, scenes, mode, extra):
    kind = mode.split("-")[0]
    m = tiny_transformer(tmp_path / "t.pt", mode=kind, **extra)
    r = json.loads(ok(["export", m, "--out", tmp_path / "x", "--json"]).stdout)
    assert r["format"] == "transformer" and sorted(p.name for p in (tmp_path / "x").iterdir()) == [
        "README.md", "config.json", "model.safetensors"]
    opts = {"seg": ["--cond", scenes / "seg/alpine/00000.png"], "class": ["--class", "lake"]}.get(kind, [])
    cache = _hub_cache(tmp_path, tmp_path / "x")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    runs = [ok(["sample", "--model", src, *opts, "--size", "40x24", "--n", "2", "--seed", 9007199254740993,
                "--out", tmp_path / f"s{i}"]).stdout.split() for i, src in enumerate([m, tmp_path / "x", "hf://me/scenes"])]
    bytes_ = [[Path(p).read_bytes() for p in run] for run in runs]
    assert bytes_[0] == bytes_[1] == bytes_[2] and len(bytes_[0]) == 2
    card = (tmp_path / "x/README.md").read_text()
    assert "vqtool sample --model x" in card and "library_name: vqtool" in card
    assert "transformer" in ok(["info", tmp_path / "x"]).output


def test_an_exported_vqgan_reconstructs_the_same_pixels(tmp_path, scenes):
    import vqtool

    v = _tiny_vqgan(tmp_path / "v.pt")
    ok(["export", v, "--out", tmp_path / "x"])
    im = next((scenes / "images").rglob("*.png"))
    a, b = (vqtool.load(p) for p in (v, tmp_path / "x"))
    codes = [vqtool.encode(x, im) for x in (a, b)]
    assert codes[0].equal(codes[1])
    assert vqtool.decode(a, codes[0]).tobytes() == vqtool.decode(b, codes[0]).tobytes()
    ok(["reconstruct", im, "--vqgan", tmp_path / "x", "--out", tmp_path / "r"])
    ok(["tokenize", scenes / "images", "--vqgan", tmp_path / "x", "--out", tmp_path / "sh", "--no-auto-cond"])


def _edit_config(folder: Path, fn):
    c = json.loads((folder / "config.json").read_text())
    fn(c)
    (folder / "config.json").write_text(json.dumps(c))


def test_a_changed_folder_is_refused_by_name(tmp_path):
    import shutil

    m = tiny_transformer(tmp_path / "t.pt")
    ok(["export", m, "--out", tmp_path / "x"])
    cases = {
        "bytes": "is not the file this folder was exported with",
        "shape": "tensor 'model/tok_emb.weight' is [",
        "missing": "holds tensors config.json does not list: ['model/tok_emb.weight']",
        "unknown": "tensor 'model/extra' of config.json is not in model.safetensors",
    }
    for case, message in cases.items():
        d = tmp_path / case
        shutil.copytree(tmp_path / "x", d)
        if case == "bytes":
            raw = bytearray((d / "model.safetensors").read_bytes())
            raw[-1] ^= 1
            (d / "model.safetensors").write_bytes(bytes(raw))
        elif case == "shape":
            _edit_config(d, lambda c: c["model"]["tok_emb.weight"].update(shape=[3, 3]))
        elif case == "missing":
            _edit_config(d, lambda c: c["model"].pop("tok_emb.weight"))
        else:
            _edit_config(d, lambda c: c["model"].update(extra={"__tensor__": "model/extra", "shape": [1], "dtype": "float32"}))
        fail(["sample", "--model", d, "--size", "16x16", "--out", tmp_path / "o"], message)
    assert not (tmp_path / "o").exists()


def test_export_and_hub_refusals(tmp_path, monkeypatch):
    import sys

    m = tiny_transformer(tmp_path / "t.pt")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy/notes.txt").write_text("mine")
    fail(["export", m, "--out", tmp_path / "busy"], "holds files that are not an exported model")
    assert (tmp_path / "busy/notes.txt").read_text() == "mine"
    ok(["export", m, "--out", tmp_path / "x"])
    ok(["export", m, "--out", tmp_path / "x"])  # an earlier export is replaced
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    fail(["sample", "--model", "hf://me/absent", "--size", "16x16", "--out", tmp_path / "o"],
         "hf://me/absent: cannot get it from the Hugging Face Hub")
    fail(["info", "hf://just-a-name"], "give a Hub model as hf://OWNER/NAME")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))  # no stored token
    fail(["export", m, "--out", tmp_path / "y", "--push", "me/scenes"], "--push: no Hugging Face token")
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # the extra not installed
    fail(["sample", "--model", "hf://me/scenes", "--out", tmp_path / "o"], "pip install 'vqtool[hub]'")
