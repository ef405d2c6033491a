import torch
import torch.nn.functional as F

from vqtool.core.config import QuantizerConfig
from vqtool.core.tokenizer.quantize import VectorQuantizer, codebook_stats


def _vq(**kw):
    torch.manual_seed(0)
    return VectorQuantizer(QuantizerConfig(n_embed=8, embed_dim=4, **kw))


def test_indices_are_nearest_codes_and_shapes():
    vq = _vq()
    z = torch.randn(2, 4, 3, 5)
    out = vq(z)
    assert out.quant.shape == z.shape and out.indices.shape == (2, 3, 5)
    flat = z.permute(0, 2, 3, 1).reshape(-1, 4)
    want = torch.cdist(flat, vq.embedding.weight).argmin(1)
    assert torch.equal(out.indices.flatten(), want)
    assert torch.allclose(vq.codes_from_indices(out.indices), out.quant, atol=1e-6)


def test_straight_through_gradient_is_identity():
    vq = _vq()
    z = torch.randn(1, 4, 2, 2, requires_grad=True)
    out = vq(z)
    (out.quant * 3.0).sum().backward()
    assert torch.allclose(z.grad, torch.full_like(z, 3.0))


def test_beta_placement_paper_and_legacy():
    z = torch.randn(2, 4, 2, 2)
    for legacy in (False, True):
        vq = _vq(beta=0.25, legacy=legacy)
        out = vq(z)
        zq = vq.embedding.weight[out.indices.flatten()]
        zf = z.permute(0, 2, 3, 1).reshape(-1, 4)
        d = F.mse_loss(zf, zq).item()
        # both terms have the same value; only their gradients differ, so check the weights by grad
        assert abs(out.loss.item() - 1.25 * d) < 1e-6
        zz = z.clone().requires_grad_(True)
        vq.embedding.weight.grad = None
        vq(zz).loss.backward()
        w_commit, w_code = (1.0, 0.25) if legacy else (0.25, 1.0)
        n = zf.numel()
        want_z = (w_commit * 2 * (zf - zq) / n).reshape(2, 2, 2, 4).permute(0, 3, 1, 2)
        assert torch.allclose(zz.grad, want_z, atol=1e-6)
        want_code = torch.zeros(8, 4).index_add_(0, out.indices.flatten(), w_code * 2 * (zq - zf) / n)
        assert torch.allclose(vq.embedding.weight.grad, want_code, atol=1e-6)


def test_ema_moves_codes_to_assigned_means_without_gradient():
    vq = _vq(ema=True, ema_decay=0.0)
    vq.train()
    z = torch.randn(4, 4, 3, 3)
    out = vq(z)
    assert not vq.embedding.weight.requires_grad
    flat = z.permute(0, 2, 3, 1).reshape(-1, 4)
    for k in out.indices.unique():
        mean = flat[out.indices.flatten() == k].mean(0)
        assert torch.allclose(vq.embedding.weight[k], mean, atol=1e-3)


def test_dead_code_restart_resets_state():
    vq = _vq(ema=True, restart_dead=True, restart_every=1, restart_threshold=100.0)  # every code counts as dead
    vq.train()
    z = torch.randn(1, 4, 4, 4) + 10.0  # far from every code: only a few codes get used
    vq(z)
    # after the restart every code sits near an encoder output, and its EMA state was reset
    flat = z.permute(0, 2, 3, 1).reshape(-1, 4)
    d = torch.cdist(vq.embedding.weight, flat).min(1).values
    assert (d < 0.5).all()
    assert torch.allclose(vq.ema_sum, vq.embedding.weight * vq.ema_count[:, None], atol=1e-5)
    assert torch.equal(vq.usage_ema, torch.ones(8))


def test_restart_codes_resets_ema_statistics():
    vq = _vq(ema=True, restart_dead=True)
    dead = torch.zeros(8, dtype=torch.bool)
    dead[[1, 5]] = True
    new = torch.ones(2, 4)
    vq.restart_codes(dead, new)
    assert torch.equal(vq.embedding.weight[dead], new)
    assert torch.equal(vq.ema_sum[dead], new) and torch.equal(vq.ema_count[dead], torch.ones(2))
    assert torch.equal(vq.usage_ema[dead], torch.ones(2))


def test_usage_and_perplexity():
    s = codebook_stats(torch.tensor([5.0, 5.0, 0.0, 0.0]))
    assert s["usage"] == 50.0 and abs(s["perplexity"] - 2.0) < 1e-9
    s = codebook_stats(torch.tensor([1.0, 1.0, 1.0, 1.0]))
    assert s["usage"] == 100.0 and abs(s["perplexity"] - 4.0) < 1e-9


def test_l2_and_low_dim_lookup():
    vq = _vq(l2_norm=True, codebook_dim=2)
    z = torch.randn(2, 4, 3, 3)
    out = vq(z)
    assert out.quant.shape == z.shape
    assert torch.allclose(vq.codes_from_indices(out.indices), out.quant, atol=1e-5)
