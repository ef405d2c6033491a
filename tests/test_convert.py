"""Checkpoints in taming-transformers' key layout (randomly initialised, small) through convert-taming."""

import json
import os

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from typer.testing import CliRunner

from tests_helpers import fail, ok
from tests_helpers import lightning_file as _lightning
from test_taming_peer import _gpt as taming_gpt
from vqtool.core.config import QuantizerConfig, VQGANModelConfig
from vqtool.core.tokenizer.vqgan import VQGAN

runner = CliRunner()
DD = dict(double_z=False, z_channels=32, resolution=64, in_channels=3, out_ch=3, ch=32, ch_mult=[1, 1, 2],
          num_res_blocks=1, attn_resolutions=[16], dropout=0.0)


def _vq_state(in_ch=3, n_embed=32, seed=0):
    torch.manual_seed(seed)
    cfg = VQGANModelConfig(in_channels=in_ch, out_channels=in_ch, ch=32, ch_mult=[1, 1, 2], num_res_blocks=1,
                           attn_resolutions=[16], resolution=64, z_channels=32,
                           quantizer=QuantizerConfig(n_embed=n_embed, embed_dim=16))
    m = VQGAN(cfg)
    m.quantize.embedding.weight.data.normal_()
    return m.state_dict()


def _taming_vqgan(tmp_path, seg=False):
    sd = _vq_state(9 if seg else 3)
    # what a real VQModel file also holds: the loss (LPIPS + discriminator), and colorize for seg
    sd["loss.discriminator.main.0.weight"] = torch.randn(8, 3, 4, 4)
    sd["loss.perceptual_loss.lin0.model.1.weight"] = torch.randn(1, 64, 1, 1)
    if seg:
        sd["colorize"] = torch.randn(3, 9, 1, 1)
    return _lightning(sd, tmp_path, "seg.ckpt" if seg else "vq.ckpt"), sd


def test_vqmodel_conversion_is_exact_and_usable(tmp_path, scenes, tiny_recipe):
    ck, sd = _taming_vqgan(tmp_path)
    ok(["convert-taming", ck, "--out", tmp_path / "vq.pt"])
    c = torch.load(tmp_path / "vq.pt", weights_only=True)
    assert c["format"] == "vqtool.vqgan/1" and c["config"]["model"]["quantizer"]["legacy"] is True
    mc = c["config"]["model"]
    assert mc["ch_mult"] == [1, 1, 2] and mc["resolution"] // mc["attn_resolutions"][0] == 4  # attention at level 2
    assert not any(k.startswith("loss.") for k in c["model"])
    import vqtool

    m = vqtool.load(tmp_path / "vq.pt", device="cpu")
    for k, v in c["model"].items():
        assert torch.equal(v, sd[k])
    img = next((scenes / "images").rglob("*.png"))
    idx = vqtool.encode(m, img)
    assert idx.shape == (12, 16) and isinstance(vqtool.decode(m, idx), Image.Image)
    ok(["reconstruct", img, "--vqgan", tmp_path / "vq.pt", "--out", tmp_path / "rec"])
    r = ok(["info", tmp_path / "vq.pt", "--json"])
    assert json.loads(r.stdout)["factor"] == 4
    r = ok(["eval-recon", scenes / "images", "--vqgan", tmp_path / "vq.pt", "--json", "--no-rfid", "--size", "32"])
    assert json.loads(r.stdout)["images"] == 12
    ok(["tokenize", scenes / "images", "--vqgan", tmp_path / "vq.pt", "--out", tmp_path / "sh", "--no-seg",
        "--size", "32"])
    # fine-tuning a paper checkpoint: its architecture (legacy beta placement included) and weights, step 0
    ok(["train-vqgan", scenes / "images", "--recipe", tiny_recipe, "--init-from", tmp_path / "vq.pt",
        "--out", tmp_path / "ft", "--set", "train.max_steps=1", "--set", "optim.lr=0"])
    ft = torch.load(tmp_path / "ft" / "last.pt", weights_only=True)
    assert ft["config"]["model"] == mc and ft["step"] == 1
    assert all(torch.equal(ft["model"][k], v) for k, v in c["model"].items())


def test_gumbel_conversion(tmp_path):
    sd = {k: v for k, v in _vq_state().items() if not k.startswith("quantize.")}
    sd["quantize.proj.weight"] = torch.randn(40, 16, 1, 1)
    sd["quantize.proj.bias"] = torch.randn(40)
    sd["quantize.embed.weight"] = torch.randn(40, 16)
    ck = _lightning(sd, tmp_path)
    ok(["convert-taming", ck, "--out", tmp_path / "g.pt"])
    from vqtool.core.tokenizer.loading import load_vqgan

    m, _ = load_vqgan(tmp_path / "g.pt")
    x = torch.randn(1, 3, 32, 32)
    q = m.encode(x)
    logits = torch.nn.functional.conv2d(m.quant_conv(m.encoder(x)), sd["quantize.proj.weight"], sd["quantize.proj.bias"])
    assert torch.equal(q.indices, logits.argmax(1))  # the mode of taming's Gumbel sampler
    assert torch.allclose(q.quant, sd["quantize.embed.weight"][q.indices].permute(0, 3, 1, 2), atol=1e-6)


def _transformer_ckpt(tmp_path, mode="seg"):
    first = _vq_state(3, 32, seed=1)
    sd = {f"first_stage_model.{k}": v for k, v in first.items()}
    params = {"transformer_config": {"target": "taming.modules.transformer.mingpt.GPT",
                                     "params": {"vocab_size": 32, "n_layer": 2, "n_head": 2, "n_embd": 32}},
              "first_stage_config": {"target": "taming.models.vqgan.VQModel",
                                     "params": {"embed_dim": 16, "n_embed": 32, "ddconfig": DD}}}
    lc = 256 if mode == "seg" else 1
    torch.manual_seed(2)
    gpt = taming_gpt(32, lc + 255)  # the reference's minGPT (its state dict has the attn.mask buffers)
    for k, v in gpt.state_dict().items():
        sd[f"transformer.{k}"] = v
    if mode == "seg":
        cond = _vq_state(9, 32, seed=3)
        sd.update({f"cond_stage_model.{k}": v for k, v in cond.items()})
        sd["cond_stage_model.colorize"] = torch.randn(3, 9, 1, 1)
        params["cond_stage_config"] = {"target": "taming.models.vqgan.VQSegmentationModel",
                                       "params": {"n_labels": 9, "embed_dim": 16, "n_embed": 32, "ddconfig": {**DD, "in_channels": 9, "out_ch": 9}}}
    elif mode == "class":
        params["cond_stage_config"] = {"target": "taming.modules.util.Labelator", "params": {"n_classes": 5}}
    else:
        params["cond_stage_config"] = "__is_unconditional__"
        params["sos_token"] = 0
    cfg = {"model": {"base_learning_rate": 4.5e-6, "target": "taming.models.cond_transformer.Net2NetTransformer",
                     "params": params}}
    (tmp_path / "project.yaml").write_text(yaml.safe_dump(cfg))
    return _lightning(sd, tmp_path, f"{mode}.ckpt"), gpt


@pytest.mark.parametrize("mode", ["seg", "class", "uncond"])
def test_transformer_conversion_logits_and_sampling(tmp_path, mode, scenes):
    ck, ref_gpt = _transformer_ckpt(tmp_path, mode)
    ok(["convert-taming", ck, "--config", tmp_path / "project.yaml", "--out", tmp_path / "t.pt"])
    from vqtool.core.sampling import Rule
    from vqtool.core.sampling.window import sample_naive
    from vqtool.pipeline.bundle import load_transformer

    b = load_transformer(tmp_path / "t.pt")
    (c,) = b.layout.conditions
    assert c.kind == mode and c.offset == 0 and c.vocab == 0 and b.layout.window == 16  # taming shares ids
    x = torch.randint(0, 32, (2, 40))
    torch.testing.assert_close(b.gpt(x), ref_gpt(x)[0], rtol=1e-5, atol=1e-5)
    if mode == "seg":
        seg = next((scenes / "seg").rglob("*.png"))
        # 64x48 label map -> 16x12 grid; sample beyond the window at 96x72 -> 24x18 tokens
        r = ok(["sample", "--model", tmp_path / "t.pt", "--cond", seg, "--size", "96x72", "--top-k", "1",
                "--out", tmp_path / "s"])
        assert Image.open(r.stdout.split()[0]).size == (96, 72)
    elif mode == "class":
        ok(["sample", "--model", tmp_path / "t.pt", "--class", "3", "--top-k", "1", "--out", tmp_path / "s"])
        # greedy: taming's class token is the raw class id in the shared vocabulary
        cond = b.layout.tokens([{"class": 3}], 16, 16, b.stages, b.factor, {})
        assert cond[0].item() == 3
        z = sample_naive(b.gpt, b.layout, 16, 16, cond, Rule(top_k=1))
        seq = torch.tensor([[3]])
        for _ in range(256):  # taming's sample(): uncached, argmax of the last logits
            nxt = ref_gpt(seq)[0][:, -1, :32].argmax(-1, keepdim=True)
            seq = torch.cat([seq, nxt], 1)
        assert torch.equal(z.flatten(), seq[0, 1:])
    else:
        r = ok(["sample", "--model", tmp_path / "t.pt", "--top-k", "1", "--out", tmp_path / "s"])
        assert Image.open(r.stdout.split()[0]).size == (64, 64)
    r = ok(["info", tmp_path / "t.pt", "--json"])
    assert [c["kind"] for c in json.loads(r.stdout)["conditions"]] == [mode]


def test_conversion_bad_inputs(tmp_path):
    (tmp_path / "text.ckpt").write_text("not a checkpoint")
    fail(["convert-taming", tmp_path / "text.ckpt"], "not a checkpoint that can be read")
    fail(["convert-taming", tmp_path / "missing.ckpt"], "checkpoint not found")

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    torch.save({"state_dict": {}, "x": Evil()}, tmp_path / "evil.ckpt")
    fail(["convert-taming", tmp_path / "evil.ckpt"], "refusing to load: the pickle asks for posix.system")
    torch.save({"state_dict": {}, "x": np.random.default_rng(0)}, tmp_path / "unknown.ckpt")
    fail(["convert-taming", tmp_path / "unknown.ckpt"], "refusing to load")
    torch.save({"state_dict": {"foo.weight": torch.zeros(2)}}, tmp_path / "other.ckpt")
    fail(["convert-taming", tmp_path / "other.ckpt"], "unknown model type")
    ck, _ = _transformer_ckpt(tmp_path, "uncond")
    fail(["convert-taming", ck, "--out", tmp_path / "t.pt"], "pass the run's configs/*-project.yaml with --config")
    assert not (tmp_path / "t.pt").exists()
    # a taming file handed to a command that wants a vqtool checkpoint
    vq, _ = _taming_vqgan(tmp_path)
    fail(["info", vq], "convert-taming")
