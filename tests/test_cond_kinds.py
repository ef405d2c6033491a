"""The spatial kinds beyond label maps (issue 26): depth maps, edge maps, low-resolution images, and
several at once. Equivalence with the naive samplers for each kind and a pair; the four commands end
to end on make-scenes data for both model families; every bad input the issue names."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image
from tests_helpers import fail, ok, tiny_transformer

from vqtool.core.conditioning.layout import Layout
from vqtool.core.conditioning.lowres import lowres_codes
from vqtool.core.config import GPTConfig
from vqtool.core.errors import VqtoolError
from vqtool.core.sampling.local import naive_logits, sample_local
from vqtool.core.sampling.rule import Rule
from vqtool.core.sampling.window import sample_grid, sample_naive
from vqtool.core.transformer import build_gpt

N = 12
WANTED = {"depth": {"kind": "depth", "codebook_size": 7}, "edges": {"kind": "edges", "codebook_size": 5},
          "lowres": {"kind": "lowres", "codebook_size": N, "factor": 2},
          "seg": {"kind": "seg", "codebook_size": 6}}
LAYOUTS = ["depth", "edges", "lowres", "seg+lowres", "depth+edges"]


def _model(kinds, attention="global", W=4, seed=0, cond_layers=0):
    lay = Layout.for_codes(N, W, [WANTED[k] for k in kinds.split("+")])
    torch.manual_seed(seed)
    cfg = dict(vocab_size=lay.vocab_size, n_layer=2, n_head=2, n_embd=16, attention=attention)
    cfg |= {"radius": W // 2, "cond_layers": cond_layers} if attention == "local" else {"block_size": lay.block_size}
    m = build_gpt(GPTConfig(**cfg), lay).eval()
    for p in m.parameters():
        p.data.normal_(0, 0.3)
    return m, lay


def _cond(lay, n, h, w, seed=1):
    """Random tokens of every condition, each in its own id range, different per sample."""
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(0, c.vocab, (n, h, w), generator=g) + c.offset for c in lay.conditions]


@pytest.mark.parametrize("kinds", LAYOUTS)
@pytest.mark.parametrize("hw", [(3, 5), (4, 4), (7, 9)])
def test_sliding_window_logits_equal_the_naive_loop(kinds, hw):
    h, w = hw
    gpt, lay = _model(kinds)
    cond = _cond(lay, 2, h, w)
    rec_n, rec_f = {}, {}
    zn = sample_naive(gpt, lay, h, w, cond, Rule(seed=3), record=rec_n)
    zf = sample_grid(gpt, lay, h, w, cond, Rule(seed=3), mode="exact", record=rec_f)
    assert torch.equal(zn, zf) and rec_n.keys() == rec_f.keys() and len(rec_n) == h * w
    for k in rec_n:
        torch.testing.assert_close(rec_f[k], rec_n[k], atol=2e-5, rtol=1e-5)


@pytest.mark.parametrize("kinds", LAYOUTS)
@pytest.mark.parametrize("hw,cond_layers", [((2, 3), 0), ((5, 9), 0), ((5, 9), 1)])
def test_local_rolling_cache_equals_each_receptive_field_crop(kinds, hw, cond_layers):
    h, w = hw
    m, lay = _model(kinds, "local", cond_layers=cond_layers)
    cond = _cond(lay, 2, h, w)
    rec = {}
    z = sample_local(m, lay, h, w, cond, Rule(seed=2), record=rec)
    ref = naive_logits(m, z, cond)
    for key, logits in rec.items():
        torch.testing.assert_close(logits, ref[key][..., :lay.n_embed], rtol=1e-5, atol=1e-5)
    assert set(rec) == {(r, c) for r in range(h) for c in range(w)}


def test_each_condition_changes_the_logits_and_order_is_fixed():
    gpt, lay = _model("seg+lowres")
    assert [c.kind for c in lay.conditions] == ["seg", "lowres"]
    assert lay.conditions[1].offset == N + 6 and lay.vocab_size == N + 6 + N
    cond = _cond(lay, 1, 4, 4)
    z = torch.zeros(1, 4, 4, dtype=torch.long)
    seq = torch.cat([lay.crop(cond, 0, 0, 4, 4), z.view(1, -1)], 1)[:, :-1]
    base = gpt(seq)
    for i in range(2):  # each condition's tokens reach the image logits
        other = [t.clone() for t in cond]
        other[i] = (other[i] - lay.conditions[i].offset + 1) % lay.conditions[i].vocab + lay.conditions[i].offset
        seq2 = torch.cat([lay.crop(other, 0, 0, 4, 4), z.view(1, -1)], 1)[:, :-1]
        assert not torch.allclose(gpt(seq2)[:, -16:], base[:, -16:])


def _vq4():
    from vqtool.core.config import QuantizerConfig, VQGANModelConfig
    from vqtool.core.tokenizer.vqgan import VQGAN

    torch.manual_seed(0)
    return VQGAN(VQGANModelConfig(ch=8, ch_mult=[1, 2, 2], num_res_blocks=1, attn_resolutions=[], resolution=32,
                                  z_channels=8, norm_groups=4, quantizer=QuantizerConfig(n_embed=16, embed_dim=8))).eval()


def test_lowres_codes_of_models_made_before_repeat_per_factor():
    vq = _vq4()
    small = torch.rand(1, 3, 10, 14) * 2 - 1  # 10x14 px at f=4: 2.5 x 3.5 codes, padded to 3 x 4
    with torch.no_grad():
        z = lowres_codes(vq, small, 2, 5, 7, upscaled=False)  # the 20x28 image's 5x7 grid
        whole = vq.encode(torch.nn.functional.pad(small, (0, 2, 0, 2), mode="replicate")).indices
    assert z.shape == (1, 5, 7)
    assert torch.equal(z, whole.repeat_interleave(2, 1).repeat_interleave(2, 2)[:, :5, :7])


def test_lowres_codes_encode_the_input_upscaled_to_the_grid_one_code_per_position():
    vq = _vq4()
    small = torch.rand(2, 3, 10, 14) * 2 - 1  # the 20x28 images' 5x7 grids at k=2
    with torch.no_grad():
        z = lowres_codes(vq, small, 2, 5, 7, upscaled=True)
        up = torch.nn.functional.interpolate(small, size=(20, 28), mode="bicubic", align_corners=False).clamp(-1, 1)
        want = vq.encode(up).indices
        big = torch.rand(1, 3, 170, 40) * 2 - 1  # 85x20 codes at k=2: more than one 64-code tile
        tiled = lowres_codes(vq, big, 2, 85, 20, upscaled=True)
    assert torch.equal(z, want)  # (2, 5, 7): each position its own code, no k x k blocks
    assert tiled.shape == (1, 85, 20)


@given(k=st.sampled_from(["2", "4", "3", "8", "x", ""]), how=st.text(max_size=8))
def test_a_lowres_job_value_is_a_factor_then_blocks_or_nothing(k, how):
    """`--cond lowres=K[:blocks]`: the factor the VQGAN allows, then ':blocks' (the small image's own codes, as
    models made before 2026-12) or nothing (the input upscaled); anything else is one message."""
    from vqtool.core.conditioning.lowres import LowRes

    value, f4 = f"{k}:{how}" if how else k, {"config": {"model": {"ch_mult": [1, 2, 2]}}}
    if k in ("2", "4") and how in ("", "blocks"):
        c = LowRes.for_job(value, f4)
        assert (c.factor, c.upscaled) == (int(k), how == "")
    else:
        with pytest.raises(VqtoolError, match="lowres="):
            LowRes.for_job(value, f4)


def test_lowres_models_made_before_keep_their_encoding_and_new_jobs_upscale():
    from vqtool.core.conditioning.lowres import LowRes

    old = LowRes.from_record({"kind": "lowres", "offset": N, "vocab": N, "factor": 2, "whole": 0, "whole_px": 0})
    assert not old.upscaled and LowRes.new(N, {"codebook_size": N, "factor": 2}).upscaled is False
    new = LowRes.for_job(2, {"config": {"model": {"ch_mult": [1, 2, 2]}}})
    assert new.upscaled and LowRes.new(N, {**new.record(), "codebook_size": N}).upscaled
    vq, m = _vq4(), torch.rand(3, 10, 14) * 2 - 1
    with torch.no_grad():
        a, b = old.encode(vq, m), new.encode(vq, m)
    assert a.shape == b.shape == (5, 7) and torch.equal(a[::2, ::2].repeat_interleave(2, 0).repeat_interleave(2, 1)[:5, :7], a)


# ---- the --cond values ------------------------------------------------------------------------------


def test_cond_values_by_kind_bare_and_refused():
    one = Layout.for_codes(N, 4, [WANTED["depth"]])
    two = Layout.for_codes(N, 4, [WANTED["seg"], WANTED["lowres"]])
    assert one.cond_values(["d.png"]) == {"depth": "d.png"}
    assert one.cond_values(["depth=a=b.png"]) == {"depth": "a=b.png"}
    assert one.cond_values(["dir/x=1.png"]) == {"depth": "dir/x=1.png"}  # not a kind: a file name with '='
    with pytest.raises(VqtoolError, match="unknown kind 'dpeth'; known: seg, depth, edges, lowres"):
        one.cond_values(["dpeth=d.png"])  # a typo'd kind, no such file
    assert two.cond_values(["lowres=s.png", "seg=l.png"]) == {"lowres": "s.png", "seg": "l.png"}
    for lay, values, needle in [(two, ["l.png"], "name each input's kind: --cond seg=FILE --cond lowres=FILE"),
                                (one, ["depth=a.png", "depth=b.png"], "given twice"),
                                (one, ["edges=e.png"], "it takes --cond depth=FILE"),
                                (two, ["depth=e.png"], "--cond depth=... was given, but this model is segmentation")]:
        with pytest.raises(VqtoolError, match=needle.replace("(", r"\(")):
            lay.cond_values(values)


@given(st.text(alphabet="abcdeghilnoprstwx=._/", min_size=1, max_size=14))
def test_any_cond_value_is_one_kind_or_one_message(value):
    lay = Layout.for_codes(N, 4, [WANTED["seg"], WANTED["depth"]])
    try:
        got = lay.cond_values([value])
    except VqtoolError as e:
        assert "\n" not in str(e) and "--cond" in str(e)
    else:
        assert list(got) in (["seg"], ["depth"]) and value.endswith(list(got.values())[0])


# ---- sampling through the CLI (random tiny models) -------------------------------------------------


def _map(path, size, mode="I;16", seed=0):
    rng = np.random.default_rng(seed)
    a = np.kron(rng.integers(0, 65535, (size[1] // 8 + 1, size[0] // 8 + 1)), np.ones((8, 8)))
    a = a[:size[1], :size[0]]
    im = Image.fromarray(a.astype(np.uint16)) if mode == "I;16" else Image.fromarray(
        np.repeat((a / 257).astype(np.uint8)[..., None], 3, 2), "RGB")
    im.save(path)
    return path


def _small(path, size, seed=0):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


@pytest.mark.parametrize("attention", ["global", "local"])
def test_sampling_each_kind_at_odd_sizes_is_byte_identical_at_any_batch(tmp_path, attention):
    m = tiny_transformer(tmp_path / f"m-{attention}.pt", "seg+lowres", attention=attention)
    lab = tmp_path / "lab.png"
    Image.fromarray((np.arange(37 * 23).reshape(23, 37) % 9).astype(np.uint8), "L").save(lab)
    small = _small(tmp_path / "small.png", (37, 23))
    outs = []
    for bs in (1, 3):
        out = tmp_path / f"o{bs}"
        ok(["sample", "--model", m, "--cond", f"seg={lab}", "--cond", f"lowres={small}", "--n", "3",
            "--batch-size", bs, "--seed", "9007199254740993", "--out", out, "--device", "cpu"])
        outs.append(sorted(out.glob("*.png")))
    assert [p.name for p in outs[0]] == [p.name for p in outs[1]] and len(outs[0]) == 3
    assert all(p.read_bytes() == q.read_bytes() for p, q in zip(*outs))
    assert Image.open(outs[0][0]).size == (74, 46)  # factor 2 x the small image
    assert outs[0][0].read_bytes() != outs[0][1].read_bytes()
    import vqtool  # the Python API takes the conditions by kind and gives the same images

    ims = vqtool.sample(vqtool.load(m, "cpu"), n=3, cond={"lowres": small, "seg": lab}, seed=9007199254740993)
    assert all(np.array_equal(np.asarray(im), np.asarray(Image.open(p))) for im, p in zip(ims, outs[0]))


@pytest.mark.parametrize("kind", ["depth", "edges"])
def test_map_models_sample_333x197_beyond_the_window(tmp_path, kind):
    m = tiny_transformer(tmp_path / "m.pt", kind)
    d = _map(tmp_path / "d.png", (64, 48))
    ok(["sample", "--model", m, "--cond", d, "--size", "333x197", "--out", tmp_path / "o", "--device", "cpu"])
    (png,) = (tmp_path / "o").glob("*.png")
    assert Image.open(png).size == (333, 197)
    r = ok(["info", m])
    assert f"'kind': '{kind}'" in r.output


def test_sampling_refuses_what_the_model_cannot_take(tmp_path):
    m = tiny_transformer(tmp_path / "m.pt", "seg+lowres")
    lab, small = tmp_path / "lab.png", _small(tmp_path / "s.png", (20, 12))
    Image.fromarray(np.zeros((24, 40), np.uint8), "L").save(lab)
    base = ["sample", "--model", m, "--out", tmp_path / "o", "--device", "cpu"]
    fail([*base, "--cond", f"seg={lab}"], "give the small image with --cond lowres=FILE")  # a missing one
    fail([*base, "--cond", f"seg={lab}", "--cond", f"lowres={small}", "--cond", f"depth={lab}"],
         "--cond depth=... was given, but this model is")  # one it was not trained on
    fail([*base, "--cond", f"seg={lab}", "--cond", f"seg={lab}"], "given twice")
    fail([*base, "--cond", f"seg={lab}", "--cond", f"lowres={small}", "--size", "64x64"],
         "gives 40x24")  # the expected size named
    fail([*base, "--cond", f"seg={lab}", "--cond", f"lowres={tmp_path / 'nope.png'}"],
         "low-resolution image not found")
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").iterdir())


def test_an_rgb_depth_map_is_converted_and_said_once(tmp_path):
    m = tiny_transformer(tmp_path / "m.pt", "depth")
    d = _map(tmp_path / "rgb.png", (32, 24), mode="RGB")
    g = _map(tmp_path / "gray.png", (32, 24))
    r = ok(["sample", "--model", m, "--cond", d, "--out", tmp_path / "o", "--device", "cpu", "--n", "2"])
    assert " ".join(r.output.split()).count("converted to grayscale") == 1
    ok(["sample", "--model", m, "--cond", g, "--out", tmp_path / "o2", "--device", "cpu"])


# ---- the four commands on make-scenes data -----------------------------------------------------------

TINY_MAP = """
kind = "{kind}-vqgan"
[model]
in_channels = 1
out_channels = 1
ch = 8
ch_mult = [1, 2, 2]
num_res_blocks = 1
attn_resolutions = []
resolution = 32
z_channels = 8
norm_groups = 4
[model.quantizer]
n_embed = 16
embed_dim = 8
[loss]
perceptual = "none"
disc_start = 100
[data]
size = 32
[optim]
lr = 1e-3
batch_size = 4
[train]
max_steps = 3
image_every = 3
"""


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """make-scenes data with depth and edge maps, and a tiny VQGAN of each kind."""
    from tests_helpers import TINY_SEG

    from conftest import TINY_VQGAN

    d = tmp_path_factory.mktemp("kinds")
    ok(["make-scenes", d / "scenes", "--n", "8", "--size", "64x48", "--seed", "5"])
    for kind, text in (("image", TINY_VQGAN), ("seg", TINY_SEG), ("depth", TINY_MAP.format(kind="depth")),
                       ("edges", TINY_MAP.format(kind="edges"))):
        (d / f"{kind}.toml").write_text(text)
        folder = d / "scenes" / ("images" if kind == "image" else kind)
        ok(["train-vqgan", folder, "--kind", kind, "--recipe", d / f"{kind}.toml", "--out", d / f"vq-{kind}",
            "--device", "cpu"])
    return d


def test_a_depth_vqgan_has_one_channel_and_eval_recon_scores_it(made):
    from vqtool.core.tokenizer.loading import load_vqgan

    m, ck = load_vqgan(made / "vq-depth/last.pt")
    assert ck["encodes"] == "depth" and m.cfg.in_channels == m.cfg.out_channels == 1
    assert (made / "vq-depth/samples").is_dir()
    r = ok(["eval-recon", made / "scenes/depth", "--vqgan", made / "vq-depth/last.pt", "--json", "--device", "cpu"])
    got = json.loads(r.stdout)
    assert {"psnr", "mae"} <= set(got) and got["images"] == 8
    r = ok(["eval-recon", made / "scenes/edges", "--vqgan", made / "vq-edges/last.pt", "--json", "--device", "cpu"])
    got = json.loads(r.stdout)
    assert {"edge_f1", "edge_precision", "edge_recall"} <= set(got) and 0 <= got["edge_f1"] <= 1


@pytest.mark.parametrize("conds", [["depth"], ["edges"], ["lowres=2"], ["seg", "lowres=2"], ["seg", "lowres=2:blocks"]])
def test_tokenize_train_and_sample_each_kind_for_both_families(made, tmp_path, conds, inception_weights):
    from tests_helpers import TINY_GPT_WINDOW4

    scenes = made / "scenes"
    args = ["tokenize", scenes / "images", "--out", tmp_path / "sh", "--vqgan", made / "vq-image/last.pt",
            "--no-auto-cond", "--val", "1", "--flip", "--device", "cpu"]
    for c in conds:
        kind = c.split("=")[0]
        args += ["--cond", c if "=" in c else f"{kind}={scenes / kind}"]
        if "=" not in c:
            args += ["--cond-vqgan", f"{kind}={made / f'vq-{kind}/last.pt'}"]
    ok(args)
    man = json.loads((tmp_path / "sh/manifest.json").read_text())
    kinds = [c.split("=")[0] for c in conds]
    assert [c["kind"] for c in man["conditions"]] == kinds
    # a new job: the input upscaled; `lowres=K:blocks`: the small image's own codes (models made before)
    assert all(c["upscaled"] == (conds[-1] == "lowres=2") for c in man["conditions"] if c["kind"] == "lowres")
    (tmp_path / "g.toml").write_text(TINY_GPT_WINDOW4)
    small = scenes / "images/alpine/00000.png"
    for attention in ("global", "local"):
        run = tmp_path / attention
        ok(["train-transformer", tmp_path / "sh", "--recipe", tmp_path / "g.toml", "--out", run, "--force",
            "--set", f"gpt.attention={attention}", "--set", "train.image_every=0", "--device", "cpu"]
           + (["--set", "gpt.radius=2"] if attention == "local" else []))
        inputs = []
        for k in kinds:
            f = Image.open(small).resize((16, 12)) if k == "lowres" else None
            if f is not None:
                f.save(tmp_path / "small.png")
            inputs += ["--cond", f"{k}={tmp_path / 'small.png' if k == 'lowres' else scenes / k / 'alpine/00000.png'}"]
        size = [] if "lowres" in kinds else ["--size", "333x197"]
        out = tmp_path / f"s-{attention}"
        ok(["sample", "--model", run / "last.pt", *inputs, *size, "--n", "2", "--batch-size", "2", "--out", out,
            "--device", "cpu"])
        pngs = sorted(out.glob("*.png"))
        assert len(pngs) == 2 and Image.open(pngs[0]).size == ((32, 24) if "lowres" in kinds else (333, 197))
    # eval-fid --n: each sample's conditions from the folders the shards were made from (a low-res image:
    # the scene downscaled), paired by relative path; the set is the same at any batch size
    gens = []
    for bs in (1, 3):
        gen = tmp_path / f"fid{bs}"
        r = ok(["eval-fid", gen, "--model", run / "last.pt", "--n", "3", "--batch-size", bs, "--weights-dir",
                inception_weights, "--json", "--device", "cpu"])
        assert json.loads(r.stdout)["protocol"]["n_generated"] == 3
        gens.append(sorted(gen.glob("*.png")))
    assert [p.read_bytes() for p in gens[0]] == [p.read_bytes() for p in gens[1]]
    assert Image.open(gens[0][0]).size == (64, 48)


def test_map_dropout_trains_a_guidable_local_model_and_refuses_others(made, tmp_path):
    """--set map_dropout=0.5 through train-transformer: the checkpoint's depth map has a trained null,
    sample and bench quality guide it with --cfg; a global model or a model without a map refuses."""
    from tests_helpers import TINY_GPT_WINDOW4

    scenes = made / "scenes"
    ok(["tokenize", scenes / "images", "--out", tmp_path / "sh", "--vqgan", made / "vq-image/last.pt", "--no-auto-cond",
        "--val", "1", "--cond", f"depth={scenes / 'depth'}", "--cond-vqgan", f"depth={made / 'vq-depth/last.pt'}",
        "--device", "cpu"])
    (tmp_path / "g.toml").write_text(TINY_GPT_WINDOW4)
    base = ["train-transformer", tmp_path / "sh", "--recipe", tmp_path / "g.toml", "--force", "--set",
            "train.image_every=0", "--set", "map_dropout=0.5", "--device", "cpu"]
    ok(base + ["--out", tmp_path / "run", "--set", "gpt.attention=local", "--set", "gpt.radius=2"])
    ck = torch.load(tmp_path / "run/last.pt", weights_only=True)
    assert ck["layout"]["conditions"][0]["null_trained"] and ck["config"]["map_dropout"] == 0.5
    d = scenes / "depth/alpine/00000.png"
    ok(["sample", "--model", tmp_path / "run/last.pt", "--cond", f"depth={d}", "--cfg", "3", "--size", "333x197",
        "--n", "2", "--out", tmp_path / "s", "--device", "cpu"])
    assert [Image.open(f).size for f in sorted((tmp_path / "s").glob("*.png"))] == [(333, 197)] * 2
    r = ok(["bench", "quality", "--model", tmp_path / "run/last.pt", "--cond", f"depth={d}", "--size", "64x48",
            "--n", "1", "--cfg", "3", "--json", "--device", "cpu"])
    assert json.loads(r.stdout)[1]["mode"] == "exact, cfg 3"
    fail(base + ["--out", tmp_path / "global"], "map_dropout")
    assert not (tmp_path / "global/last.pt").exists()
    plain = tiny_transformer(tmp_path / "p.pt", "depth", attention="local")
    fail(["bench", "quality", "--model", plain, "--cond", f"depth={d}", "--size", "64x48", "--cfg", "3"],
         "map_dropout = 0")


def test_overview_trains_local_and_global_models_that_every_command_samples(made, tmp_path, inception_weights):
    """--set overview=2 through train-transformer: the checkpoint holds the depth map's overview, and
    sample, eval-fid --n and bench quality make it from the --cond depth map; shards without a depth
    map and a negative value are refused with one message."""
    from tests_helpers import TINY_GPT_WINDOW4

    scenes = made / "scenes"
    tok = ["tokenize", scenes / "images", "--vqgan", made / "vq-image/last.pt", "--no-auto-cond", "--val", "1",
           "--device", "cpu"]
    ok(tok + ["--out", tmp_path / "sh", "--cond", f"depth={scenes / 'depth'}", "--cond-vqgan",
              f"depth={made / 'vq-depth/last.pt'}"])
    (tmp_path / "g.toml").write_text(TINY_GPT_WINDOW4)
    base = ["train-transformer", tmp_path / "sh", "--recipe", tmp_path / "g.toml", "--force", "--set",
            "train.image_every=0", "--set", "overview=2", "--device", "cpu"]
    d = scenes / "depth/alpine/00000.png"
    for name, extra in (("local", ["--set", "gpt.attention=local", "--set", "gpt.radius=2"]), ("global", [])):
        ok(base + extra + ["--out", tmp_path / name])
        ck = torch.load(tmp_path / name / "last.pt", weights_only=True)
        assert [c["kind"] for c in ck["layout"]["conditions"]] == ["depth", "depth-overview"]
        out = tmp_path / f"s-{name}"
        ok(["sample", "--model", tmp_path / name / "last.pt", "--cond", f"depth={d}", "--size", "333x197", "--n",
            "3", "--batch-size", "2", "--seed", "9007199254740993", "--out", out, "--device", "cpu"])
        assert [Image.open(f).size for f in sorted(out.glob("*.png"))] == [(333, 197)] * 3
    gens = []
    for bs in (1, 3):
        gen = tmp_path / f"fid{bs}"
        ok(["eval-fid", gen, "--model", tmp_path / "local/last.pt", "--n", "3", "--batch-size", bs, "--weights-dir",
            inception_weights, "--json", "--device", "cpu"])
        gens.append([p.read_bytes() for p in sorted(gen.glob("*.png"))])
    assert len(gens[0]) == 3 and gens[0] == gens[1]
    r = ok(["bench", "quality", "--model", tmp_path / "local/last.pt", "--cond", f"depth={d}", "--size", "64x48",
            "--n", "1", "--json", "--device", "cpu"])
    assert json.loads(r.stdout)[1]["label_agreement"] is not None
    ok(tok + ["--out", tmp_path / "sh-seg", "--cond", f"seg={scenes / 'seg'}", "--cond-vqgan",
              f"seg={made / 'vq-seg/last.pt'}"])
    fail(["train-transformer", tmp_path / "sh-seg", *base[2:], "--out", tmp_path / "seg"], "'overview' adds a depth")
    fail(base + ["--set", "overview=-1", "--out", tmp_path / "neg"], "'overview' must be")
    assert not (tmp_path / "seg").exists() and not (tmp_path / "neg").exists()


def test_tokenize_picks_up_sibling_maps_and_refuses_bad_ones(made, tmp_path, monkeypatch):
    import shutil

    scenes = tmp_path / "scenes"
    shutil.copytree(made / "scenes", scenes)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs/depth-vqgan").mkdir(parents=True)
    shutil.copy(made / "vq-depth/last.pt", tmp_path / "runs/depth-vqgan/last.pt")
    # one depth map of another size: skipped and reported; the rest tokenized
    Image.open(scenes / "depth/alpine/00000.png").resize((32, 24)).save(scenes / "depth/alpine/00000.png")
    r = ok(["tokenize", scenes / "images", "--out", tmp_path / "sh", "--vqgan", made / "vq-image/last.pt",
            "--val", "0", "--device", "cpu"])
    flat = " ".join(r.output.split())
    assert "using the depth maps in" in flat and "depth map" in flat and "is 32x24, image is 64x48" in flat
    man = json.loads((tmp_path / "sh/manifest.json").read_text())
    assert [c["kind"] for c in man["conditions"]] == ["depth"] and len(man["skipped"]) == 1
    base = ["tokenize", scenes / "images", "--out", tmp_path / "bad", "--vqgan", made / "vq-image/last.pt",
            "--no-auto-cond", "--device", "cpu"]
    fail([*base, "--cond", "lowres=3"], "the factor must divide the VQGAN's downsampling factor 4; use 2, 4")
    fail([*base, "--cond", "lowres=2:blok"], "lowres=2:blok: after the factor comes ':blocks'")
    fail([*base, "--cond", "lowres=2", "--cond", "lowres=4"], "given twice")
    fail([*base, "--cond", "dpeth=x"], "unknown kind 'dpeth'; known: seg, depth, edges, lowres")
    fail([*base, "--cond", "edges=" + str(scenes / "edges")], "no edge VQGAN for the edge maps")
    fail([*base, "--cond", "depth"], "is not KIND=VALUE")
    (tmp_path / "f8.toml").write_text(TINY_MAP.format(kind="depth").replace("ch_mult = [1, 2, 2]", "ch_mult = [1, 2, 2, 2]"))
    ok(["train-vqgan", scenes / "depth", "--kind", "depth", "--recipe", tmp_path / "f8.toml", "--out", tmp_path / "f8",
        "--set", "train.max_steps=1", "--device", "cpu"])
    fail([*base, "--cond", f"depth={scenes / 'depth'}", "--cond-vqgan", f"depth={tmp_path / 'f8/last.pt'}"],
         "downsamples by 8, the image VQGAN by 4: their grids must match (train it with 3 levels")
    assert not (tmp_path / "bad").exists()


def test_train_vqgan_kind_is_checked(made, tmp_path):
    fail(["train-vqgan", made / "scenes/depth", "--kind", "dpeth", "--out", tmp_path / "x"], "'dpeth' is not one of")
    fail(["train-vqgan", made / "scenes/depth", "--kind", "depth", "--seg", "--out", tmp_path / "x"], "--seg is --kind seg")
    r = ok(["recipes", "list"])
    for name in ("scenes-depth-vqgan-tiny", "scenes-edges-vqgan-tiny", "depth-vqgan-f16", "edges-vqgan-f16"):
        assert name in r.output


def test_edges_command_matches_make_scenes_and_resumes(made, tmp_path):
    scenes = made / "scenes"
    r = ok(["edges", scenes / "images", "--out", tmp_path / "e", "--json"])
    assert json.loads(r.stdout)["written"] == 8
    for p in (scenes / "edges").rglob("*.png"):  # the same extractor: training and use agree
        assert np.array_equal(np.asarray(Image.open(p)), np.asarray(Image.open(tmp_path / "e" / p.relative_to(scenes / "edges"))))
    bad = tmp_path / "imgs"
    bad.mkdir()
    Image.open(next((scenes / "images").rglob("*.png"))).save(bad / "a.png")
    (bad / "b.png").write_bytes(b"not a png")
    r = ok(["edges", bad, "--out", tmp_path / "e2", "--json"])
    got = json.loads(r.stdout)
    assert (got["written"], got["skipped"]) == (1, 1)
    r = ok(["edges", bad, "--out", tmp_path / "e2", "--json"])
    assert json.loads(r.stdout)["kept"] == 1
    fail(["edges", bad, "--out", tmp_path / "e3", "--sigma", "0"], "--sigma must be > 0")
    fail(["edges", tmp_path / "nope", "--out", tmp_path / "e3"], "image folder not found")
    assert not (tmp_path / "e3").exists()


def test_bench_superres_scores_samples_beside_bicubic_and_the_reconstruction(tmp_path, made):
    m = tiny_transformer(tmp_path / "sr.pt", "lowres")
    r = ok(["bench", "superres", "--model", m, "--images", made / "scenes/images", "--n", "2", "--json",
            "--device", "cpu"])
    rows = json.loads(r.stdout)
    assert [row["mode"] for row in rows] == ["bicubic upscaling", "reconstruction of the real image", "sampled (exact)",
                                             "sampled (exact), back-projected (5 steps)"]
    assert all(row["images"] == 2 and row["size"] == "64x48" and row["psnr"] > 0 for row in rows)
    fail(["bench", "superres", "--model", tiny_transformer(tmp_path / "d.pt", "depth"), "--images",
          made / "scenes/images"], "needs a super-resolution model")


@given(st.lists(st.integers(0, 5), min_size=1, max_size=4), st.integers(1, 30))
def test_superres_images_are_taken_biome_after_biome(counts, n):
    """bench superres took the first N sorted files: with 8 of the demo's 40 held-out scenes, all alpine."""
    from vqtool.app.bench_quality import spread

    files = [Path(f"val/b{g}/{i:05d}.png") for g, c in enumerate(counts) for i in range(c)]
    got = spread(list(reversed(files)), n)
    assert len(got) == min(n, len(files)) and len(set(got)) == len(got)
    per = {g: sum(f.parent.name == f"b{g}" for f in got) for g in range(len(counts))}
    # no folder gets a second image while another that has one left has none
    assert all(per[g] == counts[g] or per[g] >= max(per.values()) - 1 for g in per)
    for g in per:  # sorted within each folder
        mine = [f for f in got if f.parent.name == f"b{g}"]
        assert mine == sorted(f for f in files if f.parent.name == f"b{g}")[:len(mine)]


def test_bench_quality_of_a_depth_model_scores_against_the_scene_labels(tmp_path, made):
    m = tiny_transformer(tmp_path / "d.pt", "depth")
    d = next((made / "scenes/depth").rglob("*.png"))
    r = ok(["bench", "quality", "--model", m, "--cond", f"depth={d}", "--size", "64x48", "--n", "1", "--json",
            "--device", "cpu"])
    rows = json.loads(r.stdout)
    assert rows[0]["mode"] == "reconstruction of the real scene" and 0 <= rows[1]["label_agreement"] <= 1


def test_bench_sample_times_a_model_of_several_kinds(tmp_path):
    m = tiny_transformer(tmp_path / "m.pt", "depth+lowres")
    r = ok(["bench", "sample", "--model", m, "--size", "96x64", "--modes", "naive,exact,local", "--naive-tokens", "4",
            "--json", "--device", "cpu"])
    rows = {row["mode"]: row for row in json.loads(r.stdout)}
    assert set(rows) == {"naive", "exact", "local"} and rows["exact"]["tokens_timed"] == 24 * 16


def test_eval_fid_without_a_map_folder_never_reads_the_working_folder(tmp_path, monkeypatch, inception_weights):
    """A model with no recorded map folder once listed the images of the working folder as its maps."""
    m = tiny_transformer(tmp_path / "m.pt", "depth")
    monkeypatch.chdir(tmp_path)
    _small(tmp_path / "photo.png", (24, 24))
    ref = tmp_path / "ref"
    ref.mkdir()
    _small(ref / "a.png", (24, 24))
    fail(["eval-fid", tmp_path / "g", ref, "--model", m, "--n", "2", "--weights-dir", inception_weights],
         "the depth map folder (none recorded) is not there; name one with --labels DIR or --cond depth=DIR")
    assert not (tmp_path / "g").exists()


def test_coarse_to_fine_end_to_end(made, tmp_path, inception_weights):
    """Coarse shards (the scenes at half size, label maps only), fine shards (full size, seg + lowres=2),
    a model on each, then sample, eval-fid and bench quality coarse to fine."""
    from tests_helpers import TINY_GPT_WINDOW4

    scenes, seg_vq = made / "scenes", f"seg={made / 'vq-seg/last.pt'}"
    common = ["--vqgan", made / "vq-image/last.pt", "--no-auto-cond", "--cond", f"seg={scenes / 'seg'}",
              "--cond-vqgan", seg_vq, "--val", "1", "--device", "cpu"]
    ok(["tokenize", scenes / "images", "--out", tmp_path / "coarse-sh", "--size", "24", *common])
    ok(["tokenize", scenes / "images", "--out", tmp_path / "fine-sh", "--cond", "lowres=2", *common])
    (tmp_path / "g.toml").write_text(TINY_GPT_WINDOW4)
    for name, extra in (("coarse", []), ("fine", ["--set", "gpt.attention=local", "--set", "gpt.radius=2",
                                                  "--set", "gpt.cond_layers=1"])):
        ok(["train-transformer", tmp_path / f"{name}-sh", "--recipe", tmp_path / "g.toml", "--out", tmp_path / name,
            "--set", "train.image_every=0", "--device", "cpu", *extra])
    fine, coarse = tmp_path / "fine/last.pt", tmp_path / "coarse/last.pt"
    label = scenes / "seg/alpine/00000.png"
    r = ok(["sample", "--model", fine, "--coarse", coarse, "--cond", label, "--n", "2", "--out", tmp_path / "s",
            "--device", "cpu"])
    assert [Image.open(p).size for p in r.stdout.split()] == [(64, 48)] * 2
    assert [Image.open(p).size for p in sorted((tmp_path / "s/coarse").glob("*.png"))] == [(32, 24)] * 2
    gens = []
    for bs in (1, 3):
        gen = tmp_path / f"fid{bs}"
        r = ok(["eval-fid", gen, "--model", fine, "--coarse", coarse, "--n", "3", "--batch-size", bs,
                "--weights-dir", inception_weights, "--json", "--device", "cpu"])
        assert json.loads(r.stdout)["protocol"]["n_generated"] == 3
        gens.append(sorted(gen.glob("*.png")))
    assert [p.read_bytes() for p in gens[0]] == [p.read_bytes() for p in gens[1]]
    rows = json.loads(ok(["bench", "quality", "--model", fine, "--coarse", coarse, "--cond", label, "--size", "64x48",
                          "--n", "1", "--json", "--device", "cpu"]).stdout)
    assert [r["mode"] for r in rows] == ["reconstruction of the real scene", "coarse to fine (exact)",
                                         "coarse to fine (fast)"]
    assert all(0 <= r["label_agreement"] <= 1 for r in rows)
    fast = json.loads(ok(["bench", "quality", "--model", fine, "--coarse", coarse, "--cond", label, "--size", "64x48",
                          "--n", "1", "--json", "--mode", "fast", "--device", "cpu"]).stdout)
    assert [r["mode"] for r in fast] == ["reconstruction of the real scene", "coarse to fine (fast)"]
    assert fast[1]["label_agreement"] == rows[2]["label_agreement"]
    fail(["eval-fid", tmp_path / "x", "--model", fine, "--coarse", coarse, "--weights-dir", inception_weights],
         "give --n N too")
    # --cfg guides the fine stage (the global coarse model has no null map): refused, before either stage
    # samples, for a fine model trained without map dropout; taken by one trained with map dropout (towards
    # the map and the thumbnail) or low-res dropout (towards the thumbnail alone)
    fail(["sample", "--model", fine, "--coarse", coarse, "--cond", label, "--cfg", "3", "--out", tmp_path / "nc",
          "--device", "cpu"], "map_dropout = 0")
    assert not (tmp_path / "nc").exists()
    local = ["--set", "train.image_every=0", "--device", "cpu", "--set", "gpt.attention=local", "--set", "gpt.radius=2",
             "--set", "gpt.cond_layers=1"]
    for drop, nulls in (("map_dropout", [True, True]), ("lowres_dropout", [False, True])):  # both; the thumbnail
        ok(["train-transformer", tmp_path / "fine-sh", "--recipe", tmp_path / "g.toml", "--out", tmp_path / drop,
            "--set", f"{drop}=0.5", *local])
        lay = torch.load(tmp_path / drop / "last.pt", weights_only=True)["layout"]
        assert [(c["kind"], c["null_trained"]) for c in lay["conditions"]] == list(zip(["seg", "lowres"], nulls))
    fail(["train-transformer", tmp_path / "coarse-sh", "--recipe", tmp_path / "g.toml", "--out", tmp_path / "no-low",
          "--set", "lowres_dropout=0.1", *local], "'lowres_dropout' trains a null low-res image")
    assert not (tmp_path / "no-low").exists()
    guided = tmp_path / "map_dropout/last.pt"
    outs = {}
    for s in ("1", "3"):
        r = ok(["sample", "--model", guided, "--coarse", coarse, "--cond", label, "--n", "2", "--size", "333x197",
                "--cfg", s, "--seed", "9007199254740993", "--out", tmp_path / f"cfg{s}", "--device", "cpu"])
        outs[s] = [Image.open(p) for p in r.stdout.split()]
        assert [im.size for im in outs[s]] == [(333, 197)] * 2
    assert [im.tobytes() for im in outs["1"]] != [im.tobytes() for im in outs["3"]]
    thumbs = [sorted((tmp_path / f"cfg{s}/coarse").glob("*.png")) for s in ("1", "3")]
    assert [p.read_bytes() for p in thumbs[0]] == [p.read_bytes() for p in thumbs[1]]  # the coarse stage unguided
    g = json.loads(ok(["bench", "quality", "--model", tmp_path / "lowres_dropout/last.pt", "--coarse", coarse,
                       "--cond", label, "--size", "64x48", "--n", "1", "--cfg", "3", "--mode", "fast", "--json",
                       "--device", "cpu"]).stdout)
    assert [r["mode"] for r in g] == ["reconstruction of the real scene", "coarse to fine (fast), cfg 3"]


def test_coordinates_need_nothing_from_the_user(made, tmp_path):
    """tokenize --cond coord=N (FacesHQ's CoordStage levels) stores nothing; both families train on the
    crops' places and sample any size with no input; a --cond given to such a model is refused."""
    from tests_helpers import TINY_GPT_WINDOW4

    ok(["tokenize", made / "scenes/images", "--out", tmp_path / "sh", "--vqgan", made / "vq-image/last.pt",
        "--no-auto-cond", "--cond", "coord=64", "--val", "1", "--device", "cpu"])
    man = json.loads((tmp_path / "sh/manifest.json").read_text())
    assert [(c["kind"], c["levels"], c["factor"]) for c in man["conditions"]] == [("coord", 64, 4)]
    (tmp_path / "g.toml").write_text(TINY_GPT_WINDOW4)
    for attention in ("global", "local"):
        run = tmp_path / attention
        ok(["train-transformer", tmp_path / "sh", "--recipe", tmp_path / "g.toml", "--out", run, "--force",
            "--set", f"gpt.attention={attention}", "--set", "train.image_every=0", "--device", "cpu"]
           + (["--set", "gpt.radius=2"] if attention == "local" else []))
        assert "position-conditional" in ok(["info", run / "last.pt"]).output
        a = ok(["sample", "--model", run / "last.pt", "--size", "333x197", "--n", "3", "--batch-size", "2",
                "--seed", "9007199254740993", "--out", tmp_path / f"a-{attention}", "--device", "cpu"]).stdout.split()
        b = ok(["sample", "--model", run / "last.pt", "--size", "333x197", "--n", "3", "--batch-size", "3",
                "--seed", "9007199254740993", "--out", tmp_path / f"b-{attention}", "--device", "cpu"]).stdout.split()
        assert [Image.open(p).size for p in a] == [(333, 197)] * 3
        assert [Image.open(p).tobytes() for p in a] == [Image.open(p).tobytes() for p in b]
    fail(["sample", "--model", run / "last.pt", "--cond", f"seg={made / 'scenes/seg/alpine/00000.png'}",
          "--out", tmp_path / "x"], "this model is position-conditional")
    fail(["tokenize", made / "scenes/images", "--out", tmp_path / "sh2", "--vqgan", made / "vq-image/last.pt",
          "--no-auto-cond", "--cond", "coord=one", "--device", "cpu"], "give the number of coordinate levels")
    assert not (tmp_path / "sh2").exists()
