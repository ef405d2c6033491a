import pytest
import torch

from vqtool.core.io import checkpoint as ck
from vqtool.core.config import TransformerRecipe, VQGANRecipe, build_recipe, load_recipe
from vqtool.core.config.recipes import list_recipes, read_recipe_data, recipe_header
from vqtool.core.errors import CheckpointError, ConfigError


def test_every_shipped_recipe_loads_and_builds_on_meta():
    from tests_helpers import make_layout
    from vqtool.core.transformer import build_gpt, gpt_config_for
    from vqtool.core.tokenizer.vqgan import VQGAN

    names = list_recipes()
    assert {"scenes-vqgan-tiny", "scenes-seg-vqgan-tiny", "vqgan-f16-1024", "vqgan-f16-16384",
            "faces-vqgan-f16-1024", "sflckr-seg-vqgan", "vqgan-f16-16384-l2"} <= set(names)
    for name, path in names.items():
        assert recipe_header(path).strip(), f"{name} has no header comment"
        r = load_recipe(name)
        with torch.device("meta"):
            if isinstance(r, VQGANRecipe):
                if r.model.in_channels == 0:
                    r.model.in_channels = r.model.out_channels = 9
                m = VQGAN(r.model)
            else:
                m = build_gpt(gpt_config_for(r.gpt, vocab=1024 + 1024, block=511, window=r.data.window),
                              make_layout("seg", 1024, r.data.window, cond_vocab=1024))
        assert sum(p.numel() for p in m.parameters()) > 0


def test_paper_vqgan_has_reference_parameter_counts():
    r = load_recipe("vqgan-f16-1024")
    with torch.device("meta"):
        from vqtool.core.tokenizer.vqgan import VQGAN

        m = VQGAN(r.model)
    enc = sum(p.numel() for p in m.encoder.parameters()) / 1e6
    dec = sum(p.numel() for p in m.decoder.parameters()) / 1e6
    assert round(enc, 2) == 29.30 and round(dec, 2) == 42.45  # taming-spec 1.2


def test_overrides_and_types():
    r = load_recipe("scenes-vqgan-tiny", ["optim.lr=1e-3", "model.quantizer.n_embed=64", "data.flip=false"])
    assert r.optim.lr == 1e-3 and r.model.quantizer.n_embed == 64 and r.data.flip is False
    r = load_recipe("scenes-vqgan-tiny", ["optim.lr=2"])  # an int where a float is expected is fine
    assert r.optim.lr == 2.0


@pytest.mark.parametrize("override,needle", [
    ("optim.lrr=1", "unknown key 'optim.lrr'"),
    ("optim.lr=fast", "'optim.lr' must be a number"),
    ("model.ch_mult=3", "'model.ch_mult' must be a list"),
    ("loss.perceptual=vgg", "'loss.perceptual' must be one of 'lpips', 'disc-features', 'none'"),
    ("train.max_steps=1.5", "'train.max_steps' must be an integer"),
    ("nope", "KEY=VALUE"),
])
def test_bad_overrides_name_the_key(override, needle):
    with pytest.raises(ConfigError) as e:
        load_recipe("scenes-vqgan-tiny", [override])
    assert needle in str(e.value)
    if "unknown key" in needle:
        assert "optim.lr" in str(e.value)  # lists the valid keys


def test_trainable_is_a_vqgan_key():
    assert load_recipe("scenes-vqgan-tiny", ["train.trainable=decoder"]).train.trainable == "decoder"
    with pytest.raises(ConfigError, match="'train.trainable' is a VQGAN key"):
        load_recipe("scenes-transformer-tiny", ["train.trainable=decoder"])


def test_unknown_recipe_lists_shipped():
    with pytest.raises(ConfigError) as e:
        load_recipe("no-such-recipe")
    assert "scenes-vqgan-tiny" in str(e.value)


def test_kind_is_checked():
    data, _ = read_recipe_data("scenes-vqgan-tiny")
    with pytest.raises(ConfigError, match="kind"):
        build_recipe(data, kinds=("transformer",))


def test_checkpoint_round_trip_weights_only(tmp_path):
    from vqtool.core.config import to_dict

    sd = {"w": torch.randn(3, 2)}
    payload = {"format": ck.VQGAN, "config": to_dict(VQGANRecipe()), "model": sd, "step": 7,
               "train_state": {"rng": {"torch": torch.get_rng_state()}}}
    ck.save_checkpoint(tmp_path / "a.pt", payload)
    raw = torch.load(tmp_path / "a.pt", weights_only=True)  # plain data only
    assert raw["step"] == 7 and raw["format"] == ck.VQGAN and "provenance" in raw
    got = ck.load_checkpoint(tmp_path / "a.pt", ck.VQGAN)
    assert torch.equal(got["model"]["w"], sd["w"])
    assert not list(tmp_path.glob(".*tmp*"))  # no temp file left behind
    with pytest.raises(CheckpointError, match="is a VQGAN checkpoint; this needs a transformer"):
        ck.load_checkpoint(tmp_path / "a.pt", ck.TRANSFORMER)


def test_not_a_checkpoint(tmp_path):
    (tmp_path / "x.pt").write_text("hello")
    with pytest.raises(CheckpointError, match="not a vqtool checkpoint"):
        ck.load_checkpoint(tmp_path / "x.pt")
    with pytest.raises(CheckpointError, match="not found"):
        ck.load_checkpoint(tmp_path / "missing.pt")


def test_transformer_recipe_defaults_follow_reference():
    r = TransformerRecipe()
    assert r.optim.betas == [0.9, 0.95] and r.optim.weight_decay == 0.01


@pytest.mark.parametrize("kind", ["vqgan", "transformer"])
def test_every_bounded_key_refuses_a_value_outside_its_range(kind):
    """optim.batch_size = 0 divided by zero and optim.lr = -1 stopped in torch with a traceback
    (a stranger's run); every bounded key now names itself and its range."""
    import copy

    from vqtool.core.config.bounds import BOUNDS, PROBABILITY

    base, checked = to_dict_of(kind), 0
    for key, bound in BOUNDS.items():
        node, parts = base, key.split(".")
        for p in parts[:-1]:
            node = node.get(p, {})
        if parts[-1] not in node:
            continue  # a key of the other kind
        bad = 1.5 if bound is PROBABILITY else -1 if isinstance(node[parts[-1]], int) else -1.0
        with pytest.raises(ConfigError) as e:
            build_recipe(copy.deepcopy(base), [f"{key}={bad}"])
        assert str(e.value) == f"'{key}' must be {'>= 1' if bound[1] == '> 0' and isinstance(bad, int) else bound[1]}, got {bad!r}"
        checked += 1
    assert checked >= 20
    with pytest.raises(ConfigError, match="must be two values in"):
        build_recipe(copy.deepcopy(base), ["optim.betas=[0.9, 1.0]"])


def to_dict_of(kind):
    from vqtool.core.config import to_dict

    return to_dict(VQGANRecipe() if kind == "vqgan" else TransformerRecipe())


def test_head_count_must_divide_the_width():
    with pytest.raises(ConfigError, match=r"'gpt.n_embd' \(256\) must be a multiple of 'gpt.n_head' \(5\)"):
        build_recipe(to_dict_of("transformer"), ["gpt.n_head=5"])
