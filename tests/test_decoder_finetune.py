"""Decoder fine-tuning: `train-vqgan --init-from` with `train.trainable = "decoder"` keeps every
image's codes, and `replace-decoder` gives a transformer the fine-tuned decoder."""

import torch
from typer.testing import CliRunner

from tests_helpers import label_map, tiny_transformer
from vqtool.cli import app

runner = CliRunner()
TOKENIZER = ("encoder.", "quant_conv.", "quantize.")


def _train(args):
    return runner.invoke(app, ["train-vqgan", *map(str, args)])


def _model(path):
    return torch.load(path, weights_only=True)["model"]


def _codes_and_images(ckpt, images):
    from vqtool.core.tokenizer.loading import load_vqgan
    from vqtool.data import images as imgs

    m, _ = load_vqgan(ckpt, "cpu")
    x = torch.stack([imgs.to_tensor(imgs.load_rgb(p).crop((0, 0, 32, 32))) for p in images])
    with torch.no_grad():
        q = m.encode(x)
        return q.indices, m.decode(q.quant)


def test_decoder_finetune_keeps_every_code(tmp_path, scenes, tiny_recipe):
    base, dec = tmp_path / "base", tmp_path / "dec"
    assert _train([scenes / "images", "--recipe", tiny_recipe, "--out", base]).exit_code == 0
    r = _train([scenes / "images", "--recipe", tiny_recipe, "--out", dec, "--init-from", base / "last.pt",
                "--set", "train.trainable=decoder", "--set", "loss.disc_start=0", "--set", "train.max_steps=3"])
    assert r.exit_code == 0, r.output
    a, b = _model(base / "last.pt"), _model(dec / "last.pt")
    assert a.keys() == b.keys()
    for k in a:
        if k.startswith(TOKENIZER):
            assert torch.equal(a[k], b[k]), k
    assert any(not torch.equal(a[k], b[k]) for k in a if k.startswith("decoder."))
    c = torch.load(dec / "last.pt", weights_only=True)
    assert c["step"] == 3 and c["init_from"]["step"] == 4 and c["config"]["train"]["trainable"] == "decoder"
    files = sorted((scenes / "images").rglob("*.png"))[:4]
    (ia, xa), (ib, xb) = _codes_and_images(base / "last.pt", files), _codes_and_images(dec / "last.pt", files)
    assert torch.equal(ia, ib) and not torch.allclose(xa, xb)
    # resuming keeps it frozen
    r = _train([scenes / "images", "--out", dec, "--resume", "--set", "train.max_steps=5"])
    assert r.exit_code == 0, r.output
    c = _model(dec / "last.pt")
    assert all(torch.equal(a[k], c[k]) for k in a if k.startswith(TOKENIZER))
    info = runner.invoke(app, ["info", str(dec / "last.pt"), "--json"])
    assert '"trainable": "decoder"' in info.stdout and str(base.resolve()) in info.stdout


def test_init_from_takes_weights_and_architecture(tmp_path, scenes, tiny_recipe):
    base, ft = tmp_path / "base", tmp_path / "ft"
    assert _train([scenes / "images", "--recipe", tiny_recipe, "--out", base, "--set", "train.max_steps=2"]).exit_code == 0
    # the recipe asks for another width: the checkpoint's architecture wins; lr 0 leaves its weights as they are
    r = _train([scenes / "images", "--recipe", tiny_recipe, "--out", ft, "--init-from", base / "last.pt",
                "--set", "model.ch=8", "--set", "optim.lr=0", "--set", "train.max_steps=2"])
    assert r.exit_code == 0, r.output
    c, b = torch.load(ft / "last.pt", weights_only=True), torch.load(base / "last.pt", weights_only=True)
    assert c["config"]["model"] == b["config"]["model"] and c["step"] == 2
    assert all(torch.equal(c["model"][k], b["model"][k]) for k in b["model"])


def test_init_from_without_recipe_takes_the_checkpoints_recipe(tmp_path, scenes, tiny_recipe):
    """Fine-tuning a model needs no recipe file: the run continues with the recipe the checkpoint was
    trained with (before: the paper recipe, whose LPIPS stopped an offline run)."""
    base, ft = tmp_path / "base", tmp_path / "ft"
    assert _train([scenes / "images", "--recipe", tiny_recipe, "--out", base, "--set", "train.max_steps=2",
                   "--set", "optim.lr=3e-4"]).exit_code == 0
    r = _train([scenes / "images", "--out", ft, "--init-from", base / "last.pt", "--set", "train.trainable=decoder",
                "--set", "train.max_steps=3"])
    assert r.exit_code == 0, r.output
    b, c = (torch.load(d / "last.pt", weights_only=True)["config"] for d in (base, ft))
    assert c["train"] == {**b["train"], "trainable": "decoder", "max_steps": 3}
    assert {k: c[k] for k in c if k != "train"} == {k: b[k] for k in b if k != "train"}
    for extra, words in [([tmp_path / "missing.pt"], "not found"), ([base / "last.pt", "--seg"], "VQGAN")]:
        r = _train([scenes / "images", "--out", tmp_path / "bad", "--init-from", *extra])
        assert r.exit_code == 2 and words in r.output and "Traceback" not in r.output, r.output
        assert not (tmp_path / "bad").exists()


def test_init_from_bad_input_is_one_message_and_nothing_written(tmp_path, scenes, tiny_recipe):
    base = tmp_path / "base"
    assert _train([scenes / "images", "--recipe", tiny_recipe, "--out", base, "--set", "train.max_steps=1"]).exit_code == 0
    model = tiny_transformer(tmp_path / "t.pt")
    cases = [
        (["--init-from", base / "last.pt", "--resume"], "--resume"),
        (["--set", "train.trainable=decoder"], "--init-from"),
        (["--set", "train.trainable=encoder"], "'train.trainable' must be one of 'all', 'decoder'"),
        (["--init-from", model], "transformer"),
        (["--init-from", tmp_path / "missing.pt"], "not found"),
    ]
    for extra, words in cases:
        out = tmp_path / "out"
        r = _train([scenes / "images", "--recipe", tiny_recipe, "--out", out, *extra])
        assert r.exit_code == 2, (extra, r.output)
        assert words in r.output and "Traceback" not in r.output, (extra, r.output)
        assert not out.exists(), extra


def _vqgan_file(path, stage: dict):
    from vqtool.core.io import checkpoint as ck

    ck.save_checkpoint(path, {"format": ck.VQGAN, "config": {"kind": "vqgan", "model": stage["config"]},
                              "model": stage["model"], "step": 0, "data": None})
    return path


def test_replace_decoder_swaps_only_a_decoder(tmp_path):
    model = tiny_transformer(tmp_path / "t.pt")
    first = torch.load(model, weights_only=True)["first_stage"]
    tuned = {k: v + 0.05 if k.startswith("decoder.conv_out") else v for k, v in first["model"].items()}
    new = _vqgan_file(tmp_path / "tuned.pt", {**first, "model": tuned})
    r = runner.invoke(app, ["replace-decoder", str(model), str(new), "--out", str(tmp_path / "t2.pt")])
    assert r.exit_code == 0, r.output and r.stdout.strip().endswith("t2.pt")
    out = torch.load(tmp_path / "t2.pt", weights_only=True)
    assert all(torch.equal(out["first_stage"]["model"][k], tuned[k]) for k in tuned)
    assert all(torch.equal(out["model"][k], v) for k, v in torch.load(model, weights_only=True)["model"].items())
    # same seed, same tokens (the GPT and the cond stage are the same), another decoder: other pixels
    cond = label_map(tmp_path / "seg.png")
    imgs = []
    for m in (model, tmp_path / "t2.pt"):
        r = runner.invoke(app, ["sample", "--model", str(m), "--cond", str(cond), "--size", "40x28", "--seed", "3",
                                "--out", str(tmp_path / m.stem)])
        assert r.exit_code == 0, r.output
        from PIL import Image
        imgs.append(torch.tensor(list(Image.open(r.stdout.split()[-1]).getdata())))
    assert not torch.equal(*imgs)
    info = runner.invoke(app, ["info", str(tmp_path / "t2.pt"), "--json"])
    assert "tuned.pt" in info.stdout
    # a shipped demo export keeps the record of the swap
    from vqtool.app.demo_models import export_demo_checkpoint

    export_demo_checkpoint(tmp_path / "t2.pt", tmp_path / "ship" / "x.pt", {}, [])
    assert torch.load(tmp_path / "ship" / "x.pt", weights_only=True)["decoder_replaced"][0]["vqgan"].endswith("tuned.pt")


def test_replace_decoder_accepts_fp16_embedded_stage(tmp_path):
    """Shipped transformers keep their VQGAN in fp16; the fp32 fine-tune matches it in fp16."""
    from vqtool.core.io import checkpoint as ck

    model = tiny_transformer(tmp_path / "t.pt")
    c = torch.load(model, weights_only=True)
    full = c["first_stage"]["model"]
    c["first_stage"]["model"] = {k: v.half() if v.is_floating_point() else v for k, v in full.items()}
    ck.save_checkpoint(model, c)
    new = _vqgan_file(tmp_path / "v.pt", {**c["first_stage"], "model": full})
    r = runner.invoke(app, ["replace-decoder", str(model), str(new)])
    assert r.exit_code == 0, r.output
    out = torch.load(tmp_path / "t-decoder.pt", weights_only=True)["first_stage"]["model"]
    assert out["decoder.conv_out.weight"].dtype == torch.float16


def test_replace_decoder_refuses_another_tokenizer(tmp_path):
    model = tiny_transformer(tmp_path / "t.pt")
    first = torch.load(model, weights_only=True)["first_stage"]
    moved = {k: v + 0.01 if k == "quant_conv.weight" else v for k, v in first["model"].items()}
    other = tiny_transformer(tmp_path / "o.pt", n_embed=32)
    cases = [(_vqgan_file(tmp_path / "moved.pt", {**first, "model": moved}), "'quant_conv.weight' differs"),
             (_vqgan_file(tmp_path / "wide.pt", torch.load(other, weights_only=True)["first_stage"]), "architecture"),
             (other, "needs a VQGAN")]
    for vq, words in cases:
        r = runner.invoke(app, ["replace-decoder", str(model), str(vq), "--out", str(tmp_path / "x.pt")])
        assert r.exit_code == 2 and words in r.output and "Traceback" not in r.output, r.output
        assert not (tmp_path / "x.pt").exists()
