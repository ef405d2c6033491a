import os
import platform
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ["VQTOOL_OFFLINE"] = "1"  # never wait on the network in tests

# The bit-exact goldens (tests/golden, the release fixtures, the shipped demo models' images) were made
# with AVX2 kernels; an AVX-512 machine rounds matmuls and convolutions in other last bits, and a sample
# flips a code. Pin the vector instruction set, before torch loads, so they hold on either machine.
if platform.machine().lower() in ("x86_64", "amd64"):
    for _k, _v in {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"}.items():
        os.environ.setdefault(_k, _v)

from hypothesis import HealthCheck, settings  # noqa: E402

# CI: few, reproducible examples per property (the suite stays within minutes on 2 cores);
# HYPOTHESIS_PROFILE=thorough explores more.
_common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.register_profile("ci", max_examples=25, derandomize=True, **_common)
settings.register_profile("thorough", max_examples=200, **_common)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

TINY_VQGAN = """
kind = "vqgan"
[model]
ch = 16
ch_mult = [1, 2, 2]
num_res_blocks = 1
attn_resolutions = [8]
resolution = 32
z_channels = 16
norm_groups = 8
[model.quantizer]
n_embed = 32
embed_dim = 16
[loss]
perceptual = "none"
disc_start = 2
disc_num_layers = 2
disc_ndf = 8
[data]
size = 32
[optim]
lr = 1e-3
batch_size = 4
[train]
max_steps = 4
log_every = 2
ckpt_every = 2
image_every = 4
"""


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path):
    monkeypatch.setenv("VQTOOL_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))  # an empty hub cache
    monkeypatch.delenv("VQTOOL_WEIGHTS", raising=False)


@pytest.fixture
def tiny_recipe(tmp_path) -> Path:
    p = tmp_path / "tiny-vqgan.toml"
    p.write_text(TINY_VQGAN)
    return p


@pytest.fixture(scope="session")
def scenes(tmp_path_factory) -> Path:
    from vqtool.data.scenes import make_scenes

    out = tmp_path_factory.mktemp("scenes")
    make_scenes(out, 12, 64, 48, seed=3)
    return out


def write_image(path: Path, mode="RGB", size=(40, 36), seed=0):
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode == "I;16":
        a = rng.integers(0, 65535, size[::-1], dtype=np.uint16)
        Image.fromarray(a).save(path)
        return path
    a = rng.integers(0, 255, (*size[::-1], 3), dtype=np.uint8)
    im = Image.fromarray(a)
    if mode == "P":
        im = im.quantize(16)
    elif mode != "RGB":
        im = im.convert(mode)
    im.save(path)
    return path


@pytest.fixture(scope="session")
def random_inception(tmp_path_factory):
    """A weights file of torch-fidelity's Inception architecture, randomly initialised."""
    import torch
    import torch_fidelity.feature_extractor_inceptionv3 as fe

    d = tmp_path_factory.mktemp("weights")
    mp = pytest.MonkeyPatch()
    mp.setattr(fe, "load_state_dict_from_url", lambda *a, **k: {})
    mp.setattr(fe.FeatureExtractorInceptionV3, "load_state_dict", lambda self, sd, *a, **k: None)
    torch.manual_seed(0)
    m = fe.FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"])
    mp.undo()
    for mod in m.modules():  # variance-preserving init, so random features still tell images apart
        if isinstance(mod, (torch.nn.Conv2d, torch.nn.Linear)):
            torch.nn.init.kaiming_normal_(mod.weight, nonlinearity="relu")
    path = d / "weights-inception-2015-12-05-6726825d.pth"
    torch.save(m.state_dict(), path)
    return path


@pytest.fixture
def inception_weights(random_inception, monkeypatch, tmp_path):
    """The random Inception file registered as the FID weights (its hash replaces the published one)."""
    from vqtool.core.io import weights as w

    digest = w.sha256_of(random_inception)
    monkeypatch.setitem(w.REGISTRY, "inception", w.WeightFile(
        "inception", random_inception.name, "http://127.0.0.1:9/none", digest[:8], "test inception"))
    monkeypatch.setenv("VQTOOL_CACHE", str(tmp_path / "cache"))
    return random_inception.parent
