"""VQGANs across codebases (issue 29): diffusers' VQModel both ways, LlamaGen's VQ tokenizers in."""

import json
from pathlib import Path

import pytest
import torch

from tests_helpers import fail, ok, seeded_state

DATA = Path(__file__).parent / "data"


def _vqgan(path: Path, seed=0, **kw) -> Path:
    """A small random vqtool VQGAN with attention at its lowest level (16 px of 32), saved."""
    from vqtool.core.config import QuantizerConfig, VQGANModelConfig, to_dict
    from vqtool.core.io import checkpoint as ck
    from vqtool.core.tokenizer.vqgan import VQGAN

    torch.manual_seed(seed)
    q = QuantizerConfig(n_embed=16, embed_dim=8, **kw.pop("quantizer", {}))
    cfg = VQGANModelConfig(**{**dict(in_channels=3, out_channels=3, ch=8, ch_mult=[1, 2, 2], num_res_blocks=1,
                                     attn_resolutions=[8], resolution=32, z_channels=8, norm_groups=4), **kw},
                           quantizer=q)
    m = VQGAN(cfg)
    for p in m.parameters():
        p.data.normal_(0, 0.2)
    ck.save_checkpoint(path, {"format": ck.VQGAN, "encodes": "image", "step": 0, "data": None, "model": m.state_dict(),
                              "config": {"kind": "vqgan", "model": to_dict(cfg), "data": {"size": 32, "resize": 0}}})
    return path


def _ours(path):
    from vqtool.core.tokenizer.loading import load_vqgan

    return load_vqgan(path)[0].eval()


@torch.no_grad()
def test_an_exported_vqgan_is_a_diffusers_vqmodel_with_the_same_codes_and_pixels(tmp_path):
    from diffusers import VQModel

    v = _vqgan(tmp_path / "v.pt")
    r = json.loads(ok(["export", v, "--format", "diffusers", "--out", tmp_path / "d", "--json"]).stdout)
    assert r["format"] == "diffusers VQModel"
    theirs, ours = VQModel.from_pretrained(tmp_path / "d").eval(), _ours(v)
    x = torch.rand(2, 3, 32, 40, generator=torch.Generator().manual_seed(1)) * 2 - 1
    codes = ours.encode(x).indices
    their_codes = theirs.quantize(theirs.encode(x).latents)[2][2].view(codes.shape)
    assert torch.equal(codes, their_codes) and len(codes.unique()) > 3
    zq = theirs.quantize.get_codebook_entry(codes.flatten(), (2, *codes.shape[1:], 8))
    torch.testing.assert_close(theirs.decode(zq, force_not_quantize=True).sample, ours.decode_indices(codes),
                               atol=1e-4, rtol=0)
    ok(["convert", tmp_path / "d", "--out", tmp_path / "back.pt"])  # and back: the same weights exactly
    a, b = _ours(v).state_dict(), _ours(tmp_path / "back.pt").state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@torch.no_grad()
def test_a_diffusers_vqmodel_converts_exactly(tmp_path):
    from diffusers import VQModel

    torch.manual_seed(3)
    theirs = VQModel(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D", "AttnDownEncoderBlock2D"),
                     up_block_types=("AttnUpDecoderBlock2D", "UpDecoderBlock2D"), block_out_channels=(16, 32),
                     layers_per_block=1, latent_channels=8, num_vq_embeddings=32, norm_num_groups=8,
                     vq_embed_dim=4, sample_size=32).eval()
    for p in theirs.parameters():
        p.data.normal_(0, 0.2)
    theirs.save_pretrained(tmp_path / "d")
    ok(["convert", tmp_path / "d", "--out", tmp_path / "v.pt"])
    ours = _ours(tmp_path / "v.pt")
    x = torch.rand(1, 3, 24, 32, generator=torch.Generator().manual_seed(2)) * 2 - 1
    codes = ours.encode(x).indices
    assert torch.equal(codes, theirs.quantize(theirs.encode(x).latents)[2][2].view(codes.shape))
    zq = theirs.quantize.get_codebook_entry(codes.flatten(), (1, *codes.shape[1:], 4))
    torch.testing.assert_close(ours.decode_indices(codes), theirs.decode(zq, force_not_quantize=True).sample,
                               atol=1e-4, rtol=0)


@pytest.mark.parametrize("kw, message", [
    ({"quantizer": {"l2_norm": True}}, "its codebook is l2-normalised"),
    ({"quantizer": {"codebook_dim": 4}}, "its codes are looked up in 4 dimensions"),
    ({"norm": "channel"}, "the per-position channel norm"),
    ({"ch_mult": [2, 2, 2]}, "its first level is 2x wider than conv_in"),
])
def test_what_diffusers_cannot_hold_is_refused_with_the_reason(tmp_path, kw, message):
    v = _vqgan(tmp_path / "v.pt", **kw)
    fail(["export", v, "--format", "diffusers", "--out", tmp_path / "d"], message)
    assert not (tmp_path / "d").exists()


def test_a_diffusers_folder_vqtool_cannot_read_is_one_message(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    cfg = {"_class_name": "VQModel", "down_block_types": ["SomethingElse2D"], "up_block_types": ["UpDecoderBlock2D"],
           "block_out_channels": [8]}
    (d / "config.json").write_text(json.dumps(cfg))
    fail(["convert", d, "--out", tmp_path / "v.pt"], "a VQModel vqtool cannot hold (SomethingElse2D)")
    (d / "config.json").write_text(json.dumps({**cfg, "down_block_types": ["DownEncoderBlock2D"]}))
    (d / "diffusion_pytorch_model.bin").write_bytes(b"pickle")
    fail(["convert", d, "--out", tmp_path / "v.pt"], "a pickled .bin is not read")
    fail(["export", _vqgan(tmp_path / "v0.pt"), "--format", "tiff", "--out", tmp_path / "x"], "give vqtool or diffusers")
    assert not (tmp_path / "v.pt").exists()


@torch.no_grad()
def test_a_llamagen_tokenizer_gives_llamagen_codes_and_pixels(tmp_path, scenes):
    """A tiny LlamaGen-shaped VQ checkpoint ({"model": state_dict}, its tensors rebuilt from the shapes and
    seed in tests/data/llamagen_vq.json) converts to a vqtool VQGAN whose codes of two images are the ones
    LlamaGen's own vq_model.py computed, and whose decoded pixels match (tests/data/make_llamagen_data.py)."""
    ref = json.loads((DATA / "llamagen_vq.json").read_text())
    torch.save({"model": seeded_state(ref["shapes"], ref["seed"])}, tmp_path / "vq_tiny_c2i.pt")
    r = json.loads(ok(["convert", tmp_path / "vq_tiny_c2i.pt", "--out", tmp_path / "v.pt", "--json"]).stdout)
    assert r["from"] == "LlamaGen" and r["codebook"] == "64 x 8 (l2)" and r["factor"] == 2
    m = _ours(tmp_path / "v.pt")
    x = torch.rand(*ref["image_shape"], generator=torch.Generator().manual_seed(ref["image_seed"])) * 2 - 1
    codes = m.encode(x).indices
    assert codes.tolist() == ref["codes"]
    want = torch.tensor(ref["pixels"]).view(2, 3, 16, 24)
    torch.testing.assert_close(m.decode_indices(codes), want, atol=1e-4, rtol=0)
    ok(["tokenize", scenes / "images", "--vqgan", tmp_path / "v.pt", "--out", tmp_path / "sh", "--no-auto-cond"])
    assert "(l2)" in ok(["info", tmp_path / "v.pt"]).output
