"""Issue 13's measuring and training pieces: the discriminator feature-matching perceptual term,
the sharpness measure, and `bench quality --sample`."""

import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter

from tests_helpers import fail, label_map, ok, tiny_transformer


def test_feature_distance_is_zero_for_identical_images_and_trains_only_the_generator():
    from vqtool.core.tokenizer.discriminator import PatchDiscriminator
    from vqtool.core.tokenizer.losses import feature_distance

    torch.manual_seed(0)
    d = PatchDiscriminator(3, 8, 2)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert feature_distance(d, x, x.clone()).item() == pytest.approx(0.0, abs=1e-7)
    xr = (x + 0.3 * torch.randn_like(x)).requires_grad_(True)
    d.requires_grad_(False)
    dist = feature_distance(d, x, xr)
    assert dist.item() > 0.05
    dist.backward()
    assert xr.grad is not None and xr.grad.abs().sum() > 0
    assert d.training  # restored after the eval-mode measurement


def test_feature_distance_ignores_the_scale_of_the_features():
    from vqtool.core.tokenizer.discriminator import PatchDiscriminator
    from vqtool.core.tokenizer.losses import feature_distance

    torch.manual_seed(0)
    d = PatchDiscriminator(3, 8, 2)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    xr = x + 0.2 * torch.randn_like(x)
    a = feature_distance(d, x, xr).item()
    with torch.no_grad():
        d.main[0].weight.mul_(10)  # the first conv: every feature after it scales by 10 (LeakyReLU is
        d.main[0].bias.mul_(10)  # positively homogeneous, BN runs on its running statistics)
    assert feature_distance(d, x, xr).item() == pytest.approx(a, rel=1e-3)


def test_disc_features_perceptual_term_enters_the_generator_loss():
    from vqtool.core.config import LossConfig
    from vqtool.core.tokenizer.losses import VQGANLoss

    torch.manual_seed(0)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    xr = x + 0.2 * torch.randn_like(x)
    q = torch.zeros(())
    on = VQGANLoss(LossConfig(perceptual="disc-features", disc_start=10**6, disc_num_layers=2, disc_ndf=8))
    off = VQGANLoss(LossConfig(perceptual="none", disc_start=10**6, disc_num_layers=2, disc_ndf=8))
    l_on, logs_on = on.generator_loss(x, xr, q, 0, None)
    l_off, logs_off = off.generator_loss(x, xr, q, 0, None)
    assert logs_on["p_loss"] > 0 and logs_off["p_loss"] == 0
    assert l_on.item() == pytest.approx(l_off.item() + logs_on["p_loss"], rel=1e-5)


def test_sharpness_falls_with_blur_and_is_one_for_the_image_itself():
    from vqtool.eval.agreement import sharpness
    from vqtool.eval.metrics import mean_gradient

    rng = np.random.default_rng(0)
    im = Image.fromarray(rng.integers(0, 255, (64, 80, 3), dtype=np.uint8))
    assert sharpness([im], [im]) == pytest.approx(1.0)
    blurred = [sharpness([im.filter(ImageFilter.GaussianBlur(r))], [im]) for r in (0.5, 1.0, 2.0)]
    assert 1 > blurred[0] > blurred[1] > blurred[2] > 0
    flat = torch.zeros(1, 3, 8, 8)
    assert mean_gradient(flat).item() == 0.0


def test_eval_recon_reports_sharpness(tmp_path, scenes, tiny_recipe):
    from vqtool.eval.metrics import eval_recon

    ok(["train-vqgan", scenes / "images", "--recipe", tiny_recipe, "--out", tmp_path / "vq", "--device", "cpu"])
    r = eval_recon(scenes / "images", tmp_path / "vq" / "last.pt", size=32, device="cpu", rfid=False)
    assert 0 < r["sharpness"] < 3


def test_bench_quality_scores_a_given_sample(tmp_path):
    model = tiny_transformer(tmp_path / "seg.pt", mode="seg")
    lab = label_map(tmp_path / "d" / "seg" / "lake" / "a.png", size=(40, 24))
    real = tmp_path / "d" / "images" / "lake" / "a.png"
    real.parent.mkdir(parents=True)
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (24, 40, 3), dtype=np.uint8)).save(real)
    ok(["sample", "--model", model, "--cond", lab, "--size", "40x24", "--out", tmp_path / "s"])
    sample = next((tmp_path / "s").glob("*.png"))
    r = ok(["bench", "quality", "--model", model, "--cond", lab, "--sample", sample, "--json"])
    import json

    rows = {row["mode"]: row for row in json.loads(r.stdout)}
    assert set(rows) == {"reconstruction of the real scene", "given sample"}
    for row in rows.values():
        assert 0 <= row["label_agreement"] <= 1 and 0 < row["sharpness"] < 10, row
    fail(["bench", "quality", "--model", model, "--cond", lab, "--sample", real.with_name("nope.png")], "cannot read image")
    other = tmp_path / "other.png"
    Image.new("RGB", (16, 16)).save(other)
    fail(["bench", "quality", "--model", model, "--cond", lab, "--sample", other], "the sample is 16x16")
    alone = label_map(tmp_path / "alone" / "m.png", size=(40, 24))
    fail(["bench", "quality", "--model", model, "--cond", alone, "--sample", sample], "real scene")


def test_bench_quality_samples_a_local_model_once(tmp_path):
    """A local model's fast mode is its exact one: bench quality once sampled and scored it twice,
    giving two identical rows for twice the time; a paper GPT keeps both modes."""
    import json

    lab = label_map(tmp_path / "d" / "seg" / "lake" / "a.png", size=(40, 24))
    real = tmp_path / "d" / "images" / "lake" / "a.png"
    real.parent.mkdir(parents=True)
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (24, 40, 3), dtype=np.uint8)).save(real)
    for attention, modes in (("local", ["exact"]), ("global", ["exact", "fast"])):
        model = tiny_transformer(tmp_path / f"{attention}.pt", mode="seg", attention=attention)
        rows = json.loads(ok(["bench", "quality", "--model", model, "--cond", lab, "--size", "40x24", "--n", "1",
                              "--json", "--device", "cpu"]).stdout)
        assert [r["mode"] for r in rows] == ["reconstruction of the real scene", *modes]
    # --mode: that mode alone, the same figures as its row beside the other; a local model stays exact
    for only in ("exact", "fast"):
        alone = json.loads(ok(["bench", "quality", "--model", model, "--cond", lab, "--size", "40x24", "--n", "1",
                               "--json", "--mode", only, "--device", "cpu"]).stdout)
        assert [r["mode"] for r in alone] == ["reconstruction of the real scene", only]
        want = next(r for r in rows if r["mode"] == only)
        assert {k: v for k, v in alone[1].items() if k != "seconds"} == {k: v for k, v in want.items() if k != "seconds"}
    local = tmp_path / "local.pt"
    rows = json.loads(ok(["bench", "quality", "--model", local, "--cond", lab, "--size", "40x24", "--n", "1",
                          "--json", "--mode", "fast", "--device", "cpu"]).stdout)
    assert [r["mode"] for r in rows] == ["reconstruction of the real scene", "exact"]
    fail(["bench", "quality", "--model", model, "--cond", lab, "--mode", "fsat"], "'fsat' is not one of")
