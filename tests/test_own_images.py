"""Your own images: collapse is loud, shard folders never disagree with their manifest, small
grids are skipped and counted, class models with a null class sample unconditionally."""

import json

import numpy as np
import pytest
from PIL import Image

from conftest import TINY_VQGAN
from tests_helpers import TINY_GPT_WINDOW4, fail, ok, tiny_transformer


def _flat_images(folder, n=6, size=(32, 32)):
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(n):
        Image.new("RGB", size, (120, 100, 90)).save(folder / f"{k}.png")
    return folder


@pytest.fixture(scope="module")
def vq(tmp_path_factory, scenes):
    d = tmp_path_factory.mktemp("own")
    (d / "v.toml").write_text(TINY_VQGAN)
    ok(["train-vqgan", scenes / "images", "--recipe", d / "v.toml", "--out", d / "v"])
    ok(["train-vqgan", scenes / "images", "--recipe", d / "v.toml", "--out", d / "v2", "--set", "train.seed=1"])
    (d / "g.toml").write_text(TINY_GPT_WINDOW4)
    return d


# --------------------------------------------------------------------------- collapse


def test_collapse_warning_in_training(tmp_path, tiny_recipe):
    flat = _flat_images(tmp_path / "flat" / "images")
    r = ok(["train-vqgan", flat, "--recipe", tiny_recipe, "--out", tmp_path / "v", "--json",
            "--set", "model.quantizer.n_embed=256"])
    assert "CODEBOOK COLLAPSE" in " ".join(r.output.split())  # one colour: a handful of border codes
    assert json.loads(r.stdout)["collapsed"] is True


def _collapsed_vqgan(path):
    """A VQGAN whose codebook has collapsed: every entry but one sits far from any encoding."""
    from vqtool.core.io import checkpoint as ck
    from vqtool.core.config import QuantizerConfig, VQGANModelConfig, to_dict
    from vqtool.core.tokenizer.vqgan import VQGAN

    cfg = VQGANModelConfig(ch=8, ch_mult=[1, 2, 2], num_res_blocks=1, attn_resolutions=[], resolution=32, z_channels=8,
                           norm_groups=4, quantizer=QuantizerConfig(n_embed=16, embed_dim=8))
    m = VQGAN(cfg)
    m.quantize.embedding.weight.data.fill_(1e3)
    m.quantize.embedding.weight.data[7] = 0.0
    ck.save_checkpoint(path, {"format": ck.VQGAN, "config": {"kind": "vqgan", "model": to_dict(cfg), "data": {"size": 32}},
                              "model": m.state_dict(), "step": 0, "data": None})
    return path


def test_collapse_is_loud_in_tokenize_and_train_transformer(tmp_path, scenes):
    v = _collapsed_vqgan(tmp_path / "collapsed.pt")
    r = ok(["tokenize", scenes / "images", "--out", tmp_path / "sh", "--vqgan", v, "--no-seg", "--val", "0",
            "--json", "--size", "32"])
    text = " ".join(r.output.split())
    assert "has collapsed onto a few codes" in text and str(v) in text
    assert json.loads(r.stdout)["code_entropy_bits"] == 0.0 and json.loads(r.stdout)["codes_used"] == 1
    (tmp_path / "g.toml").write_text(TINY_GPT_WINDOW4)
    fail(["train-transformer", tmp_path / "sh", "--recipe", tmp_path / "g.toml", "--out", tmp_path / "g"],
         "has collapsed onto a few codes")
    assert not (tmp_path / "g").exists()
    ok(["train-transformer", tmp_path / "sh", "--recipe", tmp_path / "g.toml", "--out", tmp_path / "g", "--force",
        "--set", "train.max_steps=1", "--set", "train.image_every=0"])


def test_healthy_training_does_not_warn(vq, scenes, tmp_path):
    r = ok(["tokenize", scenes / "images", "--out", tmp_path / "sh", "--vqgan", vq / "v/last.pt", "--no-seg",
            "--size", "48", "--json"])
    assert "collapsed" not in r.output and json.loads(r.stdout)["code_entropy_bits"] > 2


# --------------------------------------------------------------------------- shard folders


@pytest.mark.parametrize("change,needle", [
    (["--vqgan", "v2"], "the image VQGAN (--vqgan)"),
    (["--size", "32"], "--size: 48 there, 32 now"),
    (["--flip"], "--flip: False there, True now"),
    (["--max-side", "56"], "--max-side"),
    (["--shard-size", "2"], "--shard-size"),
    (["--seg", "SEG"], "the label maps (--seg)"),
    (["--extra-image"], "the image files"),
])
def test_tokenize_refuses_another_jobs_folder(vq, scenes, tmp_path, change, needle):
    import shutil

    images = tmp_path / "images"
    shutil.copytree(scenes / "images", images)
    base = ["tokenize", images, "--out", tmp_path / "sh", "--no-seg", "--size", "48", "--shard-size", "4"]
    ok(base + ["--vqgan", vq / "v/last.pt"])
    before = sorted(p.name for p in (tmp_path / "sh").iterdir())
    args = base + ["--vqgan", vq / ("v2/last.pt" if change[:2] == ["--vqgan", "v2"] else "v/last.pt")]
    if change == ["--extra-image"]:
        shutil.copy(next(images.rglob("*.png")), images / "alpine" / "new.png")
    elif change[0] == "--seg":
        args = [a for a in args if a != "--no-seg"] + ["--seg", scenes / "seg", "--seg-vqgan", _seg_vq(vq, scenes)]
    elif change[0] != "--vqgan":
        args += change
    r = fail(args, needle)
    assert "--overwrite" in " ".join(r.output.split())
    assert sorted(p.name for p in (tmp_path / "sh").iterdir()) == before  # nothing touched
    r = ok(args + ["--overwrite", "--json"])  # rebuilt as asked
    assert json.loads(r.stdout)["samples"] > 0
    ok(args)  # and now it is this job's folder: a rerun resumes


def _seg_vq(vq, scenes):
    from tests_helpers import TINY_SEG

    if not (vq / "s/last.pt").is_file():
        (vq / "s.toml").write_text(TINY_SEG)
        ok(["train-vqgan", scenes / "seg", "--seg", "--recipe", vq / "s.toml", "--out", vq / "s"])
    return vq / "s/last.pt"


def test_tokenize_refuses_a_folder_without_a_job_record(vq, scenes, tmp_path):
    ok(["tokenize", scenes / "images", "--out", tmp_path / "sh", "--vqgan", vq / "v/last.pt", "--no-seg", "--size", "48"])
    (tmp_path / "sh" / "job.json").unlink()  # e.g. shards copied in from elsewhere
    fail(["tokenize", scenes / "images", "--out", tmp_path / "sh", "--vqgan", vq / "v/last.pt", "--no-seg",
          "--size", "48"], "no tokenize job record")


def test_resume_with_another_runs_shards_names_the_problem(vq, scenes, tmp_path):
    for name, v in (("a", "v"), ("b", "v2")):
        ok(["tokenize", scenes / "images", "--out", tmp_path / name, "--vqgan", vq / v / "last.pt", "--no-seg",
            "--size", "48"])
    ok(["train-transformer", tmp_path / "a", "--recipe", vq / "g.toml", "--out", tmp_path / "run",
        "--set", "train.max_steps=2", "--set", "train.image_every=0"])
    r = fail(["train-transformer", tmp_path / "b", "--out", tmp_path / "run", "--resume", "--set", "train.max_steps=4"],
             "is not the shard folder this run was trained on")
    assert "image VQGAN" in " ".join(r.output.split())


# --------------------------------------------------------------------------- small images


def test_small_grids_are_skipped_and_counted(vq, scenes, tmp_path):
    import shutil

    images = tmp_path / "images"
    shutil.copytree(scenes / "images", images)
    for k in range(2):  # 12x12 px -> 3x3 tokens at f=4: smaller than the 4x4 window
        Image.fromarray(np.random.default_rng(k).integers(0, 255, (12, 12, 3), dtype=np.uint8)).save(
            images / "lake" / f"tiny{k}.png")
    r = ok(["tokenize", images, "--out", tmp_path / "sh", "--vqgan", vq / "v/last.pt", "--no-seg", "--size", "0",
            "--val", "0", "--json"])
    assert json.loads(r.stdout)["samples"] == 14
    r = ok(["train-transformer", tmp_path / "sh", "--recipe", vq / "g.toml", "--out", tmp_path / "g",
            "--set", "train.max_steps=2", "--set", "train.image_every=0"])
    text = " ".join(r.output.split())
    assert "skipping 2 training grid(s) smaller than the 4x4 window" in text and "tiny0.png" in text


def test_tokenize_counts_upscaled_images(vq, tmp_path):
    d = tmp_path / "imgs"
    d.mkdir()
    for k, size in enumerate([(48, 36), (20, 20), (64, 48)]):
        Image.fromarray(np.random.default_rng(k).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(d / f"{k}.png")
    r = ok(["tokenize", d, "--out", tmp_path / "sh", "--vqgan", vq / "v/last.pt", "--size", "32", "--val", "0", "--json"])
    assert json.loads(r.stdout)["upscaled"] == 1  # only the 20x20 image grew


def test_vqgan_trainer_counts_upscaled_images_not_crops(tmp_path, tiny_recipe):
    d = tmp_path / "imgs"
    d.mkdir()
    Image.new("RGB", (20, 20), (10, 200, 30)).save(d / "small.png")
    for k in range(3):
        Image.fromarray(np.random.default_rng(k).integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(d / f"{k}.png")
    r = ok(["train-vqgan", d, "--recipe", tiny_recipe, "--out", tmp_path / "v", "--json"])
    assert json.loads(r.stdout)["upscaled"] == 1  # 4 steps x 4 crops drew the small image many times


# --------------------------------------------------------------------------- sampling, output


def test_class_model_with_null_class_samples_unconditionally(tmp_path):
    guided = tiny_transformer(tmp_path / "g.pt", "class", class_dropout=0.1)
    r = ok(["sample", "--model", guided, "--out", tmp_path / "s", "--n", 2])
    assert len(r.stdout.split()) == 2
    plain = tiny_transformer(tmp_path / "p.pt", "class")
    fail(["sample", "--model", plain, "--out", tmp_path / "s2"], "trained without class dropout")


def test_eval_recon_figures_on_stdout_and_plain_tables(vq, scenes):
    r = ok(["eval-recon", scenes / "images", "--vqgan", vq / "v/last.pt", "--no-rfid", "--size", "32"])
    line = r.stdout.strip().splitlines()[-1]
    assert line.startswith("images=12 ") and " psnr=" in line and " usage=" in line
    assert "psnr\t" in r.stderr  # CliRunner is no terminal: tab-separated lines, never cut columns
    r = ok(["info", vq / "v/last.pt"])
    assert "kind=VQGAN" in r.stdout and "factor=4" in r.stdout


def test_weights_message_names_each_folder_once(monkeypatch, tmp_path):
    from vqtool.core.errors import WeightsNotFound
    from vqtool.core.io.weights import find_weights

    with pytest.raises(WeightsNotFound) as e:
        find_weights("vgg16", download=False)
    hub = str(tmp_path / "torch_home" / "hub" / "checkpoints")
    assert str(e.value).count(hub) == 1


def test_demo_shows_progress_for_long_stages(tmp_path, tiny_recipe):
    from contextlib import contextmanager

    from tests_helpers import tiny_demo_options
    from vqtool.app.demo import DemoHooks, run_demo

    ticks = {}

    @contextmanager
    def bar(name, total=None):
        def advance(n=1, **kw):
            ticks[name] = ticks.get(name, 0) + n
        yield advance

    run_demo(tmp_path / "demo", tiny_demo_options(tmp_path, tiny_recipe), DemoHooks(progress=bar))
    assert ticks["tokenize"] == 6 and ticks["sample"] == 18 * 10  # images; tokens of the 72x40 sample
    assert ticks["scenes scenes"] == 6 and ticks["scenes big"] == 4
    assert ticks["class grid"] == 4 * 2


def test_label_map_colour_outside_the_palette_is_named_plainly(tmp_path):
    """The message printed numpy's repr, "colour (np.uint8(94), np.uint8(129), ...)" (a stranger's run)."""
    import numpy as np
    import pytest
    from PIL import Image

    from vqtool.core.errors import DataError
    from vqtool.data.images import load_labels

    a = np.zeros((4, 6, 3), np.uint8)
    a[2, 3] = (94, 129, 193)
    Image.fromarray(a).save(tmp_path / "m.png")
    with pytest.raises(DataError) as e:
        load_labels(tmp_path / "m.png", [(0, 0, 0), (255, 255, 255)])
    assert str(e.value) == f"{tmp_path / 'm.png'}: colour (94, 129, 193) at x=3, y=2 is not in the dataset's palette"
