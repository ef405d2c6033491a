"""Files and machines that misbehave: images whose header claims gigapixels, tar members that claim a
terabyte, broken FID statistics, recipe values nothing could hold, a full disk, a read-only or locked
folder, too many open files. Each is one message and an exit code (2 for the user's input or
argument, 1 for the machine), never a traceback or a NaN, and nothing half-written."""

import errno
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import TINY_VQGAN, write_image
from tests_helpers import bomb_png, fail, forged_tar, ok, runner, tiny_transformer
from vqtool.cli import app


@pytest.fixture(scope="module")
def vq(scenes, tmp_path_factory):
    d = tmp_path_factory.mktemp("faults-vq")
    (d / "v.toml").write_text(TINY_VQGAN)
    ok(["train-vqgan", scenes / "images", "--recipe", d / "v.toml", "--out", d / "run", "--set", "train.max_steps=2"])
    return d / "run" / "last.pt"


@pytest.fixture(scope="module")
def shards(scenes, vq, tmp_path_factory):
    out = tmp_path_factory.mktemp("faults-shards") / "s"
    ok(["tokenize", scenes / "images", "--out", out, "--vqgan", vq, "--no-seg", "--size", "64", "--val", "2"])
    return out


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("faults-models")
    return {"seg": tiny_transformer(d / "seg.pt", "seg"), "class": tiny_transformer(d / "class.pt", "class")}


def run(args, code, needle):
    """A command that must fail with ``code``, one message holding ``needle`` and no traceback."""
    r = runner.invoke(app, [str(a) for a in args])
    flat = " ".join(r.output.split())
    assert r.exit_code == code and needle in flat, r.output
    assert "Traceback" not in r.output and flat.count("error:") == 1, r.output
    return r


# --- images that claim to be huge ------------------------------------------------------------------------


def test_a_bomb_is_refused_by_its_header_without_decoding(tmp_path):
    from vqtool.core.errors import DataError
    from vqtool.data import images as imgs

    big = bomb_png(tmp_path / "big.png", 30000, 30000)
    mid = bomb_png(tmp_path / "mid.png", 13000, 13000)  # below PIL's error size: PIL would decode it
    assert big.stat().st_size < 50_000
    t0 = time.process_time()
    for p in (big, mid):
        assert "megapixels, more than the limit" in imgs.header_ok(p)
        with pytest.raises(DataError, match="header says 13000x13000|header says 30000x30000"):
            imgs.load_rgb(p)
        with pytest.raises(DataError, match="megapixels"):
            imgs.load_labels(p)
    assert time.process_time() - t0 < 5  # nothing was decoded (a decode of 13000² RGB takes far longer)


def test_max_pixels_option_and_env(tmp_path, monkeypatch):
    from vqtool.data import images as imgs

    p = bomb_png(tmp_path / "wide.png", 12000, 10000, "L")  # 120 megapixels
    assert imgs.header_ok(p) is not None
    monkeypatch.setenv("VQTOOL_MAX_PIXELS", "200M")
    assert imgs.header_ok(p) is None
    monkeypatch.setenv("VQTOOL_MAX_PIXELS", "0")
    assert imgs.max_pixels() == 0 and imgs.header_ok(p) is None
    monkeypatch.delenv("VQTOOL_MAX_PIXELS")
    r = runner.invoke(app, ["--max-pixels", "lots", "info", str(p)])
    assert r.exit_code == 2 and "not a pixel count" in r.output


def test_tokenize_skips_and_reports_a_bomb(scenes, vq, tmp_path):
    d = tmp_path / "data" / "images"
    shutil.copytree(scenes / "images", d)
    bomb_png(d / "lake" / "huge.png", 30000, 30000)
    bomb_png(d / "lake" / "big.png", 13000, 13000)
    r = ok(["tokenize", d, "--out", tmp_path / "t", "--vqgan", vq, "--no-seg", "--size", "64", "--val", "0", "--json"])
    s = json.loads(r.stdout)
    assert s["samples"] == 12 and s["skipped"] == 2
    assert all("megapixels" in why for p, why in s["skipped_files"].items() if "huge" in p or "big" in p)


def test_train_vqgan_skips_a_bomb(scenes, tmp_path, tiny_recipe):
    d = tmp_path / "images"
    shutil.copytree(scenes / "images", d)
    bomb_png(d / "lake" / "huge.png", 30000, 30000)
    r = ok(["train-vqgan", d, "--recipe", tiny_recipe, "--out", tmp_path / "run", "--set", "train.max_steps=1",
            "--json"])
    s = json.loads(r.stdout[r.stdout.index("{"):])
    assert any("huge.png" in p and "megapixels" in why for p, why in s["skipped_files"].items())


def test_single_input_bombs_are_exit_2(models, vq, tmp_path):
    lab = bomb_png(tmp_path / "map.png", 13000, 13000, "L")
    img = bomb_png(tmp_path / "photo.png", 30000, 30000)
    run(["sample", "--model", models["seg"], "--cond", lab, "--out", tmp_path / "s"], 2, "megapixels")
    run(["sample", "--model", models["class"], "--class", "lake", "--prefix", img, "--out", tmp_path / "s"], 2,
        "megapixels")
    run(["reconstruct", img, "--vqgan", vq, "--out", tmp_path / "r"], 2, "megapixels")
    assert not (tmp_path / "s").exists() and not (tmp_path / "r").exists()


def test_a_raised_pixel_limit_meets_the_memory_guard(models, vq, tmp_path):
    """Above the pixel limit the user raised, the decoded label map itself is counted by the guard
    (it used to pass the guard and die allocating 2.5 GB)."""
    lab = bomb_png(tmp_path / "map.png", 13000, 13000, "L")
    img = bomb_png(tmp_path / "photo.png", 13000, 13000)
    r = run(["--max-pixels", "0", "sample", "--model", models["seg"], "--cond", lab, "--size", "64x64", "--out",
             tmp_path / "s", "--max-memory", "1GB"], 2, "would need about")
    assert "13000" not in r.output or "64x64" in r.output
    run(["--max-pixels", "500M", "reconstruct", img, "--vqgan", vq, "--out", tmp_path / "r", "--max-memory", "2GB"], 2,
        "reconstructing")
    assert not (tmp_path / "s").exists() and not (tmp_path / "r").exists()


def test_eval_recon_of_nothing_readable_is_an_error_not_nan(vq, tmp_path):
    d = tmp_path / "imgs"
    bomb_png(d / "huge.png", 30000, 30000)
    r = run(["eval-recon", d, "--vqgan", vq, "--size", "32", "--no-rfid"], 2, "no image in")
    assert "huge.png" in r.output and "nan" not in r.output.lower()


def test_eval_recon_reports_what_it_skipped(scenes, vq, tmp_path):
    d = tmp_path / "imgs"
    d.mkdir()
    for i, f in enumerate(sorted((scenes / "images").rglob("*.png"))[:2]):
        shutil.copy(f, d / f"{i}.png")
    (d / "notes.png").write_text("not an image")
    r = ok(["eval-recon", d, "--vqgan", vq, "--size", "32", "--no-rfid", "--json"])
    s = json.loads(r.stdout)
    assert s["images"] == 2 and s["skipped"] == 1
    assert "skipped" in r.output and "notes.png" in r.output


# --- tar members that claim a terabyte -------------------------------------------------------------------


def test_a_tar_member_claiming_a_terabyte_is_skipped(scenes, vq, tmp_path):
    files = sorted((scenes / "images").rglob("*.png"))[:6]
    d = tmp_path / "tars"
    d.mkdir()
    forged_tar(d / "train-000000.tar", files)
    r = ok(["tokenize", d, "--out", tmp_path / "t", "--vqgan", vq, "--size", "48", "--val", "0", "--json"])
    s = json.loads(r.stdout)
    assert s["samples"] == 6
    assert any("1,099,511,627,776 bytes" in why for why in s["skipped_files"].values())
    r = ok(["train-vqgan", d, "--recipe", TINY_VQGAN_FILE(tmp_path), "--out", tmp_path / "run",
            "--set", "train.max_steps=1", "--json"])
    s = json.loads(r.stdout[r.stdout.index("{"):])
    assert s["skipped"] == 1 and "truncated" in " ".join(s["skipped_files"].values())


def TINY_VQGAN_FILE(tmp_path):
    p = tmp_path / "tiny.toml"
    p.write_text(TINY_VQGAN)
    return p


def test_a_member_read_past_the_shard_end_is_a_data_error(tmp_path):
    from vqtool.core.errors import DataError
    from vqtool.data import images as imgs
    from vqtool.data.tars import TarMember

    (tmp_path / "a.tar").write_bytes(b"\0" * 4096)
    m = TarMember(str(tmp_path / "a.tar"), "x.png", 512, 2**40, "a.tar")
    with pytest.raises(DataError, match="past the end"):
        imgs.load_rgb(m)


# --- FID statistics ----------------------------------------------------------------------------------------


def test_broken_reference_statistics_are_refused(tmp_path, inception_weights):
    from tests_helpers import noise_folder

    a = noise_folder(tmp_path / "a", size=(80, 64))
    w = ["--weights-dir", inception_weights]
    mu, sigma = np.zeros(2048), np.eye(2048)
    nan_mu = mu.copy()
    nan_mu[5] = np.nan
    inf_sigma = sigma.copy()
    inf_sigma[3, 3] = np.inf
    np.savez(tmp_path / "nan.npz", mu=nan_mu, sigma=sigma)
    np.savez(tmp_path / "inf.npz", mu=mu, sigma=inf_sigma)
    np.savez(tmp_path / "str.npz", mu=np.array(["x"] * 2048), sigma=sigma)
    for f, needle in (("nan", "1 non-finite value"), ("inf", "1 non-finite value"), ("str", "not numbers")):
        r = run(["eval-fid", a, "--ref-stats", tmp_path / f"{f}.npz", *w], 2, needle)
        assert "nan" not in r.stdout.lower() and not (a / "fid.json").exists()


def test_fid_from_degenerate_statistics_is_an_error():
    from vqtool.core.errors import VqtoolError
    from vqtool.eval.fid import fid_from_stats

    good = {"mu": np.zeros(4), "sigma": np.eye(4)}
    for sigma in (np.full((4, 4), -1e300), np.full((4, 4), np.nan)):
        with pytest.raises(VqtoolError, match="statistics"):
            fid_from_stats(good, {"mu": np.zeros(4), "sigma": sigma})
    assert fid_from_stats(good, good) == pytest.approx(0, abs=1e-9)


# --- recipe values nothing could hold ----------------------------------------------------------------------


@pytest.mark.parametrize("key", ["model.ch=1000000", "data.size=1048576", "optim.batch_size=100000000",
                                 "model.num_res_blocks=1000000"])
def test_vqgan_recipe_values_beyond_memory(scenes, tiny_recipe, tmp_path, key):
    t0 = time.time()
    run(["train-vqgan", scenes / "images", "--recipe", tiny_recipe, "--out", tmp_path / "run", "--set", key], 2,
        "would need at least")
    assert not (tmp_path / "run").exists()
    assert time.time() - t0 < 60  # refused up front, not after minutes of allocation (a loose bound)


def test_codebook_of_ten_billion_in_a_toml(scenes, tmp_path):
    p = tmp_path / "huge.toml"
    p.write_text(TINY_VQGAN.replace("n_embed = 32", "n_embed = 10000000000"))
    r = run(["train-vqgan", scenes / "images", "--recipe", p, "--out", tmp_path / "run"], 2, "would need at least")
    assert "B parameters" in r.output and not (tmp_path / "run").exists()


@pytest.mark.parametrize("key", ["gpt.n_embd=1048576", "optim.batch_size=100000000", "gpt.n_layer=1000000"])
def test_transformer_recipe_values_beyond_memory(shards, tmp_path, key):
    run(["train-transformer", shards, "--out", tmp_path / "run", "--set", "data.window=8", "--set", key], 2,
        "would need at least")
    assert not (tmp_path / "run").exists()


def test_max_memory_on_training_is_the_users_limit(shards, tmp_path):
    run(["train-transformer", shards, "--out", tmp_path / "run", "--set", "data.window=8", "--max-memory", "1MB"], 2,
        "of --max-memory")
    ok(["train-transformer", shards, "--out", tmp_path / "run", "--set", "data.window=8", "--set",
        "train.max_steps=1", "--max-memory", "0"])


def _saved_bytes(step) -> int:
    """Bytes of the distinct tensors autograd keeps for the backward pass of ``step()``."""
    seen = {}

    def pack(t):
        seen[(t.data_ptr(), t.shape)] = t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        step()
    return sum(seen.values())


def test_training_estimates_are_lower_bounds():
    """The guard must never refuse what fits: each estimate stays below the real step's weights,
    gradients, Adam moments and saved activations."""
    from dataclasses import replace

    from vqtool.core import memory
    from vqtool.core.config import GPTConfig, VQGANModelConfig
    from vqtool.core.transformer import build_gpt
    from vqtool.core.tokenizer.vqgan import VQGAN

    cfg = VQGANModelConfig(ch=32, ch_mult=[1, 2], num_res_blocks=1, attn_resolutions=[], resolution=64, z_channels=8)
    m = VQGAN(cfg)
    real = sum(p.numel() for p in m.parameters()) + sum(b.numel() for b in m.buffers())
    assert memory.param_count(lambda: VQGAN(cfg)) == real
    assert memory.param_count_in(lambda k: VQGAN(replace(cfg, num_res_blocks=k)), 7) == \
        memory.param_count(lambda: VQGAN(replace(cfg, num_res_blocks=7)))
    x = torch.randn(4, 3, 96, 96)
    acts = _saved_bytes(lambda: (lambda out: (out[0] - x).abs().mean() + out[1].loss)(m(x)))
    assert memory.vqgan_train_bytes(cfg, real, 0, 4, 96) <= real * 16 + acts

    g = GPTConfig(vocab_size=300, block_size=65, n_layer=3, n_head=4, n_embd=64)
    gpt = build_gpt(g, None)
    real = sum(p.numel() for p in gpt.parameters())
    assert memory.param_count_in(lambda k: build_gpt(replace(g, n_layer=k), None), 3) == real
    idx = torch.randint(0, 300, (8, 65))
    acts = _saved_bytes(lambda: torch.nn.functional.cross_entropy(gpt(idx).flatten(0, 1), idx.flatten()))
    assert memory.gpt_train_bytes(g, real, 8) <= real * 16 + acts


# --- the memory guard's limits -----------------------------------------------------------------------------


def _fake_proc(tmp_path, monkeypatch, meminfo_kb, cgroup_lines, files):
    from vqtool.core import memory

    (tmp_path / "meminfo").write_text(f"MemTotal: 99999999 kB\nMemAvailable: {meminfo_kb} kB\n")
    (tmp_path / "cgroup").write_text(cgroup_lines)
    root = tmp_path / "cg"
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    monkeypatch.setattr(memory, "MEMINFO", str(tmp_path / "meminfo"))
    monkeypatch.setattr(memory, "PROC_CGROUP", str(tmp_path / "cgroup"))
    monkeypatch.setattr(memory, "CGROUP_ROOT", str(root))
    return memory


def test_guard_takes_the_cgroup_v2_limit(tmp_path, monkeypatch):
    m = _fake_proc(tmp_path, monkeypatch, 20 * 2**20, "0::/box/job\n",
                   {"box/memory.max": str(6 * 2**30), "box/memory.current": str(2**30),
                    "box/job/memory.max": "max", "box/job/memory.current": str(2**30)})
    assert m.available() == (5 * 2**30, "the cgroup memory limit")
    with pytest.raises(m.MemoryLimitError, match="more than the 5.0 GiB of the cgroup memory limit"):
        m.check(6 * 2**30, None, "this", "do less")


def test_guard_takes_the_cgroup_v1_limit_inside_a_namespace(tmp_path, monkeypatch):
    m = _fake_proc(tmp_path, monkeypatch, 20 * 2**20, "4:memory:/process_api/abc\n1:cpu:/\n",
                   {"memory/memory.limit_in_bytes": str(3 * 2**30), "memory/memory.usage_in_bytes": str(2**30)})
    assert m.available() == (2 * 2**30, "the cgroup memory limit")


def test_guard_ignores_an_unlimited_cgroup(tmp_path, monkeypatch):
    m = _fake_proc(tmp_path, monkeypatch, 4 * 2**20, "4:memory:/\n",
                   {"memory/memory.limit_in_bytes": "9223372036854771712", "memory/memory.usage_in_bytes": "1"})
    assert m.available() == (4 * 2**30, "available memory")


def test_guard_takes_the_address_space_limit(models, tmp_path):
    """`ulimit -v`: a process limit the free RAM does not show (a subprocess, so the limit is real)."""
    code = ("import resource, sys\n"
            "from vqtool.core import memory\n"
            "from vqtool.cli import app\n"
            "import vqtool.commands.sample, vqtool.pipeline.generate, vqtool.pipeline.bundle\n"
            "vm = int([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmSize')][0]) * 1024\n"
            "room = memory._meminfo() // 2\n"
            "resource.setrlimit(resource.RLIMIT_AS, (vm + room, resource.RLIM_INFINITY))\n"
            "left, name = memory.available()\n"
            "print(round(left / 2**30, 1), name, flush=True)\n"
            "sys.argv = ['vqtool', 'sample', '--model', sys.argv[1], '--class', 'lake', '--size', '30000x30000',"
            " '--out', sys.argv[2]]\n"
            "app()\n")
    p = subprocess.run([sys.executable, "-c", code, str(models["class"]), str(tmp_path / "s")], capture_output=True,
                       text=True, env={**os.environ, "COLUMNS": "200"})
    assert p.returncode == 2, p.stderr
    assert p.stdout.split(" ", 1)[1].strip() == "the address-space limit (ulimit -v)"
    assert "of the address-space limit (ulimit -v)" in p.stderr and "Traceback" not in p.stderr


# --- the machine: a full disk, a read-only folder, a locked folder, too many files ---------------------------


@pytest.fixture
def tmpfs(tmp_path):
    """A small tmpfs (root only), removed afterwards; tests fill it to the room they want."""
    d = tmp_path / "small"
    d.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96m", "tmpfs", str(d)], capture_output=True, text=True)
    if r.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    yield d
    subprocess.run(["umount", "-l", str(d)], check=True)


def _fill(folder: Path, leave: int) -> Path:
    """A file that fills ``folder``'s file system up to ``leave`` free bytes."""
    filler = folder / "filler"
    free = shutil.disk_usage(folder).free
    with open(filler, "wb") as f:
        f.write(b"\0" * max(free - leave, 0))
    return filler


def _shards(folder: Path) -> dict:
    """Every shard's samples field by field, and the sidecars (tar headers carry write times)."""
    from vqtool.data.shards import read_shard

    def plain(v):
        return v.tobytes() if isinstance(v, np.ndarray) else v

    out = {p.name: [{k: plain(v) for k, v in x.items()} for x in read_shard(p)] for p in sorted(folder.glob("*.tar"))}
    return out | {p.name: p.read_text() for p in sorted(folder.glob("*-*.json"))}


def test_tokenize_on_a_full_disk_then_resume(scenes, vq, tmp_path, tmpfs):
    args = ["--vqgan", vq, "--no-seg", "--size", "64", "--val", "2", "--shard-size", "2"]
    ok(["tokenize", scenes / "images", "--out", tmp_path / "whole", *args])
    whole = sum(p.stat().st_size for p in (tmp_path / "whole").iterdir())
    filler = _fill(tmpfs, whole // 2)  # room for some of the shards
    r = run(["tokenize", scenes / "images", "--out", tmpfs / "t", *args], 1, "no space left on the device")
    assert str(tmpfs / "t") in " ".join(r.output.split())
    assert not [p for p in (tmpfs / "t").iterdir() if ".tmp-" in p.name]  # nothing half-written
    filler.unlink()
    r = ok(["tokenize", scenes / "images", "--out", tmpfs / "t", *args])
    assert "resuming" in r.output
    a, b = _shards(tmp_path / "whole"), _shards(tmpfs / "t")
    assert len(a) > 4 and a == b


def test_train_transformer_on_a_full_disk_then_resume(shards, tmp_path, tmpfs):
    args = ["--set", "data.window=8", "--set", "train.max_steps=4", "--set", "train.ckpt_every=2",
            "--set", "train.image_every=0", "--set", "train.log_every=1"]
    ok(["train-transformer", shards, "--out", tmp_path / "whole", *args])
    size = (tmp_path / "whole" / "last.pt").stat().st_size
    # room for the first checkpoint, not for the second beside it (written before the first is replaced)
    filler = _fill(tmpfs, int(size * 1.5) + 16 * 1024)
    r = run(["train-transformer", shards, "--out", tmpfs / "run", *args], 1, "no space left on the device")
    assert "last.pt" in r.output and "inline_container" not in r.output
    assert torch.load(tmpfs / "run" / "last.pt", weights_only=True)["step"] == 2
    assert not [p for p in (tmpfs / "run").iterdir() if ".tmp-" in p.name]
    filler.unlink()
    ok(["train-transformer", shards, "--out", tmpfs / "run", "--resume"])
    a = torch.load(tmp_path / "whole" / "last.pt", weights_only=True)
    b = torch.load(tmpfs / "run" / "last.pt", weights_only=True)
    assert b["step"] == 4 and all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    steps = [json.loads(ln)["step"] for ln in (tmpfs / "run" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]  # the lines of the lost steps went; none twice


@pytest.fixture
def read_only(tmp_path):
    """A folder on a read-only bind mount (read-only even for root)."""
    d = tmp_path / "ro"
    d.mkdir()
    r = subprocess.run(["mount", "--bind", str(d), str(d)], capture_output=True, text=True)
    if r.returncode:
        pytest.skip(f"cannot bind-mount here: {r.stderr.strip()}")
    subprocess.run(["mount", "-o", "remount,ro,bind", str(d)], check=True)
    yield d
    subprocess.run(["umount", "-l", str(d)], check=True)


def test_read_only_out_is_exit_2_before_any_work(scenes, vq, shards, models, tiny_recipe, read_only):
    out = read_only / "x"
    for args in (["tokenize", scenes / "images", "--out", out, "--vqgan", vq, "--no-seg"],
                 ["train-transformer", shards, "--out", out, "--set", "data.window=8"],
                 ["train-vqgan", scenes / "images", "--recipe", tiny_recipe, "--out", out],
                 ["sample", "--model", models["class"], "--class", "lake", "--out", out],
                 ["make-scenes", out, "--n", "1"], ["demo", "--out", out],
                 ["convert-taming", vq, "--out", out / "c.pt"]):
        run(args, 2, "cannot be written")
        assert not out.exists()


def test_a_locked_folder_for_a_user_without_the_root_bypass(models, tmp_path):
    """As a user without root's permission bypass (root without CAP_DAC_OVERRIDE) meets it."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) is not installed")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    cmd = [setpriv, "--bounding-set=-dac_override,-dac_read_search", sys.executable, "-m", "vqtool", "sample",
           "--model", str(models["class"]), "--class", "lake", "--out", str(locked / "s")]
    p = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"})
    assert p.returncode == 2 and "permission denied" in p.stderr and "Traceback" not in p.stderr, p.stderr
    assert not (locked / "s").exists()


def test_too_many_open_files_is_exit_1_not_a_skipped_image(scenes, vq, tmp_path, monkeypatch):
    from vqtool.data import images as imgs

    def no_files(*a, **k):
        raise OSError(errno.EMFILE, "Too many open files", str(a[0]) if a else None)

    monkeypatch.setattr(imgs.Image, "open", no_files)
    run(["tokenize", scenes / "images", "--out", tmp_path / "t", "--vqgan", vq, "--no-seg"], 1, "too many open files")
    with pytest.raises(OSError):
        imgs.header_ok(next((scenes / "images").rglob("*.png")))  # not "not an image"


def test_environment_faults_name_the_path():
    from vqtool.core.errors import environment_fault

    e = environment_fault(OSError(errno.ENOSPC, "No space left on device", "/data/runs/last.pt"))
    assert e.exit_code == 1 and str(e).startswith("/data/runs/last.pt: no space left")
    assert environment_fault(OSError(errno.ENOENT, "No such file", "x")) is None
