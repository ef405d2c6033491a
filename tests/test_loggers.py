"""Logs people read (issue 29): train.logger = tensorboard | wandb beside metrics.jsonl, and
`vqtool plot RUN`."""

import json
import sys

import pytest
from PIL import Image

from tests_helpers import fail, ok, resumable_transformer_run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return resumable_transformer_run(tmp_path_factory.mktemp("logs"))


def _records(run_dir):
    return [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_tensorboard_gets_the_scalars_and_previews(run, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _, shards = run
    from tests_helpers import TINY_GPT_WINDOW4

    (tmp_path / "g.toml").write_text(TINY_GPT_WINDOW4)
    ok(["train-transformer", shards, "--recipe", tmp_path / "g.toml", "--out", tmp_path / "t", "--set",
        "train.logger=tensorboard", "--set", "train.image_every=3", "--device", "cpu"])
    ev = EventAccumulator(str(tmp_path / "t/tensorboard"), size_guidance={"images": 0}).Reload()
    recs = [r for r in _records(tmp_path / "t") if "val_bpt" in r]
    got = ev.Scalars("val_bpt")
    assert [e.step for e in got] == [r["step"] for r in recs] and len(got) >= 2
    assert [round(e.value, 4) for e in got] == [round(r["val_bpt"], 4) for r in recs]
    assert {"loss", "bpt", "lr", "unigram_bpt"} <= set(ev.Tags()["scalars"])
    assert [e.step for e in ev.Images("samples")] == [3, 6]


def test_wandb_offline_run_holds_the_scalars(scenes, tmp_path, monkeypatch):
    from conftest import TINY_VQGAN

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    (tmp_path / "v.toml").write_text(TINY_VQGAN)
    ok(["train-vqgan", scenes / "images", "--recipe", tmp_path / "v.toml", "--out", tmp_path / "v", "--set",
        "train.logger=wandb", "--device", "cpu"])
    files = list((tmp_path / "v/wandb").glob("offline-run-*/run-*.wandb"))
    assert len(files) == 1
    raw = files[0].read_bytes()
    last = _records(tmp_path / "v")[-1]
    for key in ("rec_loss", "d_weight", "usage", "perplexity"):
        assert key.encode() in raw
    assert json.dumps(last["rec_loss"]).encode() in raw  # the values as W&B stores them (JSON text)
    assert b"reconstructions" in raw  # the preview grid


def test_a_bad_or_missing_logger_is_one_message(run, tmp_path, monkeypatch):
    _, shards = run
    fail(["train-transformer", shards, "--out", tmp_path / "t", "--set", "train.logger=tensorbord"],
         "train.logger")
    monkeypatch.setitem(sys.modules, "wandb", None)  # the extra not installed
    from tests_helpers import TINY_GPT_WINDOW4

    (tmp_path / "g.toml").write_text(TINY_GPT_WINDOW4)
    fail(["train-transformer", shards, "--recipe", tmp_path / "g.toml", "--out", tmp_path / "w", "--set",
          "train.logger=wandb"], "pip install 'vqtool[wandb]'")


def test_plot_draws_every_curve(run, tmp_path):
    g, _ = run
    r = json.loads(ok(["plot", g, "--json"]).stdout)
    assert r["out"] == str(g / "curves.png") and {"loss", "val_bpt", "unigram_bpt", "lr"} <= set(r["series"])
    im = Image.open(g / "curves.png")
    assert im.size[0] >= 360 and im.size[1] >= 200 * ((len(r["series"]) + 2) // 3)
    assert len(set(im.convert("RGB").getdata())) > 2  # lines and text on the white panels
    ok(["plot", g / "metrics.jsonl", "--out", tmp_path / "c.png"])
    assert Image.open(tmp_path / "c.png").size == im.size
    fail(["plot", tmp_path], "no metrics.jsonl")
