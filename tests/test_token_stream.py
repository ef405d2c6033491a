"""The streaming token reader: every sample once per epoch, disjoint ranks, exact resume from any
position, batches independent of the DataLoader's workers, and training that resumes after
SIGKILL exactly as an uninterrupted run."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tests_helpers import kill_at_first_checkpoint, ok

from vqtool.data import tars
from vqtool.data.token_stream import RankStream


@pytest.fixture(scope="module")
def vqgan(tmp_path_factory):
    from vqtool.app.bench import random_vqgan

    return random_vqgan(tmp_path_factory.mktemp("vq") / "vqgan.pt")


@pytest.fixture(scope="module")
def synth(tmp_path_factory, vqgan):
    """230 samples in shards of 50 (the last one 30), classes from 10."""
    from vqtool.data.synthetic import make_token_shards

    out = tmp_path_factory.mktemp("synth")
    make_token_shards(out, 230, vqgan, grid=(6, 7), shard_size=50, val=8)
    return out


def _stream(folder, **kw):
    m = json.loads((Path(folder) / "manifest.json").read_text())  # the file as written
    return RankStream([str(Path(folder) / e["name"]) for e in m["shards"]], [e["count"] for e in m["shards"]],
                      **{"seed": 0, **kw})


def _keys(stream, start, n):
    out = []
    for pos, s in stream(start):
        if len(out) == n:
            break
        out.append(s["__key__"])
    return out


@pytest.mark.parametrize("buffer", [1, 37, 5000])
def test_each_epoch_holds_every_sample_once(synth, buffer):
    s = _stream(synth, buffer=buffer)
    two = _keys(s, 0, 460)
    assert sorted(two[:230]) == sorted(two[230:]) == sorted(f"{i:09d}" for i in range(230))
    assert two[:230] != two[230:]  # a new order every epoch
    if buffer > 1:
        assert two[:50] != sorted(two[:50])  # shuffled within shards too


@pytest.mark.parametrize("world", [2, 3, 7])
def test_ranks_read_disjoint_samples(synth, world):
    # 5 shards: 2 and 3 ranks split shards, 7 ranks (more than shards) split samples
    streams = [_stream(synth, rank=r, world=world, buffer=16) for r in range(world)]
    assert all(s.by_shard for s in streams) == (world <= 5)
    per_rank = [_keys(s, 0, s.epoch_size(0)) for s in streams]
    flat = [k for keys in per_rank for k in keys]
    assert len(flat) == len(set(flat)) == 230


@settings(max_examples=25, deadline=None)
@given(start=st.integers(0, 700), buffer=st.integers(1, 120), seed=st.integers(-2**63, 2**63 - 1))
def test_resume_from_any_position_equals_reading_on(synth, start, buffer, seed):
    s = _stream(synth, buffer=buffer, seed=seed)
    assert _keys(s, start, 25) == _keys(s, 0, start + 25)[start:]


def test_batches_do_not_depend_on_workers_and_resume_exactly(synth, vqgan):
    from vqtool.core.conditioning.layout import Layout
    from vqtool.data.shards import read_manifest
    from vqtool.train.token_data import StreamBatches

    lay = Layout.for_shards(read_manifest(synth), 4)

    def batches(workers, start, end):
        ds = StreamBatches(_stream(synth, buffer=20), lay, 6, start, end, True, 0.1)
        return list(torch.utils.data.DataLoader(ds, batch_size=None, num_workers=workers))

    one = batches(0, 0, 60)  # 360 samples: more than an epoch
    assert len(one) == 60 and one[0].shape == (6, 1 + 16)
    for got in (batches(2, 0, 60), batches(3, 0, 60), batches(0, 17, 60), batches(2, 41, 60)):
        for a, b in zip(one[-len(got):], got):
            assert torch.equal(a, b)


def test_synthetic_shards_train_and_the_stream_reads_no_more_than_its_buffer(synth, tmp_path, monkeypatch):
    from tests_helpers import TINY_GPT_WINDOW4 as TINY_GPT

    (tmp_path / "g.toml").write_text(TINY_GPT)
    seen = []
    real = tars.samples

    def counting(url, problems=None):
        for s in real(url, problems):
            seen.append(url)
            yield s

    monkeypatch.setattr(tars, "samples", counting)
    r = ok(["train-transformer", synth, "--recipe", tmp_path / "g.toml", "--out", tmp_path / "o", "--set",
            "train.image_every=0", "--set", "data.shuffle_buffer=10", "--set", "train.max_steps=2", "--json"])
    assert json.loads(r.stdout)["step"] == 2
    # 2 steps x 4 samples (+ the 10 buffered) of one epoch: a couple of shards opened, not all 230 samples
    assert len(seen) < 120


def test_bad_buffer_and_damaged_shards(synth, tmp_path):
    from tests_helpers import TINY_GPT_WINDOW4 as TINY_GPT
    from tests_helpers import fail

    (tmp_path / "g.toml").write_text(TINY_GPT)
    fail(["train-transformer", synth, "--recipe", tmp_path / "g.toml", "--out", tmp_path / "o",
          "--set", "data.shuffle_buffer=0"], "'data.shuffle_buffer' must be >= 1")
    # values torch or the loop stopped on with a traceback (a stranger's run), and a run folder left behind
    for bad, words in [("optim.batch_size=0", "'optim.batch_size' must be >= 1, got 0"),
                       ("optim.lr=-1", "'optim.lr' must be >= 0, got -1"), ("gpt.n_layer=0", "'gpt.n_layer' must be >= 1"),
                       ("train.max_steps=0", "'train.max_steps' must be >= 1"), ("data.window=0", "'data.window' must be >= 1")]:
        fail(["train-transformer", synth, "--recipe", tmp_path / "g.toml", "--out", tmp_path / "o", "--set", bad], words)
        assert not (tmp_path / "o").exists(), bad
    # a shard replaced by a shorter one after tokenizing: found when the stream reaches it
    import shutil

    d = tmp_path / "d"
    shutil.copytree(synth, d)
    (d / "train-000001.tar").write_bytes((d / "train-000004.tar").read_bytes())  # 30 samples, sidecar says 50
    fail(["train-transformer", d, "--recipe", tmp_path / "g.toml", "--out", tmp_path / "o2", "--set",
          "train.image_every=0", "--set", "train.max_steps=200", "--set", "data.shuffle_buffer=1"], "sidecar says 50")


def test_transformer_resume_after_sigkill_equals_uninterrupted(tmp_path, synth):
    from tests_helpers import TINY_GPT_WINDOW4 as TINY_GPT

    (tmp_path / "g.toml").write_text(TINY_GPT)
    common = ["--recipe", str(tmp_path / "g.toml"), "--set", "train.max_steps=40", "--set", "train.ckpt_every=2",
              "--set", "train.image_every=0", "--set", "data.shuffle_buffer=25", "--device", "cpu"]
    a, b = tmp_path / "a", tmp_path / "b"
    ok(["train-transformer", synth, "--out", a, *common])
    # the same threads as this process (no OMP_NUM_THREADS): bitwise equal sums
    killed_at = kill_at_first_checkpoint(["train-transformer", synth, "--out", b, *common], b)
    assert killed_at < 40
    ok(["train-transformer", synth, "--out", b, "--resume", "--set", "data.workers=2"])  # workers change nothing
    ca, cb = (torch.load(d / "last.pt", weights_only=True) for d in (a, b))
    assert cb["step"] == 40
    for k in ca["model"]:
        assert torch.equal(ca["model"][k], cb["model"][k]), k


RANK_SCRIPT = """
import json, sys
from pathlib import Path
from vqtool.core import runtime
from vqtool.core.config import TransformerRecipe
from vqtool.core.conditioning.layout import Layout
from vqtool.data.shards import read_manifest
from vqtool.train.token_data import train_stream

runtime.init_distributed(runtime.resolve_device("cpu"))
folder = Path(sys.argv[1])
m = read_manifest(folder)
r = TransformerRecipe()
r.data.window = 4
s, _ = train_stream(folder, m, Layout.for_shards(m, 4), r, runtime.rank(), runtime.world_size(), print)
keys = [x["__key__"] for _, x in zip(range(s.epoch_size(0)), (raw for _, raw in s(0)))]
(folder.parent / f"rank{runtime.rank()}-of-{runtime.world_size()}.json").write_text(json.dumps(keys))
"""


def test_torchrun_ranks_read_disjoint_samples(tmp_path, synth):
    import shutil

    d = tmp_path / "shards"
    shutil.copytree(synth, d)
    (tmp_path / "ranks.py").write_text(RANK_SCRIPT)
    env = {**os.environ, "VQTOOL_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                        str(tmp_path / "ranks.py"), str(d)], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    k0, k1 = (json.loads((tmp_path / f"rank{i}-of-2.json").read_text()) for i in range(2))
    assert k0 and k1 and not set(k0) & set(k1) and len(k0) + len(k1) == 230


def test_bench_data_rows(tmp_path):
    r = ok(["bench", "data", "--samples", "300,1_200", "--steps", "2", "--tokenize-images", "6", "--work",
            tmp_path, "--json"])
    rows = json.loads(r.stdout)
    scale = [x for x in rows if x["what"].startswith("train-transformer")]
    assert [x["samples"] for x in scale] == [300, 1200]
    assert all(x["peak_rss_mb"] > 50 and x["tokens_per_s"] > 0 for x in scale)
    readers = {x["what"]: x for x in rows if x["what"].startswith("reader")}
    assert set(readers) == {"reader: streaming", "reader: in-memory (before)"}
    tok = {x["what"]: x for x in rows if x["what"].startswith("tokenize")}
    assert tok["tokenize from folder"]["samples"] == tok["tokenize from tar shards"]["samples"] == 6
    # the sets are kept and reused: a second run builds nothing
    again = json.loads(ok(["bench", "data", "--samples", "300", "--steps", "1", "--tokenize-images", "0",
                           "--work", tmp_path, "--json"]).stdout)
    assert again[0]["build_s"] == 0.0


@pytest.mark.parametrize("bad", ["", "10,x", "0", "-5"])
def test_bench_data_bad_samples(bad, tmp_path):
    from tests_helpers import fail

    fail(["bench", "data", "--samples", bad, "--work", tmp_path], "--samples")
