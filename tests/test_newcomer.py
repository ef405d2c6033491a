"""What a newcomer met on a fresh clone (issue 32): collapse that stayed quiet where it shows, and
a list of small faults, each one message."""

import json

import numpy as np
import pytest
from PIL import Image

from conftest import TINY_VQGAN
from tests_helpers import TINY_GPT_WINDOW4, fail, ok, runner, tiny_transformer
from vqtool.cli import app


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("newcomer")
    return {"seg": tiny_transformer(d / "seg.pt", "seg"), "guided": tiny_transformer(d / "g.pt", "class",
                                                                                     class_dropout=0.1)}


def _few_codes_vqgan(path, images, keep=3, n_embed=256):
    """A VQGAN whose codebook is ``keep`` encodings of real scenes and 253 entries no encoding comes
    near: it uses a few codes with more than a bit of entropy (the old 1-bit floor stayed silent)."""
    import torch

    from vqtool.core.io import checkpoint as ck
    from vqtool.core.config import QuantizerConfig, VQGANModelConfig, to_dict
    from vqtool.core.tokenizer.vqgan import VQGAN
    from vqtool.data import images as imgs

    torch.manual_seed(0)
    cfg = VQGANModelConfig(ch=8, ch_mult=[1, 2, 2], num_res_blocks=1, attn_resolutions=[], resolution=32, z_channels=8,
                           norm_groups=4, quantizer=QuantizerConfig(n_embed=n_embed, embed_dim=8))
    m = VQGAN(cfg)
    x = torch.stack([imgs.to_tensor(imgs.fit(imgs.load_rgb(f), 4, 32)[0].crop((0, 0, 32, 32))) for f in images[:4]])
    with torch.no_grad():
        z = m.quant_conv(m.encoder(x)).permute(0, 2, 3, 1).reshape(-1, 8)  # (positions, 8)
    e = m.quantize.embedding.weight.data
    e.fill_(1e3)
    for k, i in enumerate(torch.linspace(0, len(z) - 1, keep).long()):
        e[k] = z[i]
    ck.save_checkpoint(path, {"format": ck.VQGAN, "config": {"kind": "vqgan", "model": to_dict(cfg), "data": {"size": 32}},
                              "model": m.state_dict(), "step": 0, "data": None})
    return path


# --------------------------------------------------------------------------- collapse, loud where it shows


def test_few_codes_are_loud_in_tokenize_train_transformer_and_eval_recon(scenes, tmp_path):
    v = _few_codes_vqgan(tmp_path / "few.pt", sorted((scenes / "images").rglob("*.png")))
    r = ok(["tokenize", scenes / "images", "--out", tmp_path / "sh", "--vqgan", v, "--no-seg", "--val", "0",
            "--json", "--size", "32"])
    s = json.loads(r.stdout)
    assert 1.0 < s["code_entropy_bits"] < 2 and 2 <= s["codes_used"] <= 3  # above the old 1-bit floor
    text = " ".join(r.output.split())
    assert "CODEBOOK COLLAPSE" in text and "perplexity" in text and str(v) in text
    (tmp_path / "g.toml").write_text(TINY_GPT_WINDOW4)
    fail(["train-transformer", tmp_path / "sh", "--recipe", tmp_path / "g.toml", "--out", tmp_path / "g"],
         "has collapsed onto a few codes")
    assert not (tmp_path / "g").exists()
    r = ok(["eval-recon", scenes / "images", "--vqgan", v, "--size", "32", "--no-rfid", "--json"])
    ev, text = json.loads(r.stdout), " ".join(r.output.split())
    assert ev["perplexity"] < 4 and "CODEBOOK COLLAPSE" in text and "retrain it" in text


def _flat_vqgan(path):
    """A VQGAN that reconstructs every image as one colour (its decoder's last layer: a bias alone)."""
    import torch

    from test_own_images import _collapsed_vqgan
    from vqtool.core.io import checkpoint as ck

    _collapsed_vqgan(path)
    c = torch.load(path, weights_only=True)
    c["model"]["decoder.conv_out.weight"].zero_()
    c["model"]["decoder.conv_out.bias"].copy_(torch.tensor([0.1, -0.2, 0.05]))
    ck.save_checkpoint(path, c)
    return path


def test_flat_reconstructions_are_loud_in_training_and_eval_recon(scenes, tmp_path):
    v = _flat_vqgan(tmp_path / "flat.pt")
    (tmp_path / "v.toml").write_text(TINY_VQGAN)
    r = ok(["train-vqgan", scenes / "images", "--init-from", v, "--recipe", tmp_path / "v.toml", "--out",
            tmp_path / "run", "--set", "optim.lr=0", "--set", "train.max_steps=2", "--set", "train.log_every=1",
            "--json"])
    s = json.loads(r.stdout[r.stdout.index("{"):])
    assert s["collapsed"] is True and s["flat"] is True and s["last"]["spread"] < 0.2
    assert "FLAT RECONSTRUCTIONS" in " ".join(r.output.split())
    r = ok(["eval-recon", scenes / "images", "--vqgan", v, "--size", "32", "--no-rfid", "--json"])
    assert json.loads(r.stdout)["spread"] < 0.2 and "FLAT RECONSTRUCTIONS" in " ".join(r.output.split())


def test_a_healthy_eval_recon_does_not_warn(scenes, tmp_path, tiny_recipe):
    ok(["train-vqgan", scenes / "images", "--recipe", tiny_recipe, "--out", tmp_path / "v"])
    r = ok(["eval-recon", scenes / "images", "--vqgan", tmp_path / "v" / "last.pt", "--size", "32", "--no-rfid",
            "--json"])
    assert json.loads(r.stdout)["spread"] > 0.2 and "FLAT" not in r.output


def test_flat_samples_are_named(models, tmp_path, monkeypatch):
    from vqtool.pipeline import generate

    flat = Image.new("RGB", (16, 16), (90, 90, 90))
    monkeypatch.setattr(generate, "generate", lambda *a, **k: [flat, flat])
    r = ok(["sample", "--model", models["guided"], "--class", "lake", "--n", "2", "--out", tmp_path / "s"])
    assert "FLAT SAMPLES: 2 of 2" in " ".join(r.output.split())
    assert generate.flat_samples([flat, Image.fromarray(np.arange(768, dtype=np.uint8).reshape(16, 16, 3))]) == \
        [(0, 0.0)]


# --------------------------------------------------------------------------- the Python API checks like the CLI


def test_api_refuses_what_the_cli_refuses(models):
    import vqtool
    from vqtool.core.errors import VqtoolError

    t = vqtool.load(models["guided"], device="cpu")
    with pytest.raises(VqtoolError, match="'exakt' is not one of exact, fast"):
        vqtool.sample(t, n=1, size=(16, 16), class_="lake", mode="exakt")
    with pytest.raises(VqtoolError, match="not a 64-bit integer"):
        vqtool.sample(t, n=1, size=(16, 16), class_="lake", seed=2**64)
    a = vqtool.sample(t, n=1, size=(16, 16), class_="lake", seed=2**64 - 1)
    b = vqtool.sample(t, n=1, size=(16, 16), class_="lake", seed=-1)  # the same 64 bits
    assert np.array_equal(np.asarray(a[0]), np.asarray(b[0]))
    with pytest.raises(VqtoolError, match="give --class"):
        vqtool.sample(t, n=1, size=(16, 16), cfg=2.0)


def test_cfg_without_a_class_is_refused(models, tmp_path):
    fail(["sample", "--model", models["guided"], "--cfg", "2", "--out", tmp_path / "s"], "--cfg guides towards a class")
    assert not (tmp_path / "s").exists()
    ok(["sample", "--model", models["guided"], "--cfg", "2", "--class", "lake", "--out", tmp_path / "s"])
    ok(["sample", "--model", models["guided"], "--out", tmp_path / "u"])  # unguided, unconditional


# --------------------------------------------------------------------------- help, lists, messages


def test_help_keeps_brackets_and_is_not_cut_at_80_columns():
    import typer.main

    def commands(c, path):
        if hasattr(c, "commands"):
            for name, sub in c.commands.items():
                yield from commands(sub, path + [name])
        else:
            yield path

    r = runner.invoke(app, ["train-vqgan", "--help"])
    assert "recipe's [model] table" in " ".join(r.output.replace("│", " ").split())
    for path in commands(typer.main.get_command(app), []):
        out = runner.invoke(app, path + ["--help"], terminal_width=80).output
        assert "…" not in out, (path, [ln for ln in out.splitlines() if "…" in ln])


def test_resume_past_max_steps_says_so(scenes, tmp_path, tiny_recipe):
    ok(["train-vqgan", scenes / "images", "--recipe", tiny_recipe, "--out", tmp_path / "v"])
    fail(["train-vqgan", scenes / "images", "--out", tmp_path / "v", "--resume", "--set", "train.max_steps=2"],
         "is already at step 4, and train.max_steps is 2: nothing to train")


def test_resume_past_max_steps_says_so_for_the_transformer(tmp_path):
    from tests_helpers import resumable_transformer_run

    run, shards = resumable_transformer_run(tmp_path)
    fail(["train-transformer", shards, "--out", run, "--resume", "--set", "train.max_steps=3"],
         "is already at step 6, and train.max_steps is 3")


def test_recipes_list_shows_the_list_once(monkeypatch):
    from vqtool.commands import _ui
    from vqtool.core.config.recipes import list_recipes

    names = list(list_recipes())
    r = runner.invoke(app, ["recipes", "list"])  # not a terminal: the names, one per line, for scripts
    assert r.stdout.split() == names and r.output.count("scenes-vqgan-tiny\n") == 1
    monkeypatch.setattr(_ui, "stdout_is_terminal", lambda: True)
    r = runner.invoke(app, ["recipes", "list"])  # a person: the table alone
    assert r.stdout == "" and r.output.count("scenes-vqgan-tiny\t") == 1 and "what" in r.output


def test_info_on_a_shard_says_what_it_is(tmp_path, scenes, tiny_recipe):
    ok(["train-vqgan", scenes / "images", "--recipe", tiny_recipe, "--out", tmp_path / "v", "--set",
        "train.max_steps=1"])
    ok(["tokenize", scenes / "images", "--out", tmp_path / "sh", "--vqgan", tmp_path / "v/last.pt", "--no-seg"])
    r = fail(["info", tmp_path / "sh" / "train-000000.tar"], "is one token shard of the shard folder")
    assert "safely" not in r.output and f"vqtool info {tmp_path / 'sh'}" in " ".join(r.output.split())


def test_a_depth_map_given_to_a_segmentation_model_is_one_line(models, tmp_path):
    depth = (np.arange(64 * 48).reshape(48, 64) * 21).astype(np.uint16)  # 16-bit, thousands of values
    Image.fromarray(depth).save(tmp_path / "depth.png")
    r = fail(["sample", "--model", models["seg"], "--cond", tmp_path / "depth.png", "--out", tmp_path / "s"],
             "class id(s) the model does not know, the first 21")
    assert len(r.output) < 400 and "a depth map or a photo?" in " ".join(r.output.split())


def test_a_recipe_typo_suggests_the_close_name(scenes, tmp_path):
    r = fail(["train-vqgan", scenes / "images", "--recipe", "scenes-vqgan-tiyn", "--out", tmp_path / "v"],
             "did you mean 'scenes-vqgan-tiny'")
    assert "vqgan-f16-16384" not in r.output  # not every recipe
    fail(["train-vqgan", scenes / "images", "--recipe", "zzz", "--out", tmp_path / "v"], "shipped recipes: ")
    fail(["train-vqgan", scenes / "images", "--recipe", tmp_path / "gone.toml", "--out", tmp_path / "v"],
         "recipe file not found")


@pytest.mark.parametrize("before", [["--json"], ["--device", "cpu"], ["--device", "cuda", "--json"]])
def test_bench_options_before_the_stage_are_not_dropped_silently(before):
    """`vqtool bench --json vqgan` printed a text table (the group's --json and --device were ignored
    once a stage was named): one message saying where they go, exit 2, nothing measured."""
    r = fail(["bench", *before, "vqgan"], "put them after it: vqtool bench vqgan")
    assert "Traceback" not in r.output
