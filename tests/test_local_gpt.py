"""The local transformer (gpt.attention = "local"): its rolling-cache sampler gives, at every
position, the logits of the model run on that token's receptive-field crop; nothing at or after a
token in raster order reaches it; and it goes through the same tooling as the paper's GPT."""

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from tests_helpers import TINY_GPT_WINDOW4, fail, label_map, ok, tiny_transformer

from vqtool.core.conditioning.layout import Layout
from vqtool.core.config import GPTConfig
from vqtool.core.sampling.local import naive_logits, sample_local
from vqtool.core.sampling.rule import Rule
from vqtool.core.transformer import build_gpt

WANTED = {"seg": {"kind": "seg", "codebook_size": 8}, "class": {"kind": "class", "classes": ["a", "b", "c"]},
          "uncond": {"kind": "uncond"}}


def _model(mode, R=2, layers=2, seed=0, cond_layers=0):
    lay = Layout.for_codes(16, 2 * R, [{**WANTED[mode], "null_trained": True}])
    torch.manual_seed(seed)
    m = build_gpt(GPTConfig(vocab_size=lay.vocab_size, n_layer=layers, n_head=2, n_embd=16, attention="local",
                            radius=R, cond_layers=cond_layers), lay).eval()
    for p in m.parameters():
        p.data.normal_(0, 0.3)  # far from the tiny init: every position's logits differ
    return m, lay


def _cond(lay, n, h, w, seed=0):
    """The layout's token tensors: a random label-code grid, or classes 0, 1, 2, ... (or the start token)."""
    g = torch.Generator().manual_seed(seed)
    c = lay.conditions[0]
    if c.spatial:
        return [torch.randint(0, 8, (n, h, w), generator=g) + c.offset]
    return [(torch.arange(n) % 3).view(n, 1) + c.offset]


def _check_exact(m, lay, h, w, seed=0, guidance=None, **kw):
    cond = _cond(lay, 2, h, w, seed)
    rec = {}
    z = sample_local(m, lay, h, w, cond, Rule(seed=seed, guidance=guidance, **kw), record=rec)
    ref = naive_logits(m, z, cond)
    if guidance not in (None, 1.0):  # guided: u + s (c - u), u from the null class
        un = naive_logits(m, z, lay.unguided(cond))
        ref = {k: un[k] + guidance * (v - un[k]) for k, v in ref.items()}
    for key, logits in rec.items():
        torch.testing.assert_close(logits, ref[key][..., :lay.n_embed], rtol=1e-5, atol=1e-5)
    assert set(rec) == {(r, c) for r in range(h) for c in range(w)}  # every position
    return z


@pytest.mark.parametrize("mode", ["seg", "class", "uncond"])
@pytest.mark.parametrize("h,w", [(1, 1), (2, 3), (4, 4), (5, 9), (9, 13)])  # below, at and beyond the 4x4 window
def test_rolling_cache_equals_the_model_on_each_receptive_field_crop(mode, h, w):
    m, lay = _model(mode)
    _check_exact(m, lay, h, w)


@settings(max_examples=12, deadline=None)
@given(h=st.integers(1, 9), w=st.integers(1, 12), R=st.integers(1, 3), seed=st.integers(-2**63, 2**63 - 1))
def test_exact_for_any_grid_radius_and_seed(h, w, R, seed):
    m, lay = _model("seg", R=R, layers=2 if R < 3 else 1)
    _check_exact(m, lay, h, w, seed=seed, top_k=5)


@pytest.mark.parametrize("mode", ["seg", "class"])
@pytest.mark.parametrize("h,w", [(1, 1), (3, 2), (5, 9), (9, 13)])
def test_rolling_cache_is_exact_with_condition_blocks(mode, h, w):
    m, lay = _model(mode, cond_layers=2)
    _check_exact(m, lay, h, w)


@settings(max_examples=10, deadline=None)
@given(h=st.integers(1, 8), w=st.integers(1, 11), R=st.integers(1, 3), cl=st.integers(1, 2),
       seed=st.integers(-2**63, 2**63 - 1))
def test_exact_with_condition_blocks_for_any_grid_radius_and_seed(h, w, R, cl, seed):
    m, lay = _model("seg", R=R, layers=1, cond_layers=cl)
    _check_exact(m, lay, h, w, seed=seed, top_k=5)


def test_the_condition_blocks_computed_in_chunks_equal_the_dense_grid():
    from vqtool.core.sampling.local import _conditions

    m, lay = _model("seg", R=2, cond_layers=2)
    cg = lay.position_grids(_cond(lay, 3, 7, 10), 7, 10, m.none)
    dense = m.cond_grid(cg)
    for chunk in (1, 200, 5000, 2 ** 24):  # one position at a time .. the whole grid at once
        torch.testing.assert_close(_conditions(m, cg, chunk_elems=chunk), dense, rtol=1e-5, atol=1e-5)


def test_condition_blocks_let_a_token_see_the_map_below_it_and_still_no_later_token():
    h, w, R = 6, 20, 2
    for cond_layers, reaches in ((0, False), (1, True)):
        m, lay = _model("seg", R=R, layers=2, cond_layers=cond_layers)
        cond = _cond(lay, 1, h, w)
        z = torch.randint(0, 16, (1, h, w))
        base = m.forward_grid(*m.inputs(z, cond))[0, 1, 3]  # token (1, 3)
        below = [t.clone() for t in cond]
        below[0][0, 1 + R, 3] = (below[0][0, 1 + R, 3] - lay.conditions[0].offset + 1) % 8 + lay.conditions[0].offset
        moved = m.forward_grid(*m.inputs(z, below))[0, 1, 3]
        assert (not torch.allclose(base, moved)) == reaches  # the label R rows below reaches it only through them
        far = [t.clone() for t in cond]  # beyond every block's reach: nothing changes
        far[0][0, 1 + R + 1:, :] = lay.conditions[0].offset
        far[0][0, :, 3 + 2 * (R + 2) + R + 2:] = lay.conditions[0].offset
        if cond_layers:
            torch.testing.assert_close(m.forward_grid(*m.inputs(z, far))[0, 1, 3], base)
        z2 = z.clone().view(-1)
        z2[1 * w + 3:] = (z2[1 * w + 3:] + 1) % 16  # the token and every later one
        torch.testing.assert_close(m.forward_grid(*m.inputs(z2.view(1, h, w), cond))[0, 1, 3], base)


def test_condition_blocks_are_a_local_models_only(tmp_path):
    from vqtool.core.config import load_recipe
    from vqtool.core.errors import ConfigError

    with pytest.raises(ConfigError, match="gpt.cond_layers"):
        load_recipe("scenes-transformer-demo", ["gpt.cond_layers=2"])
    with pytest.raises(ConfigError, match="gpt.cond_layers"):
        load_recipe("scenes-transformer-local-demo", ["gpt.cond_layers=-1"])
    assert load_recipe("scenes-transformer-local-demo", ["gpt.cond_layers=2"]).gpt.cond_layers == 2


def test_nothing_at_or_after_a_token_reaches_its_logits():
    m, lay = _model("seg", R=2, layers=3)
    h, w = 6, 9
    cond = _cond(lay, 1, h, w)
    z = torch.randint(0, 16, (1, h, w))
    base = m.forward_grid(*m.inputs(z, cond))
    for r, c in [(0, 0), (2, 4), (3, 8), (5, 0)]:
        z2 = z.clone().view(-1)
        z2[r * w + c:] = (z2[r * w + c:] + 1) % 16  # change the token and everything after it
        out = m.forward_grid(*m.inputs(z2.view(1, h, w), cond))
        flat_a, flat_b = base[0, :, :w].reshape(h * w, -1), out[0, :, :w].reshape(h * w, -1)
        torch.testing.assert_close(flat_a[: r * w + c + 1], flat_b[: r * w + c + 1])  # up to itself: unchanged


def test_guidance_and_prefix_are_exact_too():
    m, lay = _model("class")
    _check_exact(m, lay, 5, 7, guidance=2.5, top_p=0.9)
    cond = _cond(lay, 2, 5, 7)
    prefix = torch.randint(0, 16, (2, 2, 7))  # the known top rows
    z = sample_local(m, lay, 5, 7, cond, Rule(seed=3), prefix=prefix)
    assert torch.equal(z[:, :2], prefix)


def test_samples_do_not_depend_on_the_batch():
    m, lay = _model("seg")
    cond = _cond(lay, 3, 6, 7)
    whole = sample_local(m, lay, 6, 7, cond, Rule(seed=11), first_sample=4)
    parts = [sample_local(m, lay, 6, 7, [cond[0][i:i + 1]], Rule(seed=11), first_sample=4 + i) for i in range(3)]
    assert torch.equal(whole, torch.cat(parts))


def test_train_sample_info_and_resume_with_a_local_model(tmp_path, scenes):
    from conftest import TINY_VQGAN

    (tmp_path / "v.toml").write_text(TINY_VQGAN)
    (tmp_path / "g.toml").write_text(TINY_GPT_WINDOW4)
    ok(["train-vqgan", scenes / "images", "--recipe", tmp_path / "v.toml", "--out", tmp_path / "vq"])
    ok(["tokenize", scenes / "images", "--out", tmp_path / "sh", "--vqgan", tmp_path / "vq/last.pt", "--no-seg",
        "--size", "48", "--val", "2"])
    local = ["--recipe", tmp_path / "g.toml", "--set", "gpt.attention=local", "--set", "train.image_every=0",
             "--set", "class_dropout=0.2"]
    a, b = tmp_path / "a", tmp_path / "b"
    s = json.loads(ok(["train-transformer", tmp_path / "sh", "--out", a, *local, "--json"]).stdout)
    assert s["step"] == 6 and s["val_bpt"] < 6  # below log2(32 codes) = 5 + log2 of the extra ids: it learns
    ck = torch.load(a / "last.pt", weights_only=True)
    assert ck["config"]["gpt"]["attention"] == "local" and ck["config"]["gpt"]["radius"] == 2
    ok(["train-transformer", tmp_path / "sh", "--out", b, *local, "--set", "train.max_steps=3"])
    ok(["train-transformer", tmp_path / "sh", "--out", b, "--resume", "--set", "train.max_steps=6"])
    cb = torch.load(b / "last.pt", weights_only=True)
    for k in ck["model"]:
        assert torch.equal(ck["model"][k], cb["model"][k]), k
    assert "local" in ok(["info", a / "last.pt"]).output
    out = tmp_path / "s"
    r = ok(["sample", "--model", a / "last.pt", "--class", "lake", "--cfg", "2", "--size", "333x197", "--n", "3",
            "--batch-size", "2", "--seed", "9007199254740993", "--out", out, "--top-p", "0.95"])
    paths = r.stdout.split()
    assert len(paths) == 3 and all(Image.open(p).size == (333, 197) for p in paths)
    again = ok(["sample", "--model", a / "last.pt", "--class", "lake", "--cfg", "2", "--size", "333x197", "--n", "3",
                "--batch-size", "1", "--seed", "9007199254740993", "--out", tmp_path / "s2", "--top-p", "0.95"])
    assert [Image.open(p).tobytes() for p in again.stdout.split()] == [Image.open(p).tobytes() for p in paths]


def test_local_seg_model_samples_through_the_cli(tmp_path):
    m = tiny_transformer(tmp_path / "m.pt", mode="seg", attention="local")
    seg = label_map(tmp_path / "seg.png", size=(60, 44))
    r = ok(["sample", "--model", m, "--cond", seg, "--out", tmp_path / "o", "--mode", "fast", "--n", "2"])
    assert all(Image.open(p).size == (60, 44) for p in r.stdout.split())
    pre = ok(["sample", "--model", m, "--cond", seg, "--out", tmp_path / "p", "--prefix", r.stdout.split()[0]])
    assert Image.open(pre.stdout.split()[0]).size == (60, 44)


@settings(max_examples=4, deadline=None)
@given(seed=st.integers(-2**63, 2**63 - 1), n=st.integers(1, 4), batch=st.integers(1, 4))
def test_condition_blocks_through_the_cli_any_seed_and_batch(tmp_path_factory, seed, n, batch):
    tmp = tmp_path_factory.mktemp("cb")
    m = tiny_transformer(tmp / "m.pt", mode="seg", attention="local", cond_layers=1)
    assert "1 condition blocks" in ok(["info", m]).output
    seg = label_map(tmp / "seg.png", size=(93, 61))  # an odd size beyond the 16x16-pixel window
    base = ["sample", "--model", m, "--cond", seg, "--seed", str(seed), "--n", str(n)]
    a = ok([*base, "--batch-size", str(batch), "--out", tmp / "a"]).stdout.split()
    b = ok([*base, "--batch-size", "1", "--out", tmp / "b"]).stdout.split()
    assert len(a) == n and all(Image.open(p).size == (93, 61) for p in a)
    assert [Image.open(p).tobytes() for p in a] == [Image.open(p).tobytes() for p in b]


def test_bench_sample_has_a_local_row(tmp_path):
    rows = json.loads(ok(["bench", "sample", "--size", "96x64", "--naive-tokens", "4", "--json"]).stdout)
    local = next(r for r in rows if r["mode"] == "local")
    assert local["tokens_timed"] == 6 * 4 and local["speedup_vs_exact"] > 0 and "local twin" in local["model"]
    fail(["bench", "sample", "--modes", "exact,lcoal"], "choose from naive, exact")


def test_bench_sample_of_a_local_model_counts_the_tokens_it_sampled(tmp_path):
    """A local model has one sampler, which samples the whole grid even in the naive row: the row
    must count every token it timed (it counted --naive-tokens, reporting a fraction of the speed)."""
    m = tiny_transformer(tmp_path / "t.pt", attention="local")
    rows = json.loads(ok(["bench", "sample", "--model", m, "--size", "40x24", "--naive-tokens", "3",
                          "--modes", "naive,local", "--json"]).stdout)
    assert [r["tokens_timed"] for r in rows] == [10 * 6, 10 * 6]  # f=4: 10x6 tokens


def test_bits_per_token_of_a_local_model_is_its_own_likelihood():
    from vqtool.eval.agreement import bits_per_token

    m, lay = _model("seg")
    cond = _cond(lay, 2, 5, 6)
    z = torch.randint(0, 16, (2, 5, 6))
    logits = m.forward_grid(*m.inputs(z, cond))[:, :, :6, :16]
    want = torch.nn.functional.cross_entropy(logits.reshape(-1, 16), z.reshape(-1)).item() / torch.log(
        torch.tensor(2.0)).item()
    assert bits_per_token(m, lay, z, cond) == pytest.approx(want, rel=1e-5)


def test_torchrun_trains_a_local_model(tmp_path):
    import os
    import subprocess
    import sys

    from vqtool.app.bench import random_vqgan
    from vqtool.data.synthetic import make_token_shards

    make_token_shards(tmp_path / "sh", 120, random_vqgan(tmp_path / "v.pt"), grid=(6, 6), shard_size=30, val=8)
    (tmp_path / "g.toml").write_text(TINY_GPT_WINDOW4)
    env = {**os.environ, "VQTOOL_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                        "-m", "vqtool", "train-transformer", str(tmp_path / "sh"), "--recipe", str(tmp_path / "g.toml"),
                        "--out", str(tmp_path / "o"), "--device", "cpu", "--set", "gpt.attention=local",
                        "--set", "train.image_every=0", "--set", "optim.batch_size=4"],
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    ck = torch.load(tmp_path / "o" / "last.pt", weights_only=True)
    assert ck["step"] == 6 and ck["config"]["gpt"]["attention"] == "local"


def test_python_api_samples_a_local_model(tmp_path):
    import vqtool

    m = tiny_transformer(tmp_path / "m.pt", mode="class", attention="local", class_dropout=0.1)
    ims = vqtool.sample(vqtool.load(m, device="cpu"), n=2, class_="lake", size=(36, 20), seed=5, cfg=2.0)
    assert [im.size for im in ims] == [(36, 20)] * 2
