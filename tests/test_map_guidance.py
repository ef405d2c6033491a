"""Classifier-free guidance on a map (issue 27): ``map_dropout`` trains a null map (the local model's
id of no token at every position of a label, depth or edge map), and ``--cfg S`` then samples from
u + S (c - u), u the prediction with the null map: the sampler is exact against the naive rule with
that twin, the drop happens as often as asked and never to validation crops, and every command
that samples takes ``--cfg`` or refuses it in one message."""

import random

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from tests_helpers import fail, ok, tiny_transformer

from vqtool.core.conditioning.layout import Layout
from vqtool.core.config import GPTConfig
from vqtool.core.sampling.local import naive_logits, sample_local
from vqtool.core.sampling.rule import Rule
from vqtool.core.transformer import build_gpt
from vqtool.data.shards import Manifest

DEPTH = {"kind": "depth", "codebook_size": 8}
LOWRES = {"kind": "lowres", "codebook_size": 16, "factor": 2}


def _layout(wanted, null=True, window=4):
    return Layout.for_codes(16, window, [{**w, "null_trained": null} for w in wanted])


def _sample(lay, h=6, w=6, seed=0):
    """A decoded shard sample of an h x w grid with a depth grid and a low-res grid."""
    g = np.random.default_rng(seed)
    return {"tokens.npy": g.integers(0, 16, (h, w)), "depth.npy": g.integers(0, 8, (h, w)),
            "lowres.npy": g.integers(0, 16, (h, w))}


COORD = {"kind": "coord", "levels": 64}


def test_the_null_map_is_the_local_models_no_token_id_for_maps_and_thumbnail_and_spares_other_kinds():
    # since 2026-12-08 the low-res image is dropped with the maps: a coarse-to-fine fine model can then be
    # guided towards its thumbnail too (before, map dropout kept it, and --cfg contrasted the maps alone)
    lay = _layout([DEPTH, LOWRES, COORD])
    s = _sample(lay)
    full = lay.train_tokens(s, False, 1, 2, random.Random(0), 0.0, False, map_dropout=1.0)
    kept = lay.train_tokens(s, False, 1, 2, random.Random(0), 0.0, False)
    n = lay.window ** 2
    assert torch.all(full[:2 * n] == lay.vocab_size)  # the depth and the low-res windows: no token anywhere
    assert not torch.equal(full[:n], kept[:n]) and not torch.equal(full[n:2 * n], kept[n:2 * n])
    assert torch.equal(full[2 * n:], kept[2 * n:])  # the coordinates untouched
    twin = lay.unguided([torch.full((2, 3, 3), 17), torch.full((2, 3, 3), 30), torch.full((2, 3, 3), 60)])
    assert all(torch.all(t == lay.vocab_size) for t in twin[:2]) and torch.all(twin[2] == 60)
    old = Layout.from_dict(lay.to_dict() | {"conditions": [{**c, "null_trained": False} if c["kind"] == "lowres" else c
                                                           for c in lay.to_dict()["conditions"]]})
    assert torch.all(old.unguided([torch.full((2, 3, 3), 30)] * 3)[1] == 30)  # a model made before keeps it


def _seg_and_thumbnail(lowres_dropout=0.1, map_dropout=0.0):
    man = Manifest(source="s", vqgan="v", vqgan_fingerprint=None, codebook_size=16, factor=4,
                   conditions=[{"kind": "depth", "codebook_size": 8}, LOWRES])
    return Layout.for_shards(man, 4, map_dropout=map_dropout, lowres_dropout=lowres_dropout)


@settings(max_examples=6, deadline=None)
@given(p=st.sampled_from([0.1, 0.3]), seed=st.integers(-2**63, 2**63 - 1))
def test_lowres_dropout_drops_the_thumbnail_alone_as_often_as_asked(p, seed):
    lay = _seg_and_thumbnail(p)
    assert [c.null_trained for c in lay.conditions] == [False, True] and lay.guidable
    s, rng, n = _sample(lay), random.Random(seed), lay.window ** 2
    kept = lay.train_tokens(s, False, 0, 0, random.Random(0), 0.0, True, lowres_dropout=1.0)  # validation: never
    drops = 0
    for _ in range(1500):
        t = lay.train_tokens(s, False, 0, 0, rng, 0.0, False, lowres_dropout=p)
        assert torch.equal(t[:n], kept[:n])  # the map is never dropped
        drops += bool(torch.all(t[n:] == lay.vocab_size))
    assert abs(drops / 1500 - p) < 0.05 and not torch.any(kept == lay.vocab_size)
    u = lay.unguided([torch.full((1, 2, 2), 17), torch.full((1, 2, 2), 30)])  # guidance towards the thumbnail
    assert torch.all(u[0] == 17) and torch.all(u[1] == lay.vocab_size)
    both = _seg_and_thumbnail(p, map_dropout=0.1)
    assert [c.null_trained for c in both.conditions] == [True, True]


def test_validation_crops_and_models_without_the_null_never_drop():
    lay, plain = _layout([DEPTH]), _layout([DEPTH], null=False)
    s = _sample(lay)
    for seed in range(20):
        centre = lay.train_tokens(s, False, 1, 1, random.Random(seed), 0.0, True, map_dropout=1.0)
        assert not torch.any(centre == lay.vocab_size)
        untrained = plain.train_tokens(s, False, 1, 1, random.Random(seed), 0.0, False, map_dropout=1.0)
        assert not torch.any(untrained == plain.vocab_size)


@settings(max_examples=8, deadline=None)
@given(p=st.sampled_from([0.1, 0.25, 0.5]), seed=st.integers(-2**63, 2**63 - 1))
def test_a_window_is_dropped_as_often_as_asked(p, seed):
    lay = _layout([DEPTH])
    s, rng = _sample(lay), random.Random(seed)
    drops = sum(bool(torch.all(lay.train_tokens(s, False, 0, 0, rng, 0.0, False, map_dropout=p) == lay.vocab_size))
                for _ in range(1500))
    assert abs(drops / 1500 - p) < 0.05


def test_map_dropout_zero_draws_nothing_so_older_runs_train_the_same():
    lay = _layout([DEPTH])
    s = _sample(lay)
    a, b = random.Random(3), random.Random(3)
    lay.train_tokens(s, False, 0, 0, a, 0.0, False, map_dropout=0.0)
    assert a.random() == b.random()  # the crop rng is untouched


def test_class_dropout_does_not_claim_a_trained_null_map():
    man = Manifest(source="s", vqgan="v", vqgan_fingerprint=None, codebook_size=16, factor=4,
                   conditions=[{"kind": "seg", "codebook_size": 8}])
    assert not Layout.for_shards(man, 4, class_dropout=0.1).guidable  # before: every record got null_trained
    assert Layout.for_shards(man, 4, map_dropout=0.1).guidable
    rec = Layout.for_shards(man, 4, map_dropout=0.1).to_dict()
    assert Layout.from_dict(rec).conditions[0].null_trained
    del rec["conditions"][0]["null_trained"]  # a model made before map dropout
    assert not Layout.from_dict(rec).conditions[0].guidable


@pytest.mark.parametrize("cond_layers", [0, 2])
@pytest.mark.parametrize("h,w", [(1, 1), (5, 7), (9, 13)])
@pytest.mark.parametrize("wanted,null", [([DEPTH], [True]), ([DEPTH, LOWRES], [True, True]),
                                         ([DEPTH, LOWRES], [False, True])], ids=["depth", "both", "lowres"])
def test_guided_map_sampling_equals_the_naive_rule_with_the_null_twin(cond_layers, h, w, wanted, null):
    lay = Layout.for_codes(16, 4, [{**c, "null_trained": d} for c, d in zip(wanted, null)])
    torch.manual_seed(0)
    m = build_gpt(GPTConfig(vocab_size=lay.vocab_size, n_layer=2, n_head=2, n_embd=16, attention="local",
                            radius=2, cond_layers=cond_layers), lay).eval()
    for p in m.parameters():
        p.data.normal_(0, 0.3)
    g = torch.Generator().manual_seed(1)
    cond = [torch.randint(0, 8, (2, h, w), generator=g) + c.offset for c in lay.conditions]
    rec = {}
    z = sample_local(m, lay, h, w, cond, Rule(seed=4, guidance=3.0, top_k=6), record=rec)
    c = naive_logits(m, z, cond)
    u = naive_logits(m, z, [torch.full_like(t, lay.vocab_size) if d else t for t, d in zip(cond, null)])  # written out
    for key, logits in rec.items():
        torch.testing.assert_close(logits, (u[key] + 3.0 * (c[key] - u[key]))[..., :lay.n_embed], rtol=1e-5, atol=1e-5)
    assert len(rec) == h * w


def _depth_png(path, size=(40, 28), seed=0):
    a = np.random.default_rng(seed).integers(0, 65535, (size[1], size[0])).astype(np.uint16)
    Image.fromarray(a).save(path)
    return path


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(-2**63, 2**63 - 1), n=st.integers(1, 4), bs=st.integers(1, 3),
       cfg=st.floats(0.25, 8.0), W=st.integers(9, 50), H=st.integers(9, 40))
def test_cfg_on_a_map_model_gives_the_asked_size_and_the_same_images_at_any_batch(tmp_path_factory, seed, n, bs,
                                                                                   cfg, W, H):
    import vqtool

    d = tmp_path_factory.mktemp("g")
    b = vqtool.load(tiny_transformer(d / "m.pt", "depth", attention="local", map_dropout=0.1), device="cpu")
    m = _depth_png(d / "d.png")
    ims = vqtool.sample(b, n=n, cond=f"depth={m}", size=(W, H), seed=seed, cfg=cfg, batch_size=bs)
    one = vqtool.sample(b, n=n, cond=f"depth={m}", size=(W, H), seed=seed, cfg=cfg, batch_size=1)
    assert [im.size for im in ims] == [(W, H)] * n
    assert [im.tobytes() for im in ims] == [im.tobytes() for im in one]


def test_cfg_changes_the_sample_and_cli_refuses_what_cannot_be_guided(tmp_path):
    guided = tiny_transformer(tmp_path / "g.pt", "depth", attention="local", map_dropout=0.1)
    plain = tiny_transformer(tmp_path / "p.pt", "depth", attention="local")
    m = _depth_png(tmp_path / "d.png")
    for s in ("1", "4"):
        ok(["sample", "--model", guided, "--cond", f"depth={m}", "--size", "333x197", "--cfg", s, "--seed",
            "9007199254740993", "--out", tmp_path / s, "--device", "cpu"])
    one, four = (Image.open(next((tmp_path / s).glob("*.png"))) for s in ("1", "4"))
    assert one.size == four.size == (333, 197) and one.tobytes() != four.tobytes()
    fail(["sample", "--model", plain, "--cond", f"depth={m}", "--cfg", "2", "--out", tmp_path / "x"],
         "map_dropout = 0")
    assert not (tmp_path / "x").exists()
    fail(["sample", "--model", guided, "--cond", f"depth={m}", "--cfg", "0", "--out", tmp_path / "y"], "--cfg must be > 0")
