"""A depth map's overview (``overview = S``, issue 27): the whole map as S x S cells of its commonest
codes, at every position of every window. A training crop takes it from its sample's whole grid, never
the crop; map dropout drops it with its map; the rolling-cache sampler stays exact against the naive
rule; and the samples keep their size and bytes at any batch size."""

import random

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from test_map_guidance import _depth_png
from tests_helpers import tiny_transformer

from vqtool.core.conditioning.layout import Layout
from vqtool.core.conditioning.overview import cells
from vqtool.core.config import GPTConfig
from vqtool.core.sampling.local import naive_logits, sample_local
from vqtool.core.sampling.rule import Rule
from vqtool.core.transformer import build_gpt
from vqtool.data.shards import Manifest


def test_cells_hold_the_commonest_code_of_each_part_of_the_grid():
    g = torch.tensor([[1, 1, 2, 2],
                      [1, 3, 2, 5],
                      [4, 4, 6, 6],
                      [4, 0, 6, 7]])[None]
    assert cells(g, 2).tolist() == [[1, 2, 4, 6]]
    assert cells(g, 1).tolist() == [[1]]  # ties (1, 2, 4, 6: four each) go to the smallest id
    assert cells(torch.tensor([[[9]]]), 3).tolist() == [[9] * 9]  # a 1x1 grid fills every cell
    assert cells(torch.arange(10).view(1, 2, 5), 3).shape == (1, 9)


def _manifest(kinds):
    return Manifest(source="s", vqgan="v", vqgan_fingerprint=None, codebook_size=16, factor=4,
                    conditions=[{"kind": k, "codebook_size": 8} for k in kinds])


def test_for_shards_puts_the_overview_after_its_map_and_the_record_round_trips():
    lay = Layout.for_shards(_manifest(["depth"]), 4, map_dropout=0.1, overview=3)
    depth, ov = lay.conditions
    assert ov.kind == "depth-overview" and ov.side == 3 and ov.null_trained and ov.offset == depth.offset + 8
    assert lay.vocab_size == 16 + 8 + 8 and lay.cond_len() == 16 + 9 and lay.adjective == "depth-conditional"
    back = Layout.from_dict(lay.to_dict())
    assert [c.record() for c in back.conditions] == [c.record() for c in lay.conditions]
    assert len(Layout.for_shards(_manifest(["seg"]), 4, overview=3).conditions) == 1  # a label map has none
    assert len(Layout.for_shards(_manifest(["depth"]), 4).conditions) == 1  # overview = 0: as before


def _shard_sample(h=10, w=12, seed=0):
    g = np.random.default_rng(seed)
    d = g.integers(0, 8, (h, w))
    return {"tokens.npy": g.integers(0, 16, (h, w)), "depth.npy": d, "depth_flip.npy": d[:, ::-1].copy()}


def test_a_training_crop_sees_the_overview_of_its_whole_grid_and_map_dropout_drops_it():
    lay = Layout.for_shards(_manifest(["depth"]), 4, map_dropout=0.5, overview=2)
    s = _shard_sample()
    depth, ov = lay.conditions
    whole = cells(torch.from_numpy(s["depth.npy"])[None], 2)[0] + ov.offset
    for r0, c0 in [(0, 0), (6, 8), (3, 5)]:
        t = lay.train_tokens(s, False, r0, c0, random.Random(1), 0.0, True)
        assert torch.equal(t[16:], whole)  # wherever the crop is
        assert torch.equal(t[:16], torch.from_numpy(s["depth.npy"][r0:r0 + 4, c0:c0 + 4]).flatten() + depth.offset)
    flipped = lay.train_tokens(s, True, 0, 0, random.Random(1), 0.0, True)
    assert torch.equal(flipped[16:], cells(torch.from_numpy(s["depth_flip.npy"])[None], 2)[0] + ov.offset)
    rng = random.Random(0)
    crops = [lay.train_tokens(s, False, 0, 0, rng, 0.0, False, map_dropout=0.5) for _ in range(40)]
    dropped = [t for t in crops if torch.all(t[:16] == lay.vocab_size)]
    assert 0 < len(dropped) < 40 and all(torch.all(t[16:] == lay.vocab_size) for t in dropped)  # both, or neither
    assert all(not torch.any(t == lay.vocab_size) for t in crops if not torch.all(t[:16] == lay.vocab_size))


@pytest.mark.parametrize("cond_layers,guidance", [(0, None), (2, None), (2, 3.0)])
@pytest.mark.parametrize("h,w", [(1, 1), (5, 7), (9, 13)])
def test_sampling_with_an_overview_equals_the_naive_rule(cond_layers, guidance, h, w):
    lay = Layout.for_shards(_manifest(["depth"]), 4, map_dropout=0.1, overview=3)
    torch.manual_seed(0)
    m = build_gpt(GPTConfig(vocab_size=lay.vocab_size, n_layer=2, n_head=2, n_embd=16, attention="local",
                            radius=2, cond_layers=cond_layers), lay).eval()
    for p in m.parameters():
        p.data.normal_(0, 0.3)
    grid = torch.randint(0, 8, (2, h, w), generator=torch.Generator().manual_seed(1))
    cond = [grid + lay.conditions[0].offset, cells(grid, 3) + lay.conditions[1].offset]
    rec = {}
    z = sample_local(m, lay, h, w, cond, Rule(seed=4, guidance=guidance, top_k=6), record=rec)
    c = naive_logits(m, z, cond)
    u = naive_logits(m, z, lay.unguided(cond)) if guidance else c
    s = guidance or 1.0
    for key, logits in rec.items():
        torch.testing.assert_close(logits, (u[key] + s * (c[key] - u[key]))[..., :lay.n_embed], rtol=1e-5, atol=1e-5)
    assert len(rec) == h * w
    off = lay.conditions[1].offset
    other = [cond[0], (cond[1] - off + 1) % 8 + off]  # another overview, the same map: other logits
    assert not torch.allclose(naive_logits(m, z, other)[(0, 0)], c[(0, 0)])


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(-2**63, 2**63 - 1), n=st.integers(1, 4), bs=st.integers(1, 3),
       attention=st.sampled_from(["local", "global"]), W=st.integers(9, 50), H=st.integers(9, 40))
def test_an_overview_model_gives_the_asked_size_and_the_same_images_at_any_batch(tmp_path_factory, seed, n, bs,
                                                                                 attention, W, H):
    import vqtool

    d = tmp_path_factory.mktemp("o")
    b = vqtool.load(tiny_transformer(d / "m.pt", "depth+depth-overview", attention=attention), device="cpu")
    m = _depth_png(d / "d.png")
    ims = vqtool.sample(b, n=n, cond=f"depth={m}", size=(W, H), seed=seed, batch_size=bs)
    one = vqtool.sample(b, n=n, cond=f"depth={m}", size=(W, H), seed=seed, batch_size=1)
    assert [im.size for im in ims] == [(W, H)] * n
    assert [im.tobytes() for im in ims] == [im.tobytes() for im in one]
