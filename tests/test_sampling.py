import pytest
import torch

from tests_helpers import make_layout
from vqtool.core.config import GPTConfig
from vqtool.core.sampling.rule import Rule, filter_logits, position_uniform
from vqtool.core.sampling.window import row_blocks, sample_grid, sample_naive, window_start
from vqtool.core.transformer import build_gpt
from vqtool.core.transformer.gpt import KVCache

N_EMBED, W = 12, 4


def _gpt(mode, seed=0):
    torch.manual_seed(seed)
    layout = make_layout(mode, N_EMBED, W)
    g = build_gpt(GPTConfig(vocab_size=layout.vocab_size, block_size=layout.block_size, n_layer=2, n_head=2,
                            n_embd=16), layout)
    for p in g.parameters():  # larger weights than the init, so logits differ clearly by context
        p.data.normal_(0, 0.3)
    return g.eval(), layout


def _cond(mode, layout, n, h, w):
    """The layout's token tensors (one condition) for n samples of an h x w grid."""
    g = torch.Generator().manual_seed(1)
    off = layout.n_embed
    if mode == "seg":
        return [torch.randint(0, 5, (n, h, w), generator=g) + off]
    if mode == "class":
        return [torch.tensor([[0], [2]])[:n] + off]
    return [torch.full((n, 1), off)]


@pytest.mark.parametrize("mode", ["uncond", "class", "seg"])
@pytest.mark.parametrize("hw", [(3, 3), (4, 4), (4, 7), (7, 5), (9, 11), (17, 23), (52, 80)])
def test_exact_mode_logits_equal_naive(mode, hw):
    h, w = hw
    gpt, layout = _gpt(mode)
    cond = _cond(mode, layout, 2, h, w)
    rec_naive, rec_fast = {}, {}
    zn = sample_naive(gpt, layout, h, w, cond, Rule(seed=3), record=rec_naive)
    zf = sample_grid(gpt, layout, h, w, cond, Rule(seed=3), mode="exact", record=rec_fast)
    assert torch.equal(zn, zf)
    assert rec_naive.keys() == rec_fast.keys() and len(rec_naive) == h * w
    for k in rec_naive:
        torch.testing.assert_close(rec_fast[k], rec_naive[k], atol=2e-5, rtol=1e-5)


def test_exact_equals_naive_at_paper_window_sizes():
    """Window 16 on 52x80 grids (1280x832 at f16) is too slow for a unit test; 16 on a 20x24 grid
    exercises every border case of the placement rule with the real window size."""
    torch.manual_seed(0)
    layout = make_layout("seg", 16, 16, cond_vocab=4)
    g = build_gpt(GPTConfig(vocab_size=20, block_size=16 * 16 * 2 - 1, n_layer=1, n_head=2, n_embd=16), layout).eval()
    for p in g.parameters():
        p.data.normal_(0, 0.3)
    cond = [torch.randint(16, 20, (1, 20, 24))]
    a, b = {}, {}
    zn = sample_naive(g, layout, 20, 24, cond, Rule(seed=1), record=a)
    zf = sample_grid(g, layout, 20, 24, cond, Rule(seed=1), record=b)
    assert torch.equal(zn, zf)
    for k in a:
        torch.testing.assert_close(b[k], a[k], atol=2e-5, rtol=1e-5)


def test_window_placement_matches_taming_rule():
    # taming: local = i if i <= 8; 16 - (h - i) if h - i < 8; else 8
    h = 40
    for i in range(h):
        local = i if i <= 8 else (16 - (h - i) if h - i < 8 else 8)
        assert i - window_start(i, h, 16) == local


def test_row_blocks_cover_every_column_once():
    for w in (5, 16, 17, 80):
        for stride in (1, 8):
            blocks = row_blocks(w, 16, stride)
            cols = [j for _, a, b in blocks for j in range(a, b)]
            assert cols == list(range(w))
            for c0, a, b in blocks:
                assert c0 <= a and b <= c0 + min(w, 16)


def test_fast_mode_is_deterministic_and_different_but_close():
    gpt, layout = _gpt("seg")
    cond = _cond("seg", layout, 2, 9, 11)
    z1 = sample_grid(gpt, layout, 9, 11, cond, Rule(seed=5), mode="fast", stride=2)
    z2 = sample_grid(gpt, layout, 9, 11, cond, Rule(seed=5), mode="fast", stride=2)
    assert torch.equal(z1, z2) and z1.shape == (2, 9, 11) and int(z1.max()) < N_EMBED
    exact, fast = {}, {}
    ze = sample_grid(gpt, layout, 9, 11, cond, Rule(seed=5), record=exact)
    assert not torch.equal(z1, ze)  # different: an approximation, not the exact rule
    # the exact grid scored under fast windows: a block's first token sees the exact window, the
    # others miss some upper-right context, so their logits move, but far less than a change of
    # position moves them
    sample_grid(gpt, layout, 9, 11, cond, Rule(), "fast", stride=2, force=ze, record=fast)
    firsts = {(i, j0) for i in range(9) for _, j0, _ in row_blocks(11, W, 2)}
    moved = [(fast[k] - exact[k]).abs().mean().item() for k in exact if k not in firsts]
    for k in firsts:
        torch.testing.assert_close(fast[k], exact[k], atol=2e-5, rtol=1e-5)
    assert max(moved) > 1e-3  # different
    between = [(exact[(i, j)] - exact[(i, j + 1)]).abs().mean().item() for i in range(9) for j in range(10)]
    assert sum(moved) / len(moved) < 0.8 * sum(between) / len(between)  # but close (measured 0.62)


def test_seed_determinism_and_samples_differ():
    gpt, layout = _gpt("uncond")
    cond = _cond("uncond", layout, 2, 6, 6)
    a = sample_grid(gpt, layout, 6, 6, cond, Rule(seed=1))
    b = sample_grid(gpt, layout, 6, 6, cond, Rule(seed=1))
    c = sample_grid(gpt, layout, 6, 6, cond, Rule(seed=2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert not torch.equal(a[0], a[1])  # samples in a batch differ
    # the batch does not change a sample: sample 1 alone (first_sample=1) equals its batched twin
    single = sample_grid(gpt, layout, 6, 6, [cond[0][1:]], Rule(seed=1), first_sample=1)
    assert torch.equal(single[0], a[1])


def test_cfg_scale_one_equals_plain_and_guidance_changes():
    gpt, layout = _gpt("class")
    cond = _cond("class", layout, 2, 5, 5)
    a = sample_grid(gpt, layout, 5, 5, cond, Rule(seed=0))
    b = sample_grid(gpt, layout, 5, 5, cond, Rule(seed=0, guidance=1.0))
    c = sample_grid(gpt, layout, 5, 5, cond, Rule(seed=0, guidance=3.0))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_prefix_rows_are_kept():
    gpt, layout = _gpt("uncond")
    cond = _cond("uncond", layout, 1, 6, 9)
    prefix = torch.randint(0, N_EMBED, (1, 2, 9))
    z = sample_grid(gpt, layout, 6, 9, cond, Rule(seed=0), prefix=prefix)
    assert torch.equal(z[:, :2], prefix)


def test_filter_logits_edge_cases():
    lg = torch.tensor([[1.0, 3.0, 2.0, 3.0]])
    k1 = filter_logits(lg, top_k=1)
    assert torch.isinf(k1[0, [0, 2]]).all() and torch.isfinite(k1[0, [1, 3]]).all()  # ties survive
    assert torch.equal(filter_logits(lg, top_k=10), lg)  # k >= vocab keeps everything
    p = filter_logits(torch.tensor([[0.0, 10.0, 0.0]]), top_p=0.5)
    assert torch.isfinite(p).sum() == 1 and torch.isfinite(p[0, 1])
    assert torch.isfinite(filter_logits(lg, top_p=1.0)).all()
    t = filter_logits(lg, temperature=2.0)
    assert torch.allclose(t, lg / 2)
    with pytest.raises(ValueError):
        filter_logits(lg, temperature=0)
    with pytest.raises(ValueError):
        filter_logits(lg, top_k=0)


def test_position_uniform_is_uniformish_and_keyed():
    u = position_uniform(0, torch.arange(2000), 3, 4)
    assert 0 <= u.min() and u.max() < 1 and abs(u.mean().item() - 0.5) < 0.03
    assert position_uniform(0, torch.tensor([5]), 1, 2).item() == position_uniform(0, torch.tensor([5]), 1, 2).item()
    assert position_uniform(0, torch.tensor([5]), 1, 2).item() != position_uniform(0, torch.tensor([5]), 2, 1).item()


def test_gpt_causal_and_kv_cache_equal_full_forward():
    gpt, _ = _gpt("uncond")
    x = torch.randint(0, N_EMBED, (2, 10))
    full = gpt(x)
    y = x.clone()
    y[:, 6:] = (y[:, 6:] + 1) % N_EMBED
    assert torch.allclose(gpt(y)[:, :6], full[:, :6], atol=1e-6)  # causal: t < 6 unchanged
    cache = KVCache.empty(gpt.cfg, 2, 10, "cpu")
    out = [gpt(x[:, :4], cache=cache, start=0)]
    for t in range(4, 10):
        out.append(gpt(x[:, t:t + 1], cache=cache, start=t))
    torch.testing.assert_close(torch.cat(out, 1), full, atol=1e-5, rtol=1e-5)


def test_forced_grid_scoring_matches_naive_logits():
    import math

    import torch.nn.functional as F

    from vqtool.eval.agreement import bits_per_token

    gpt, layout = _gpt("seg")
    cond = _cond("seg", layout, 2, 9, 11)
    rec = {}
    z = sample_naive(gpt, layout, 9, 11, cond, Rule(seed=2), record=rec)
    want = sum(F.cross_entropy(lg, z[:, i, j], reduction="sum").item() for (i, j), lg in rec.items())
    assert bits_per_token(gpt, layout, z, cond) == pytest.approx(want / (2 * 99) / math.log(2), rel=1e-5)


def _position_probe(window: int, n_embed: int):
    """A seg paper GPT whose logits name the position of the input they are computed at: no token
    embedding, blocks that add nothing, position p a one-hot at dimension p, the head the identity.
    Sampled with top-k 1, the code at (i, j) is the position of the token that predicts it."""
    layout = make_layout("seg", n_embed, window)
    C = 2 * layout.block_size
    g = build_gpt(GPTConfig(vocab_size=layout.vocab_size, block_size=layout.block_size, n_layer=1, n_head=2,
                            n_embd=C), layout).eval()
    with torch.no_grad():
        for p in g.parameters():
            p.zero_()
        g.pos_emb[0] = torch.eye(layout.block_size, C)
        g.ln_f.weight.fill_(1)
        g.head.weight[:C] = torch.eye(C)
    return g, layout


@pytest.mark.parametrize("hw", [(4, 4), (2, 4), (3, 4), (4, 3), (2, 3), (3, 9), (9, 2), (7, 6)])
def test_a_grid_smaller_than_the_window_keeps_the_training_positions(hw):
    """Training only sees full W x W windows: there a code (r, c) sits at cond_len + r*W + c, after the
    W*W map tokens. A grid with fewer rows (or columns) than the window used to pack its sequence
    tight, so its codes sat where training put map tokens (or another column). Every code is now
    predicted from the position training predicted it from (the first of a row in a narrower window
    has no such position: its predecessor ends the row above)."""
    h, w = hw
    gpt, layout = _position_probe(4, 64)
    W, full = layout.window, layout.cond_len()
    cond = _cond("seg", layout, 1, h, w)
    Wh, Ww = min(h, W), min(w, W)
    for z in (sample_grid(gpt, layout, h, w, cond, Rule(top_k=1)),
              sample_naive(gpt, layout, h, w, cond, Rule(top_k=1))):
        for i in range(h):
            for j in range(w):
                r, c = i - window_start(i, h, Wh), j - window_start(j, w, Ww)
                if c > 0:  # predicted at the code before it: (r, c - 1) of a training window
                    assert z[0, i, j] == full + r * W + c - 1, (i, j)
                elif r > 0 and Ww == W:  # at the end of the row above
                    assert z[0, i, j] == full + (r - 1) * W + W - 1, (i, j)
                elif r == 0:  # at the last map token of the window
                    assert z[0, i, j] == (Wh - 1) * W + Ww - 1, (i, j)
