"""Tiny recipes and CLI helpers shared by the tests."""

from typer.testing import CliRunner

from vqtool.cli import app

runner = CliRunner()


def ok(args):
    """Run a vqtool command that must succeed."""
    r = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return r


def fail(args, needle):
    """Run a vqtool command that must fail as a user error: exit 2, the message, no traceback."""
    r = runner.invoke(app, [str(a) for a in args])
    flat = " ".join(r.output.split())  # rich wraps long messages
    assert r.exit_code == 2 and needle in flat, r.output
    assert "Traceback" not in r.output
    return r


TINY_SEG = """
kind = "seg-vqgan"
[model]
in_channels = 0
out_channels = 0
ch = 16
ch_mult = [1, 2, 2]
num_res_blocks = 1
attn_resolutions = []
resolution = 32
z_channels = 8
norm_groups = 8
[model.quantizer]
n_embed = 16
embed_dim = 8
[data]
size = 32
[optim]
lr = 1e-3
batch_size = 4
[train]
max_steps = 3
image_every = 0
"""

TINY_GPT_WINDOW4 = """
kind = "transformer"
[gpt]
n_layer = 2
n_head = 2
n_embd = 32
[data]
window = 4
[optim]
lr = 3e-3
batch_size = 8
[train]
seed = 0
max_steps = 6
log_every = 3
ckpt_every = 3
image_every = 6
"""
