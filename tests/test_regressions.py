"""One test per bug of the 'correct on every path' issue: each failed before its fix."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from tests_helpers import TINY_GPT_WINDOW4, label_map, ok, tiny_transformer
from vqtool.core.config import LossConfig, QuantizerConfig


# --------------------------------------------------------------------------- device placement


@pytest.mark.parametrize("mode", ["exact", "fast"])
@pytest.mark.parametrize("kind", ["seg", "class", "uncond"])
def test_sampler_creates_tensors_on_the_device_it_meets(tmp_path, kind, mode):
    """Run the whole sampler on the meta device: any tensor made on the CPU next to a meta tensor
    (the CUDA bug: per-sample ids on the CPU, logits on the GPU) raises a device mismatch."""
    from vqtool.core.sampling import Rule
    from vqtool.pipeline.bundle import load_transformer

    b = load_transformer(tiny_transformer(tmp_path / "t.pt", kind, class_dropout=0.1))
    gpt = b.gpt.to("meta")
    h, w = 6, 9  # beyond the 4x4 window: the sliding-window groups run
    cond = b.layout.to(b.layout.random_tokens(2, h, w, torch.Generator().manual_seed(0)), "meta")
    z = b.sampler.sample(gpt, b.layout, h, w, cond, Rule(seed=42, guidance=2.0 if kind == "class" else None), mode)
    assert z.device.type == "meta" and z.shape == (2, h, w)


def test_draw_follows_the_logits_device():
    from vqtool.core.sampling.rule import draw, position_uniform

    u = position_uniform(7, torch.arange(2, device="meta"), 0, 0)
    assert u.device.type == "meta"
    assert draw(torch.zeros(2, 5, device="meta"), u).device.type == "meta"


# --------------------------------------------------------------------------- trainers


def test_transformer_checkpoint_is_written_before_the_preview(tmp_path, monkeypatch):
    """A preview that fails (as sampling did on CUDA) must not cost the step's checkpoint."""
    from vqtool.core.config import build_recipe
    from vqtool.train.transformer import train_transformer

    shards = _token_shards(tmp_path)
    recipe = build_recipe(_toml(TINY_GPT_WINDOW4), ["train.image_every=3", "train.ckpt_every=3"], kinds=("transformer",))

    def broken_preview(*a, **k):
        raise RuntimeError("preview failed")

    with pytest.raises(RuntimeError, match="preview failed"):
        train_transformer(shards, tmp_path / "run", recipe, sample_hook=broken_preview, device="cpu")
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=True)["step"] == 3


def _toml(text):
    import tomllib

    return tomllib.loads(text)


def _token_shards(tmp_path):
    """Uncond shards of random 6x6 grids, written with the shard writer."""
    from vqtool.core.io import checkpoint as ck
    from vqtool.core.config import QuantizerConfig, VQGANModelConfig, to_dict
    from vqtool.core.tokenizer.vqgan import VQGAN
    from vqtool.data import shards as sh

    cfg = VQGANModelConfig(ch=8, ch_mult=[1, 2, 2], num_res_blocks=1, attn_resolutions=[], resolution=32, z_channels=8,
                           norm_groups=4, quantizer=QuantizerConfig(n_embed=16, embed_dim=8))
    vq = VQGAN(cfg)
    ck.save_checkpoint(tmp_path / "vq.pt", {"format": ck.VQGAN, "config": {"kind": "vqgan", "model": to_dict(cfg),
                                                                           "data": {"size": 32}},
                                            "model": vq.state_dict(), "step": 0, "data": None})
    rng = np.random.default_rng(0)
    out = tmp_path / "shards"
    out.mkdir()
    samples = [{"__key__": f"{k:09d}", "tokens.npy": rng.integers(0, 16, (6, 6)).astype(np.uint16), "json": {}}
               for k in range(8)]
    sh.write_shard(out / "train-000000.tar", samples, {"skipped": {}})
    counts = np.bincount(np.concatenate([s["tokens.npy"].ravel() for s in samples]).astype(np.int64))
    sh.write_manifest(out, sh.Manifest(
        source=str(tmp_path), vqgan=str(tmp_path / "vq.pt"), vqgan_fingerprint=ck.state_fingerprint(vq.state_dict()),
        codebook_size=16, factor=4, grid_counts=[[[6, 6], 8]], shards=[{"name": "train-000000.tar", "count": 8}],
        code_entropy_bits=sh.entropy_bits(counts), codes_used=int((counts > 0).sum())))
    return out


def test_lpips_and_discriminator_leave_bf16_autocast():
    from vqtool.core.tokenizer.losses import VQGANLoss

    seen = {}

    class Perceptual(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3)

        def forward(self, a, b):
            y = self.conv(a - b)
            seen["lpips"] = y.dtype
            return y.abs().mean((1, 2, 3), keepdim=True)

    loss = VQGANLoss(LossConfig(disc_start=0, disc_num_layers=1, disc_ndf=8), 3, Perceptual())
    loss.discriminator.register_forward_hook(lambda m, i, o: seen.setdefault("disc", []).append(o.dtype))
    x = torch.randn(2, 3, 16, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        xrec = torch.nn.Conv2d(3, 3, 1)(x)  # a bf16 reconstruction, as under autocast
        assert xrec.dtype == torch.bfloat16
        loss.generator_loss(x, xrec.float(), torch.zeros(()), step=1, last_layer=None)
        loss.discriminator_loss(x, xrec.float())
    assert seen["lpips"] == torch.float32
    assert seen["disc"] and all(d == torch.float32 for d in seen["disc"])


def test_generator_and_discriminator_have_separate_nonfinite_guards():
    from vqtool.core.errors import VqtoolError
    from vqtool.train.common import NonFiniteGuard

    g, d = NonFiniteGuard("generator loss"), NonFiniteGuard("discriminator loss")
    nan, one = torch.tensor(float("nan")), torch.tensor(1.0)
    for _ in range(19):
        assert not g.ok(nan, lambda m: None)
        assert d.ok(one, lambda m: None)  # a finite D loss must not reset G's run
    with pytest.raises(VqtoolError, match="20 non-finite generator loss"):
        g.ok(nan, lambda m: None)


# --------------------------------------------------------------------------- quantizer


def test_dead_code_threshold_does_not_depend_on_batch_size():
    from vqtool.core.tokenizer.quantize import VectorQuantizer

    cfg = QuantizerConfig(n_embed=8, embed_dim=4, restart_dead=True, restart_every=10, restart_threshold=0.5)
    small, large = VectorQuantizer(cfg), VectorQuantizer(cfg)
    counts = torch.tensor([10.0, 6, 4, 3, 1, 0, 0, 8])  # shares of a uniform use: 2.5 1.5 1 .75 .25 0 0 2
    restarted = {}
    for name, vq, scale in (("small", small, 1), ("large", large, 16)):  # 16x the batch (or 16 GPUs)
        vq.restart_codes = lambda dead, new, name=name: restarted.setdefault(name, dead.tolist())
        for _ in range(9):
            vq._maybe_restart(torch.zeros(1, 4), counts * scale)
        torch.testing.assert_close(vq.usage_ema, counts / 4 * 0.9)  # the window's mean share so far
        vq._maybe_restart(torch.zeros(1, 4), counts * scale)  # the 10th step: the check
    assert restarted["small"] == restarted["large"] == [False, False, False, False, True, True, True, False]


def test_dead_codes_restart_within_the_first_window():
    """A code unused for restart_every steps is restarted then, not hundreds of steps later (the old
    0.99-EMA waited ~400 steps while a collapse set in)."""
    from vqtool.core.tokenizer.quantize import VectorQuantizer

    cfg = QuantizerConfig(n_embed=8, embed_dim=4, restart_dead=True, restart_every=25, restart_threshold=0.01)
    vq = VectorQuantizer(cfg)
    seen = []
    vq.restart_codes = lambda dead, new: seen.append(int(dead.sum()))
    for _ in range(25):
        vq._maybe_restart(torch.zeros(4, 4), torch.tensor([4.0, 0, 0, 0, 0, 0, 0, 0]))
    assert seen == [7]


# --------------------------------------------------------------------------- shards


def test_codebooks_beyond_uint16_keep_their_ids(tmp_path):
    from vqtool.core.io import checkpoint as ck
    from vqtool.core.config import VQGANModelConfig, to_dict
    from vqtool.core.tokenizer.vqgan import VQGAN
    from vqtool.data import shards as sh

    assert sh.code_dtype(65536) == np.uint16 and sh.code_dtype(65537) == np.uint32
    torch.manual_seed(0)
    cfg = VQGANModelConfig(ch=8, ch_mult=[1, 2], num_res_blocks=1, attn_resolutions=[], resolution=16, z_channels=4,
                           norm_groups=4, quantizer=QuantizerConfig(n_embed=70000, embed_dim=4))
    vq = VQGAN(cfg)
    w = vq.quantize.embedding.weight.data
    w.fill_(100.0)
    w[[5, 65536, 69999]] = torch.randn(3, 4) * 0.1  # only ids above 65535 (and 5) are ever chosen
    ck.save_checkpoint(tmp_path / "vq.pt", {"format": ck.VQGAN, "config": {"kind": "vqgan", "model": to_dict(cfg),
                                                                           "data": {"size": 16}},
                                            "model": vq.state_dict(), "step": 0, "data": None})
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    for k in range(3):
        Image.fromarray(np.random.default_rng(k).integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(imgs / f"{k}.png")
    ok(["tokenize", imgs, "--out", tmp_path / "sh", "--vqgan", tmp_path / "vq.pt", "--val", "0"])
    from vqtool.data import images as im

    grid = sh.read_shard(tmp_path / "sh" / "train-000000.tar")[0]
    x = im.to_tensor(im.load_rgb(imgs / "0.png"))[None]
    want = vq.eval().encode(x).indices[0].numpy()
    assert want.max() > 65535 and np.array_equal(grid["tokens.npy"].astype(np.int64), want)


# --------------------------------------------------------------------------- eval-recon


def test_eval_recon_three_class_segmentation_vqgan(tmp_path):
    from vqtool.core.io import checkpoint as ck
    from vqtool.core.config import VQGANModelConfig, to_dict
    from vqtool.core.tokenizer.vqgan import VQGAN

    cfg = VQGANModelConfig(in_channels=3, out_channels=3, ch=8, ch_mult=[1, 2], num_res_blocks=1, attn_resolutions=[],
                           resolution=16, z_channels=4, norm_groups=4, quantizer=QuantizerConfig(n_embed=8, embed_dim=4))
    ck.save_checkpoint(tmp_path / "seg.pt", {"format": ck.VQGAN, "encodes": "seg", "config": {"kind": "seg-vqgan", "model": to_dict(cfg),
                                                                                "data": {"size": 16}},
                                             "model": VQGAN(cfg).state_dict(), "step": 0, "data": None})
    maps = tmp_path / "seg"
    for k in range(2):
        label_map(maps / f"{k}.png", (16, 16), n_labels=3, seed=k)
    r = ok(["eval-recon", maps, "--vqgan", tmp_path / "seg.pt", "--json"])
    out = json.loads(r.stdout)
    assert "pixel_accuracy" in out and "miou" in out and "psnr" not in out


# --------------------------------------------------------------------------- DDP


def test_two_ranks_one_nonfinite_loss_does_not_hang(tmp_path):
    """torchrun, 2 CPU processes: rank 1's second loss is NaN. Both ranks skip that step and the
    run ends (before the all-reduced decision, rank 0 waited in a gradient all-reduce)."""
    import os
    import subprocess
    import sys

    shards = _token_shards(tmp_path)
    (tmp_path / "g.toml").write_text(TINY_GPT_WINDOW4)
    script = tmp_path / "nan_rank1.py"
    script.write_text(
        "import sys, torch, torch.distributed as dist\n"
        "import vqtool.train.transformer as T\n"
        "orig, calls = T.sequence_loss, [0]\n"
        "def loss(*a, **k):\n"
        "    out = orig(*a, **k)\n"
        "    calls[0] += 1\n"
        "    return out * float('nan') if dist.get_rank() == 1 and calls[0] == 2 else out\n"
        "T.sequence_loss = loss\n"
        "from vqtool.cli import main\n"
        "sys.argv = ['vqtool'] + sys.argv[1:]\n"
        "main()\n")
    env = {**os.environ, "VQTOOL_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                        str(script), "train-transformer", str(shards), "--recipe", str(tmp_path / "g.toml"),
                        "--out", str(tmp_path / "run"), "--device", "cpu", "--set", "train.image_every=0",
                        "--set", "optim.batch_size=2", "--set", "train.log_every=100"],
                       env=env, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-3000:]
    text = " ".join(r.stderr.split())
    assert "non-finite loss on another rank; step skipped on every rank" in text  # rank 0 speaks for both
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=True)["step"] == 6
