"""The paper's own code as the test peer.

Checkpoints are built from the reference package (`taming-transformers-rom1504`: its Encoder,
Decoder, VectorQuantizer2 and minGPT), saved as Lightning files, converted with
`vqtool convert-taming`, and compared with the reference modules running the same weights:
codes, decoded pixels, logits, greedy sampling inside the window (Net2NetTransformer.sample) and
greedy sliding-window sampling (the rule of taming's scripts/sample_conditional.py, written out
below), for the paper's window of 16 and a window of 8.
"""

import sys
import types

import pytest
import torch
import torch.nn.functional as F
import yaml

try:  # minGPT imports this helper from old versions of transformers; the tests never call it
    from transformers import top_k_top_p_filtering  # noqa: F401
except ImportError:
    sys.modules["transformers"] = types.SimpleNamespace(top_k_top_p_filtering=None)

from taming.modules.diffusionmodules.model import Decoder, Encoder  # noqa: E402
from taming.modules.transformer.mingpt import GPT as TamingGPT  # noqa: E402
from taming.modules.vqvae.quantize import VectorQuantizer2  # noqa: E402

if isinstance(sys.modules.get("transformers"), types.SimpleNamespace):
    del sys.modules["transformers"]  # imported: the stub would tell diffusers transformers is installed

from tests_helpers import fail, label_map, lightning_file, ok  # noqa: E402

N_EMBED, EMBED_DIM, N_LABELS = 32, 16, 9
# a scene model's builder on a 32-id vocabulary: a 5 x 5 point grid, 5 classes (+ the group flag), 4 objects
LAYOUT_CLASSES = ["person", "tree", "sky", "dog", "car"]
LAYOUT_DATA = {"no_tokens": N_EMBED, "max_objects_per_image": 4, "use_group_parameter": True, "encode_crop": True,
               "min_objects_per_image": 1, "target_image_size": 32}
LAYOUT_LEN = 4 * 3 + 2
DD = dict(double_z=False, z_channels=32, resolution=64, ch=32, ch_mult=[1, 1, 2], num_res_blocks=1,
          attn_resolutions=[16], dropout=0.0)  # f = 4


class TamingVQ(torch.nn.Module):
    """taming's VQModel / VQSegmentationModel forward path, from the reference modules."""

    def __init__(self, in_ch, seed):
        super().__init__()
        torch.manual_seed(seed)
        self.encoder = Encoder(**DD, in_channels=in_ch, out_ch=in_ch)
        self.decoder = Decoder(**DD, in_channels=in_ch, out_ch=in_ch)
        self.quantize = VectorQuantizer2(N_EMBED, EMBED_DIM, beta=0.25)
        self.quant_conv = torch.nn.Conv2d(DD["z_channels"], EMBED_DIM, 1)
        self.post_quant_conv = torch.nn.Conv2d(EMBED_DIM, DD["z_channels"], 1)
        self.quantize.embedding.weight.data.normal_()  # spread codes, so indices differ by content
        self.eval()

    @torch.no_grad()
    def codes(self, x):
        _, _, (_, _, idx) = self.quantize(self.quant_conv(self.encoder(x)))
        return idx.view(x.shape[0], x.shape[2] // 4, x.shape[3] // 4)

    @torch.no_grad()
    def decode_codes(self, idx):
        b, h, w = idx.shape
        zq = self.quantize.get_codebook_entry(idx.flatten(), (b, h, w, EMBED_DIM))
        return self.decoder(self.post_quant_conv(zq))


def _gpt(vocab, block, seed=2):
    torch.manual_seed(seed)
    g = TamingGPT(vocab_size=vocab, block_size=block, n_layer=2, n_head=2, n_embd=32)
    for p in g.parameters():  # larger weights than the init, so logits depend clearly on context
        p.data.normal_(0, 0.2)
    return g.eval()


def _project(params):
    return {"model": {"base_learning_rate": 4.5e-6, "target": "taming.models.cond_transformer.Net2NetTransformer",
                      "params": params}}


def _net2net(tmp_path, mode, window, permuter=None):
    """A Net2NetTransformer checkpoint (first stage, cond stage, GPT) of reference modules;
    ``permuter``: a class of taming's permuter module, built on the window."""
    first = TamingVQ(3, seed=1)
    sd = {f"first_stage_model.{k}": v for k, v in first.state_dict().items()}
    if permuter is not None:
        sd.update({f"permuter.{k}": v for k, v in permuter(window, window).state_dict().items()})
    lc = {"seg": window * window, "depth": window * window, "coord": window * window, "sr": 16, "layout": LAYOUT_LEN,
          "points": LAYOUT_LEN - 4}.get(mode, 1)
    gpt = _gpt(N_EMBED, lc + window * window)  # taming's configs: block = the whole sequence
    sd.update({f"transformer.{k}": v for k, v in gpt.state_dict().items()})  # with minGPT's attn.mask buffers
    first_cfg = {"target": "taming.models.vqgan.VQModel",
                 "params": {"embed_dim": EMBED_DIM, "n_embed": N_EMBED, "ddconfig": {**DD, "in_channels": 3, "out_ch": 3}}}
    params = {"transformer_config": {"target": "taming.modules.transformer.mingpt.GPT",
                                     "params": {"vocab_size": N_EMBED, "block_size": lc + window ** 2, "n_layer": 2,
                                                "n_head": 2, "n_embd": 32}},
              "first_stage_config": first_cfg}
    if permuter is not None:
        params["permuter_config"] = {"target": f"taming.modules.transformer.permuter.{permuter.__name__}",
                                     "params": {"H": window, "W": window}}
    cond = None
    if mode == "depth":  # D-RIN: a one-channel VQModel cond stage on depth (configs/drin_transformer.yaml)
        cond = TamingVQ(1, seed=3)
        sd.update({f"cond_stage_model.{k}": v for k, v in cond.state_dict().items()})
        params["cond_stage_key"] = "depth"
        params["cond_stage_config"] = {"target": "taming.models.vqgan.VQModel",
                                       "params": {"embed_dim": EMBED_DIM, "n_embed": N_EMBED,
                                                  "ddconfig": {**DD, "in_channels": 1, "out_ch": 1}}}
    elif mode == "sr":  # super-resolution: the first stage encodes the image downsampled to 16x16 pixels (4x4 codes)
        params["cond_stage_config"] = "__is_first_stage__"
        params["cond_stage_key"] = "image"
        params["downsample_cond_size"] = 16
        sd.update({f"cond_stage_model.{k}": v for k, v in first.state_dict().items()})
    elif mode == "coord":  # FacesHQ: configs/faceshq_transformer.yaml (CoordStage, down_factor = the factor)
        params["cond_stage_key"] = "coord"
        params["cond_stage_config"] = {"target": "taming.modules.misc.coord.CoordStage",
                                       "params": {"n_embed": N_EMBED, "down_factor": 4}}
    elif mode == "seg":
        cond = TamingVQ(N_LABELS, seed=3)
        sd.update({f"cond_stage_model.{k}": v for k, v in cond.state_dict().items()})
        sd["cond_stage_model.colorize"] = torch.randn(3, N_LABELS, 1, 1)
        params["cond_stage_config"] = {"target": "taming.models.vqgan.VQSegmentationModel",
                                       "params": {"n_labels": N_LABELS, "embed_dim": EMBED_DIM, "n_embed": N_EMBED,
                                                  "ddconfig": {**DD, "in_channels": N_LABELS, "out_ch": N_LABELS}}}
    elif mode in ("layout", "points"):  # the scene models: configs/coco_scene_images_transformer.yaml, small
        key = "objects_bbox" if mode == "layout" else "objects_center_points"
        params["cond_stage_key"] = key
        params["cond_stage_config"] = {"target": "taming.models.dummy_cond_stage.DummyCondStage",
                                       "params": {"conditional_key": key}}
    elif mode == "class":
        params["cond_stage_config"] = {"target": "taming.modules.util.Labelator", "params": {"n_classes": 5}}
    else:
        params["cond_stage_config"] = "__is_unconditional__"
        params["sos_token"] = 0
    project, extra = _project(params), []
    if mode in ("layout", "points"):  # the builder's settings live in the data config, the names beside it
        project["data"] = {"params": {"train": {"params": LAYOUT_DATA}}}
        (tmp_path / "classes.txt").write_text("\n".join(LAYOUT_CLASSES) + "\n")
        extra = ["--classes", tmp_path / "classes.txt"]
    (tmp_path / "project.yaml").write_text(yaml.safe_dump(project))
    ck = lightning_file(sd, tmp_path, f"{mode}{window}.ckpt")
    ok(["convert-taming", ck, "--config", tmp_path / "project.yaml", "--out", tmp_path / "t.pt", *extra])
    from vqtool.pipeline.bundle import load_transformer

    return load_transformer(tmp_path / "t.pt"), first, cond, gpt


# --------------------------------------------------------------------------- the reference's samplers


@torch.no_grad()
def taming_sample_greedy(gpt, c, steps):
    """Net2NetTransformer.sample(sample=False): uncached, argmax of the last position's logits."""
    x = c
    for _ in range(steps):
        x_cond = x if x.size(1) <= gpt.get_block_size() else x[:, -gpt.get_block_size():]
        logits, _ = gpt(x_cond)
        x = torch.cat([x, logits[:, -1, :].argmax(-1, keepdim=True)], 1)
    return x[:, c.shape[1]:]


@torch.no_grad()
def taming_sliding_greedy(gpt, cidx, h, w, W, force=None, record=None):
    """scripts/sample_conditional.py's loop (window W, token at local W/2, clamped), greedy;
    with ``force`` it takes those tokens instead and ``record`` gets the logits of each position.
    ``cidx``: the spatial conditioning (B, h, w), cut with each window, or a function of the window's
    start (i0, j0) giving its (B, L) conditioning (a box layout's per-window tokens)."""
    idx = torch.zeros((cidx(0, 0) if callable(cidx) else cidx).shape[0], h, w, dtype=torch.long)
    half = W // 2
    for i in range(h):
        local_i = i if i <= half else (W - (h - i) if h - i < half else half)
        for j in range(w):
            local_j = j if j <= half else (W - (w - j) if w - j < half else half)
            i0, j0 = i - local_i, j - local_j
            patch = idx[:, i0:i0 + W, j0:j0 + W].reshape(idx.shape[0], -1)
            cpatch = cidx(i0, j0) if callable(cidx) else cidx[:, i0:i0 + W, j0:j0 + W].reshape(idx.shape[0], -1)
            logits, _ = gpt(torch.cat([cpatch, patch], 1)[:, :-1])
            logits = logits[:, -W * W:, :].reshape(idx.shape[0], W, W, -1)[:, local_i, local_j, :]
            if record is not None:
                record[(i, j)] = logits
            idx[:, i, j] = logits.argmax(-1) if force is None else force[:, i, j]
    return idx


# --------------------------------------------------------------------------- tests


def test_vqmodel_codes_and_pixels_match_the_reference(tmp_path, scenes):
    ref = TamingVQ(3, seed=0)
    sd = {**ref.state_dict(), "loss.discriminator.main.0.weight": torch.randn(8, 3, 4, 4)}
    ok(["convert-taming", lightning_file(sd, tmp_path, "vq.ckpt"), "--out", tmp_path / "vq.pt"])
    from vqtool.core.tokenizer.loading import load_vqgan

    vq, _ = load_vqgan(tmp_path / "vq.pt")
    torch.manual_seed(5)
    x = torch.rand(2, 3, 48, 64) * 2 - 1
    codes = vq.encode(x).indices
    assert torch.equal(codes, ref.codes(x))
    assert len(codes.unique()) > 2  # a comparison of varied codes, not of one constant
    torch.testing.assert_close(vq.decode_indices(codes), ref.decode_codes(codes), atol=1e-5, rtol=1e-5)


def test_segmentation_cond_stage_codes_match_the_reference(tmp_path):
    b, _, cond, _ = _net2net(tmp_path, "seg", 16)
    from vqtool.core.tokenizer.tiles import encode_labels
    from vqtool.pipeline.conditioning import read_map

    m = label_map(tmp_path / "m.png", (80, 72), N_LABELS)
    lab = read_map(b, m, (80, 72))
    ref = cond.codes(F.one_hot(lab, N_LABELS).permute(2, 0, 1)[None].float())[0]
    assert torch.equal(encode_labels(b.stages["seg"], lab), ref)


@pytest.mark.parametrize("mode", ["seg", "class", "uncond"])
def test_logits_match_the_reference_gpt(tmp_path, mode):
    b, _, _, gpt = _net2net(tmp_path, mode, 16)
    x = torch.randint(0, N_EMBED, (2, 60))
    torch.testing.assert_close(b.gpt(x), gpt(x)[0], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("mode", ["class", "uncond"])
def test_greedy_sampling_inside_the_window_matches_the_reference(tmp_path, mode):
    b, _, _, gpt = _net2net(tmp_path, mode, 8)
    from vqtool.core.sampling import Rule
    from vqtool.core.sampling.window import sample_grid

    entries = [{"class": 3}, {"class": 1}] if mode == "class" else [{"uncond": None}] * 2
    c = b.layout.tokens(entries, 8, 8, b.stages, b.factor, {})
    ref = taming_sample_greedy(gpt, c[0], 64).view(2, 8, 8)
    assert torch.equal(sample_grid(b.gpt, b.layout, 8, 8, c, Rule(top_k=1)), ref)
    assert len(ref.unique()) > 2


@pytest.mark.parametrize("window,grid", [(16, (18, 20)), (8, (11, 13))])
def test_greedy_sliding_window_matches_sample_conditional(tmp_path, window, grid):
    """A grid larger than the window, label-map conditioned: vqtool's exact sampler (cached,
    batched, wavefront) against the reference script's loop, token for token; the decoded
    image against the reference decoder."""
    b, first, cond, gpt = _net2net(tmp_path, "seg", window)
    assert b.layout.window == window and b.layout.cond_len() == window * window
    h, w = grid
    m = label_map(tmp_path / "m.png", (w * 4, h * 4), N_LABELS, seed=1)
    from vqtool.core.sampling import Rule
    from vqtool.core.sampling.window import sample_grid
    from vqtool.core.tokenizer.tiles import decode
    from vqtool.pipeline.conditioning import read_map

    lab = read_map(b, m, (w * 4, h * 4))
    cidx = cond.codes(F.one_hot(lab, N_LABELS).permute(2, 0, 1)[None].float())
    ref = taming_sliding_greedy(gpt, cidx, h, w, window)
    toks = [cidx + b.layout.conditions[0].offset]  # taming shares ids: offset 0
    z = sample_grid(b.gpt, b.layout, h, w, toks, Rule(top_k=1))
    assert torch.equal(z, ref)  # (greedy on random weights may settle on one code: the logits below vary)
    # sampled (not greedy) grids are varied: the reference, forced to vqtool's tokens, gives the
    # same logits at every position
    ours, theirs = {}, {}
    z = sample_grid(b.gpt, b.layout, h, w, toks, Rule(seed=7), record=ours)
    assert len(z.unique()) > 8
    taming_sliding_greedy(gpt, cidx, h, w, window, force=z, record=theirs)
    assert ours.keys() == theirs.keys() and len(ours) == h * w
    for k in ours:
        torch.testing.assert_close(ours[k], theirs[k], atol=2e-5, rtol=1e-5)
    torch.testing.assert_close(decode(b.first, z), first.decode_codes(z), atol=1e-5, rtol=1e-5)
    # and the same through the CLI (greedy: --top-k 1), the PNG has the size asked for
    r = ok(["sample", "--model", tmp_path / "t.pt", "--cond", m, "--top-k", "1", "--out", tmp_path / "s"])
    from PIL import Image

    assert Image.open(r.stdout.split()[0]).size == (w * 4, h * 4)


def _slides_as_the_reference(b, gpt, toks, cidx, h, w, seed, W=8):
    """Greedy sliding-window tokens identical to the reference loop's; a sampled grid (varied tokens)
    forced through the reference gives the same logits at every position."""
    from vqtool.core.sampling import Rule
    from vqtool.core.sampling.window import sample_grid

    assert torch.equal(sample_grid(b.gpt, b.layout, h, w, toks, Rule(top_k=1)), taming_sliding_greedy(gpt, cidx, h, w, W))
    ours, theirs = {}, {}
    z = sample_grid(b.gpt, b.layout, h, w, toks, Rule(seed=seed), record=ours)
    taming_sliding_greedy(gpt, cidx, h, w, W, force=z, record=theirs)
    assert ours.keys() == theirs.keys() and len(ours) == h * w
    for k in ours:
        torch.testing.assert_close(ours[k], theirs[k], atol=2e-5, rtol=1e-5)


def _depth_png(path, w, h, seed=0, rgba=False):
    """A smooth inverse-depth map as a 16-bit PNG, or the same values (k / 65535) as taming's RGBA
    float32 file; returns the float32 values."""
    import numpy as np
    from PIL import Image

    yy, xx = np.mgrid[0:h, 0:w]
    rng = np.random.default_rng(seed)
    k = (np.clip(yy / h * 0.8 + 0.15 * np.sin(xx / 5 + rng.uniform(0, 6)) + 0.05, 0, 1) * 65535).astype(np.uint16)
    vals = k.astype(np.float32) / np.float32(65535.0)
    if rgba:  # rgba_to_depth's inverse: the float32 bytes as four uint8 channels
        Image.fromarray(vals.view(np.uint8).reshape(h, w, 4), "RGBA").save(path)
    else:
        Image.fromarray(k).save(path)
    return vals


def test_drin_converts_to_a_depth_model_and_samples_as_the_reference(tmp_path):
    """A D-RIN-shaped checkpoint (one-channel VQModel cond stage, cond_stage_key depth) becomes a
    depth-conditional model (it was taken for a segmentation one); its depth codes, logits and greedy
    sliding-window samples are the reference's."""
    import numpy as np

    b, first, cond, gpt = _net2net(tmp_path, "depth", 8)
    assert [c.kind for c in b.layout.conditions] == ["depth"] and b.layout.cond_len() == 64
    h, w = 11, 13
    vals = _depth_png(tmp_path / "d16.png", w * 4, h * 4)
    _depth_png(tmp_path / "drgba.png", w * 4, h * 4, rgba=True)

    toks = b.layout.tokens([{"depth": tmp_path / "d16.png"}], h, w, b.stages, b.factor, {})
    rgba = b.layout.tokens([{"depth": tmp_path / "drgba.png"}], h, w, b.stages, b.factor, {})
    assert torch.equal(toks[0], rgba[0])  # taming's RGBA float file and the 16-bit PNG: the same tokens
    d = (vals - vals.min()) / max(1e-8, vals.max() - vals.min()) * 2 - 1  # taming's preprocess_depth
    cidx = cond.codes(torch.from_numpy(d)[None, None])
    assert torch.equal(toks[0], cidx) and len(cidx.unique()) > 2
    x = torch.randint(0, N_EMBED, (2, 100))
    torch.testing.assert_close(b.gpt(x), gpt(x)[0], atol=1e-5, rtol=1e-5)
    _slides_as_the_reference(b, gpt, toks, cidx, h, w, seed=3)
    from PIL import Image

    r = ok(["sample", "--model", tmp_path / "t.pt", "--cond", tmp_path / "drgba.png", "--out", tmp_path / "s"])
    assert Image.open(r.stdout.split()[0]).size == (w * 4, h * 4)
    assert "depth" in ok(["info", tmp_path / "t.pt"]).output
    assert np.isfinite(vals).all()


def _faceshq_coord(h, w, f):
    """The coordinate map of taming's FacesHQ data (faceshq.py), as a batch from its DataLoader
    (float64 -> float32 in get_input), through the reference's CoordStage.encode."""
    import numpy as np
    from taming.modules.misc.coord import CoordStage

    H, W = h * f, w * f
    coord = np.arange(H * W).reshape(H, W, 1) / (H * W)
    c = torch.from_numpy(coord)[None].permute(0, 3, 1, 2).float()
    return CoordStage(N_EMBED, f).encode(c)[2][2].view(1, h, w)


@pytest.mark.parametrize("grid", [(8, 8), (11, 13)])
def test_faceshq_coordinate_model_samples_as_the_reference(tmp_path, grid):
    """A FacesHQ-shaped checkpoint (CoordStage cond stage): inside its window and sliding beyond it,
    each window with the coordinates of its place in the whole image, token for token the reference's."""
    b, _, _, gpt = _net2net(tmp_path, "coord", 8)
    assert [c.kind for c in b.layout.conditions] == ["coord"]
    h, w = grid

    toks = b.layout.tokens([b.layout.entries({})], h, w, b.stages, b.factor, {})
    cidx = _faceshq_coord(h, w, 4)
    assert torch.equal(toks[0], cidx) and len(cidx[:, :, 0].unique()) == h  # 32 levels: rows told apart
    _slides_as_the_reference(b, gpt, toks, cidx, h, w, seed=4)
    from PIL import Image

    r = ok(["sample", "--model", tmp_path / "t.pt", "--size", f"{w * 4}x{h * 4}", "--n", "2", "--out", tmp_path / "s"])
    assert [Image.open(p).size for p in r.stdout.split()] == [(w * 4, h * 4)] * 2
    fail(["sample", "--model", tmp_path / "t.pt", "--cond", tmp_path / "t.pt", "--out", tmp_path / "x"],
         "--cond was given, but this model is position-conditional")


@pytest.mark.parametrize("name", ["Subsample", "ZCurve", "SpiralOut", "SpiralIn", "Random", "AlternateParsing"])
def test_permuted_models_sample_their_window_as_the_reference(tmp_path, name):
    """Net2NetTransformer.sample on the permuted sequence, then permuter(reverse=True): the reference's
    image codes, token for token; its likelihood pass in the same order; beyond the window: refused."""
    import taming.modules.transformer.permuter as P

    perm = getattr(P, name)(8, 8)
    b, _, _, gpt = _net2net(tmp_path, "class", 8, permuter=getattr(P, name))
    assert b.layout.permuted["name"] == name
    c = b.layout.tokens([{"class": 3}, {"class": 1}], 8, 8, b.stages, b.factor, {})
    ref = perm(taming_sample_greedy(gpt, c[0], 64), reverse=True).view(2, 8, 8)
    from vqtool.core.sampling import Rule, sampler_for

    z = sampler_for(b.gpt).sample(b.gpt, b.layout, 8, 8, c, Rule(top_k=1))
    assert torch.equal(z, ref) and len(ref.unique()) > 2
    seq = perm(ref.view(2, -1))  # the reference's own likelihood of its codes, in its order
    with torch.no_grad():
        logits, _ = gpt(torch.cat([c[0], seq], 1)[:, :-1])
    nll = F.cross_entropy(logits[:, -64:].reshape(-1, N_EMBED), seq.reshape(-1), reduction="sum") / 128
    bpt = sampler_for(b.gpt).bits_per_token(b.gpt, b.layout, ref, c)
    assert bpt == pytest.approx(float(nll) / 0.6931471805599453, rel=1e-5)
    assert name in ok(["info", tmp_path / "t.pt"]).output
    ok(["sample", "--model", tmp_path / "t.pt", "--class", "2", "--out", tmp_path / "s"])  # 32x32: its window
    fail(["sample", "--model", tmp_path / "t.pt", "--class", "2", "--size", "48x32", "--out", tmp_path / "x"],
         f"taming's {name} order, which is defined on its 8x8-token window only")
    assert not (tmp_path / "x").exists()


def test_super_resolution_model_samples_its_window_as_the_reference(tmp_path, scenes):
    """__is_first_stage__ with downsample_cond_size: the small image's codes fed whole before the window
    (Net2NetTransformer.encode_to_c), greedy tokens as Net2NetTransformer.sample; other sizes refused."""
    import numpy as np
    from PIL import Image

    b, first, _, gpt = _net2net(tmp_path, "sr", 8)
    low = b.layout.conditions[0]
    assert (low.kind, low.factor, low.whole, b.layout.cond_len()) == ("lowres", 2, 4, 16)
    scene = sorted((scenes / "images").rglob("*.png"))[1]
    big = np.asarray(Image.open(scene).convert("RGB").crop((8, 8, 40, 40)))  # a 32x32 piece of a scene
    x = torch.from_numpy(big.copy()).permute(2, 0, 1)[None].float() / 127.5 - 1
    small = F.interpolate(x, size=(16, 16))  # encode_to_c: nearest, to downsample_cond_size
    Image.fromarray(((small[0].permute(1, 2, 0) + 1) * 127.5).round().byte().numpy()).save(tmp_path / "small.png")
    toks = b.layout.tokens([{"lowres": tmp_path / "small.png"}], 8, 8, {"image": b.first}, b.factor, {})
    cidx = first.codes(small).view(1, -1)
    assert torch.equal(toks[0].view(1, -1), cidx) and len(cidx.unique()) > 2
    from vqtool.core.sampling import Rule, sampler_for

    z = sampler_for(b.gpt).sample(b.gpt, b.layout, 8, 8, toks, Rule(top_k=1))
    assert torch.equal(z.view(1, -1), taming_sample_greedy(gpt, cidx, 64))
    r = ok(["sample", "--model", tmp_path / "t.pt", "--cond", tmp_path / "small.png", "--out", tmp_path / "s"])
    assert Image.open(r.stdout.split()[0]).size == (32, 32)
    fail(["sample", "--model", tmp_path / "t.pt", "--cond", tmp_path / "small.png", "--size", "64x64",
          "--out", tmp_path / "x"], "gives 32x32")
    assert not (tmp_path / "x").exists()


def test_one_channel_vqmodel_converts_to_a_depth_vqgan(tmp_path):
    ref = TamingVQ(1, seed=4)
    ok(["convert-taming", lightning_file(ref.state_dict(), tmp_path, "d.ckpt"), "--out", tmp_path / "d.pt"])
    from vqtool.core.tokenizer.loading import load_vqgan

    vq, c = load_vqgan(tmp_path / "d.pt")
    assert c["encodes"] == "depth"
    x = torch.rand(1, 1, 32, 40) * 2 - 1
    assert torch.equal(vq.encode(x).indices, ref.codes(x))


def test_cond_stages_it_cannot_convert_are_named(tmp_path):
    first = TamingVQ(3, seed=1)
    sd = {f"first_stage_model.{k}": v for k, v in first.state_dict().items()}
    sd.update({f"transformer.{k}": v for k, v in _gpt(N_EMBED, 128).state_dict().items()})
    sd.update({f"cond_stage_model.{k}": v for k, v in TamingVQ(1, seed=3).state_dict().items()})
    params = {"transformer_config": {"params": {"n_head": 2}}, "cond_stage_key": "edges",
              "first_stage_config": {"params": {"ddconfig": {**DD, "in_channels": 3, "out_ch": 3}}},
              "cond_stage_config": {"target": "taming.models.vqgan.VQModel", "params": {}}}
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(_project(params)))
    fail(["convert-taming", lightning_file(sd, tmp_path, "e.ckpt"), "--config", tmp_path / "p.yaml", "--out",
          tmp_path / "e.pt"], "a 1-channel VQModel cond stage with cond_stage_key 'edges'")
    params["cond_stage_config"] = "__is_first_stage__"  # the first stage's weights again, under cond_stage_model.
    sd.update({f"cond_stage_model.{k}": v for k, v in first.state_dict().items()})
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(_project(params)))
    fail(["convert-taming", lightning_file(sd, tmp_path, "sr.ckpt"), "--config", tmp_path / "p.yaml", "--out",
          tmp_path / "e.pt"], "without downsample_cond_size (image to image")
    assert not (tmp_path / "e.pt").exists()


def test_block_size_that_gives_no_window_is_refused(tmp_path):
    first = TamingVQ(3, seed=1)
    sd = {f"first_stage_model.{k}": v for k, v in first.state_dict().items()}
    sd.update({f"transformer.{k}": v for k, v in _gpt(N_EMBED, 100).state_dict().items()})  # 100 != W² (+ 1)... 
    params = {"transformer_config": {"params": {"n_head": 2}},
              "first_stage_config": {"params": {"ddconfig": {**DD, "in_channels": 3, "out_ch": 3}}},
              "cond_stage_config": "__is_unconditional__"}
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(_project(params)))
    ck = lightning_file(sd, tmp_path, "odd.ckpt")
    ok(["convert-taming", ck, "--config", tmp_path / "p.yaml", "--out", tmp_path / "ok.pt"])  # 100 = 10²: W = 10
    sd.update({f"transformer.{k}": v for k, v in _gpt(N_EMBED, 99).state_dict().items()})
    ck = lightning_file(sd, tmp_path, "odd2.ckpt")
    fail(["convert-taming", ck, "--config", tmp_path / "p.yaml", "--out", tmp_path / "bad.pt"],
         "cannot derive the sampling window from block_size 99")
    assert not (tmp_path / "bad.pt").exists()
