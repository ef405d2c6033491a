"""Tiny recipes and CLI helpers shared by the tests."""

import re
import sys
import types

import torch

from typer.testing import CliRunner

from vqtool.cli import app

runner = CliRunner()


def ok(args):
    """Run a vqtool command that must succeed."""
    r = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return r


def fail(args, needle):
    """Run a vqtool command that must fail as a user error: exit 2, the message, no traceback."""
    r = runner.invoke(app, [str(a) for a in args])
    flat = " ".join(r.output.split())  # rich wraps long messages
    assert r.exit_code == 2 and needle in flat, r.output
    assert "Traceback" not in r.output
    # one message: no progress bar left behind by the work the error stopped ("0/16  0:00:00")
    assert not re.search(r"\d+/\d+\s+\d+:\d\d:\d\d", r.output), r.output
    return r


TINY_SEG = """
kind = "seg-vqgan"
[model]
in_channels = 0
out_channels = 0
ch = 16
ch_mult = [1, 2, 2]
num_res_blocks = 1
attn_resolutions = []
resolution = 32
z_channels = 8
norm_groups = 8
[model.quantizer]
n_embed = 16
embed_dim = 8
[data]
size = 32
[optim]
lr = 1e-3
batch_size = 4
[train]
max_steps = 3
image_every = 0
"""

TINY_GPT_WINDOW4 = """
kind = "transformer"
[gpt]
n_layer = 2
n_head = 2
n_embd = 32
[data]
window = 4
[optim]
lr = 3e-3
batch_size = 8
[train]
seed = 0
max_steps = 6
log_every = 3
ckpt_every = 3
image_every = 6
"""


def tiny_transformer(path, mode="seg", window=4, class_dropout=0.0, n_embed=16, n_labels=9, seed=0,
                     attention="global", cond_layers=0, map_dropout=0.0):
    """A randomly initialised transformer checkpoint (f=4 VQGANs, 2-layer GPT) written in
    vqtool's format without training: for fast CLI tests of sampling. ``mode``: a conditioning kind,
    or several joined by '+' ("seg+lowres"; lowres has factor 2); ``map_dropout`` > 0: its maps'
    null is trained (a local model guides towards them)."""
    import torch

    from vqtool.core.conditioning.layout import Layout
    from vqtool.core.config import GPTConfig, QuantizerConfig, VQGANModelConfig, to_dict
    from vqtool.core.formats import Stage, TransformerCheckpoint
    from vqtool.core.tokenizer.vqgan import VQGAN
    from vqtool.core.transformer import build_gpt

    torch.manual_seed(seed)

    def vq(ch_in):
        cfg = VQGANModelConfig(in_channels=ch_in, out_channels=ch_in, ch=8, ch_mult=[1, 2, 2], num_res_blocks=1,
                               attn_resolutions=[], resolution=32, z_channels=8, norm_groups=4,
                               quantizer=QuantizerConfig(n_embed=n_embed, embed_dim=8))
        m = VQGAN(cfg)
        m.quantize.embedding.weight.data.normal_()
        return Stage(to_dict(cfg), m.state_dict())

    null = {"null_trained": map_dropout > 0}
    kinds = {"seg": {"kind": "seg", "codebook_size": n_embed, "label_classes": [f"c{i}" for i in range(n_labels)],
                     **null},
             "class": {"kind": "class", "classes": ["alpine", "desert", "forest", "lake"],
                       "null_trained": class_dropout > 0},
             "uncond": {"kind": "uncond"},
             "depth": {"kind": "depth", "codebook_size": n_embed, **null},
             "depth-overview": {"kind": "depth-overview", "codebook_size": n_embed, "side": 3, **null},
             "edges": {"kind": "edges", "codebook_size": n_embed, **null},
             "lowres": {"kind": "lowres", "codebook_size": n_embed, "factor": 2}}
    modes = mode.split("+")  # several kinds at once: "seg+lowres"
    lay = Layout.for_codes(n_embed, window, [kinds[m] for m in modes])
    gcfg = GPTConfig(vocab_size=lay.vocab_size, block_size=lay.block_size,
                     n_layer=2, n_head=2, n_embd=16, attention=attention,
                     radius=window // 2 if attention == "local" else 0, cond_layers=cond_layers)
    gpt = build_gpt(gcfg, lay)
    for p in gpt.parameters():
        p.data.normal_(0, 0.3)
    recipe = {"kind": "transformer", "gpt": to_dict(gcfg), "data": {"window": window},
              "class_dropout": class_dropout, "map_dropout": map_dropout}
    first = vq(3)  # after the GPT: the seeded order of the release's tiny models
    stages = {m: vq(n_labels if m == "seg" else 1) for m in modes if m in ("seg", "depth", "edges")}
    TransformerCheckpoint(recipe, gpt.state_dict(), lay, first, stages).save(path)
    return path


def label_map(path, size=(40, 28), n_labels=9, seed=0):
    """A grayscale PNG of class ids."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    a = rng.integers(0, n_labels, (size[1] // 8 + 1, size[0] // 8 + 1), dtype=np.uint8)
    a = np.kron(a, np.ones((8, 8), np.uint8))[:size[1], :size[0]]
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(a, "L").save(path)
    return path


def lightning_file(state_dict, tmp_path, name="last.ckpt"):
    """A Lightning-1.0-style file: bookkeeping, a callback keyed by its class, optimizer states."""
    mod = types.ModuleType("pytorch_lightning.callbacks.model_checkpoint")

    ModelCheckpoint = type("ModelCheckpoint", (), {"__module__": mod.__name__})
    mod.ModelCheckpoint = ModelCheckpoint
    names = ["pytorch_lightning", "pytorch_lightning.callbacks", mod.__name__]
    for n in names[:2]:
        sys.modules.setdefault(n, types.ModuleType(n))
    sys.modules[mod.__name__] = mod
    try:
        payload = {"epoch": 3, "global_step": 1234, "pytorch-lightning_version": "1.0.8",
                   "callbacks": {ModelCheckpoint: {"best_model_score": torch.tensor(0.5), "best_model_path": "x"}},
                   "optimizer_states": [{"state": {}, "param_groups": [{"lr": 1e-4}]}], "lr_schedulers": [],
                   "state_dict": state_dict}
        torch.save(payload, tmp_path / name)
    finally:
        for n in names:
            sys.modules.pop(n, None)
    return tmp_path / name


def tiny_demo_options(tmp_path, tiny_recipe, **kw):
    """DemoOptions for `vqtool demo --from-scratch` with tiny recipes and sizes (f4 VQGANs, window 4)."""
    from vqtool.app.demo import DemoOptions

    (tmp_path / "s.toml").write_text(TINY_SEG)
    # the landscape's transformer is local, as the shipped demo's
    (tmp_path / "g.toml").write_text(TINY_GPT_WINDOW4.replace("[gpt]\n", '[gpt]\nattention = "local"\n'))
    (tmp_path / "c.toml").write_text("class_dropout = 0.1\n" + TINY_GPT_WINDOW4)
    (tiny_gpt := tmp_path / "p.toml").write_text(TINY_GPT_WINDOW4)
    # the image VQGAN as the demo makes it: a base run, then its decoder alone (--init-from the base)
    # the depth cond stage: the seg recipe's network on one channel, L1 (as scenes-depth-vqgan-demo)
    (tmp_path / "d.toml").write_text(TINY_SEG.replace('"seg-vqgan"', '"depth-vqgan"').replace("channels = 0", "channels = 1")
                                     .replace("[data]", '[loss]\nperceptual = "none"\ndisc_start = 1000\n[data]'))
    # the depth and super-resolution transformers: local, with a condition block
    (tmp_path / "l.toml").write_text(TINY_GPT_WINDOW4.replace("[gpt]\n", '[gpt]\nattention = "local"\ncond_layers = 1\n'))
    recipes = {"vqgan-base": (str(tiny_recipe), []),
               "vqgan": (str(tiny_recipe), ["train.trainable=decoder", "loss.disc_start=0", "train.max_steps=2"]),
               "seg-vqgan": (str(tmp_path / "s.toml"), []), "depth-vqgan": (str(tmp_path / "d.toml"), []),
               "transformer": (str(tmp_path / "g.toml"), []), "class-transformer": (str(tmp_path / "c.toml"), []),
               # the depth model with map dropout, as scenes-depth-transformer-demo: the demo guides it (--cfg)
               "depth-transformer": (str(tmp_path / "l.toml"), ["map_dropout=0.1"]),
               "sr-transformer": (str(tmp_path / "l.toml"), []),
               # coarse to fine: the paper's GPT on the thumbnails, the local model with a block on map + thumbnail
               "coarse-transformer": (str(tiny_gpt), []), "fine-transformer": (str(tmp_path / "l.toml"), [])}
    return DemoOptions(from_scratch=True, n_scenes=6, recipes=recipes, train_size=(48, 40), big_size=(72, 40),
                       val_size=32, vq_scenes=(6, 40), class_scenes=(8, 16), per_class=2, sr_images=2, device="cpu",
                       coarse_scenes=(6, 64, 48), coarse_factor=2,
                       **kw)


def noise_folder(path, n=6, shift=0, seed=0, size=(40, 32)):
    """``n`` random RGB PNGs (values 0..199 + ``shift``): image folders for FID tests."""
    import numpy as np
    from PIL import Image

    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        a = rng.integers(0, 200, (size[1], size[0], 3)).astype(np.int32) + shift
        Image.fromarray(a.clip(0, 255).astype(np.uint8)).save(path / f"{i}.png")
    return path


def kill_at_first_checkpoint(args, out, env=None):
    """Run `python -m vqtool ARGS` and SIGKILL it as soon as ``out/last.pt`` exists; the step it
    had saved."""
    import os
    import signal
    import subprocess
    import time

    import torch

    env = {**os.environ, "VQTOOL_OFFLINE": "1", **(env or {})}
    p = subprocess.Popen([sys.executable, "-m", "vqtool", *map(str, args)], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (out / "last.pt").exists() and time.time() < deadline and p.poll() is None:
        time.sleep(0.01)
    p.send_signal(signal.SIGKILL)
    p.wait()
    return torch.load(out / "last.pt", weights_only=True)["step"]


def bomb_png(path, width, height, mode="RGB"):
    """A PNG of a few KB whose header claims width x height (a decompression bomb): the first rows
    are real, the data ends long before the image would."""
    import struct
    import zlib

    colour, channels = {"RGB": (2, 3), "L": (0, 1)}[mode]

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    z = zlib.compressobj(9)
    rows = b"".join(z.compress(b"\0" * (1 + width * channels)) for _ in range(min(height, 8))) + z.flush()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0))
                     + chunk(b"IDAT", rows) + chunk(b"IEND", b""))
    return path


def forged_tar(path, images, claim=2**40, name="99999.png"):
    """A tar shard of ``images`` followed by a member whose header claims ``claim`` bytes, after
    which the file ends (a cut download, or a forged header)."""
    import tarfile

    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as tf:
        for i, f in enumerate(images):
            tf.add(f, arcname=f"{i:05d}.png")
    data = path.read_bytes()
    end = len(data)
    while data[end - 512:end] == b"\0" * 512:  # the end-of-archive blocks go
        end -= 512
    head = tarfile.TarInfo(name)
    head.size = claim
    path.write_bytes(data[:end] + head.tobuf(format=tarfile.GNU_FORMAT) + b"\x89PNG" + b"\0" * 1000)
    return path


def resumable_transformer_run(tmp_path):
    """A finished 6-step transformer run (TINY_GPT_WINDOW4) on tiny scenes, and its shard folder."""
    from conftest import TINY_VQGAN
    from vqtool.data.scenes import make_scenes

    make_scenes(tmp_path / "scenes", 8, 48, 48, seed=1)
    (tmp_path / "v.toml").write_text(TINY_VQGAN)
    ok(["train-vqgan", tmp_path / "scenes" / "images", "--recipe", tmp_path / "v.toml", "--out", tmp_path / "v",
        "--set", "train.max_steps=1"])
    ok(["tokenize", tmp_path / "scenes" / "images", "--out", tmp_path / "sh", "--vqgan", tmp_path / "v" / "last.pt",
        "--no-seg", "--val", "1"])
    (tmp_path / "g.toml").write_text(TINY_GPT_WINDOW4)
    ok(["train-transformer", tmp_path / "sh", "--recipe", tmp_path / "g.toml", "--out", tmp_path / "g", "--force",
        "--set", "train.image_every=0"])
    return tmp_path / "g", tmp_path / "sh"


def make_layout(mode, n_embed, window, cond_vocab=None):
    """A layout of one of the release's kinds for sampler tests (``mode``: the tests' names for them):
    conditioning ids after the codes; a class layout with a trained null class (its last id)."""
    from vqtool.core.conditioning.classes import ClassLabel
    from vqtool.core.conditioning.layout import Layout
    from vqtool.core.conditioning.seg import Segmentation
    from vqtool.core.conditioning.uncond import Uncond

    v = cond_vocab or {"seg": 5, "class": 4, "uncond": 1}[mode]
    cond = {"seg": lambda: Segmentation(offset=n_embed, vocab=v),
            "class": lambda: ClassLabel(offset=n_embed, vocab=v, classes=[str(i) for i in range(v - 1)],
                                        null=n_embed + v - 1, null_trained=True),
            "uncond": lambda: Uncond(offset=n_embed, vocab=v, token=n_embed)}[mode]()
    return Layout(n_embed, window, [cond])


def seeded_state(shapes: dict, seed: int) -> dict:
    """A state dict of the given {key: shape} with seeded values (weights ~N(0, 0.08), norm scales
    ~1, biases small): the same tensors wherever it is rebuilt, so test data can name a checkpoint by
    its shapes and seed instead of holding its bytes."""
    import torch

    g = torch.Generator().manual_seed(seed)
    out = {}
    for k in sorted(shapes):
        shape = tuple(shapes[k])
        if k.endswith("codebook_used"):
            out[k] = torch.zeros(shape)
        elif "norm" in k and k.endswith(".weight"):
            out[k] = 1 + 0.1 * torch.randn(shape, generator=g)
        elif k.endswith(".bias"):
            out[k] = 0.02 * torch.randn(shape, generator=g)
        elif "embedding" in k:
            out[k] = torch.randn(shape, generator=g)
        else:
            out[k] = 0.08 * torch.randn(shape, generator=g)
    return out
