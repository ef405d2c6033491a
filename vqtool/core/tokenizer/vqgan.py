"""VQGAN: convolutional encoder, vector quantizer, convolutional decoder.

Architecture of Esser et al. 2021 (taming-transformers' diffusionmodules/model.py), with the
same module names, so the public checkpoints load key for key: GroupNorm(32, eps 1e-6), swish,
ResNet blocks, single-head spatial attention at chosen resolutions, downsampling by a stride-2
conv after zero-padding right and bottom only, nearest-neighbour upsampling. Fully
convolutional plus global attention: any H×W that is a multiple of the factor works.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from vqtool.core.config import VQGANModelConfig
from vqtool.core.tokenizer.quantize import QuantOut, build_quantizer


def swish(x: torch.Tensor) -> torch.Tensor:
    return x * torch.sigmoid(x)


class ChannelNorm(nn.Module):
    """Normalise each position over its channels (a per-pixel LayerNorm; same parameter names as
    GroupNorm). Why: GroupNorm's statistics span the whole image, so a region's codes change with
    what else is in the picture; a model trained on 128px crops then encodes a 1280x832 label map
    differently from its crops (measured: sand read back as 11% sand). This norm keeps the
    autoencoder local, so codes depend on nearby content only, as sliding-window sampling assumes."""

    def __init__(self, c: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(c))
        self.bias = nn.Parameter(torch.zeros(c))

    def forward(self, x):
        # (B, C, H, W) -> (B, H, W, C) so layer_norm's fused kernel normalises over C, and back
        y = F.layer_norm(x.permute(0, 2, 3, 1), (x.shape[1],), self.weight, self.bias, self.eps)
        return y.permute(0, 3, 1, 2)


def norm(c: int, groups: int) -> nn.Module:
    """taming's GroupNorm; groups == 0 selects ChannelNorm (config ``model.norm = "channel"``)."""
    return nn.GroupNorm(groups, c, eps=1e-6, affine=True) if groups else ChannelNorm(c)


class ResnetBlock(nn.Module):
    def __init__(self, cin: int, cout: int, dropout: float, groups: int):
        super().__init__()
        self.norm1 = norm(cin, groups)
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.norm2 = norm(cout, groups)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.nin_shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x):
        h = self.conv1(swish(self.norm1(x)))
        h = self.conv2(self.dropout(swish(self.norm2(h))))
        return (self.nin_shortcut(x) if self.nin_shortcut is not None else x) + h


class AttnBlock(nn.Module):
    """Single-head self-attention over all h·w positions, scaled by C^-0.5 (SDPA's default)."""

    def __init__(self, c: int, groups: int):
        super().__init__()
        self.norm = norm(c, groups)
        self.q, self.k, self.v = (nn.Conv2d(c, c, 1) for _ in range(3))
        self.proj_out = nn.Conv2d(c, c, 1)

    def forward(self, x):
        B, C, H, W = x.shape
        h = self.norm(x)
        # (B, C, H, W) -> (B, 1, H*W, C): one head; SDPA's fused kernels keep memory linear in H*W
        q, k, v = (m(h).reshape(B, 1, C, H * W).transpose(2, 3) for m in (self.q, self.k, self.v))
        out = F.scaled_dot_product_attention(q, k, v)
        out = out.transpose(2, 3).reshape(B, C, H, W)
        return x + self.proj_out(out)


class Downsample(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 2, 0)

    def forward(self, x):
        return self.conv(F.pad(x, (0, 1, 0, 1)))  # asymmetric: right and bottom only (taming)


class Upsample(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 1, 1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


def _groups(cfg: VQGANModelConfig) -> int:
    return cfg.norm_groups if cfg.norm == "group" else 0


def _mid(c: int, cfg: VQGANModelConfig) -> nn.Module:
    mid = nn.Module()
    g = _groups(cfg)
    mid.block_1 = ResnetBlock(c, c, cfg.dropout, g)
    mid.attn_1 = AttnBlock(c, g) if cfg.mid_attn else nn.Identity()
    mid.block_2 = ResnetBlock(c, c, cfg.dropout, g)
    return mid


class Encoder(nn.Module):
    def __init__(self, cfg: VQGANModelConfig):
        super().__init__()
        g, mult = _groups(cfg), [1, *cfg.ch_mult]
        self.conv_in = nn.Conv2d(cfg.in_channels, cfg.ch, 3, 1, 1)
        self.down = nn.ModuleList()
        res, cin = cfg.resolution, cfg.ch
        for i, m in enumerate(cfg.ch_mult):
            level = nn.Module()
            level.block, level.attn = nn.ModuleList(), nn.ModuleList()
            cin, cout = cfg.ch * mult[i], cfg.ch * m
            for _ in range(cfg.num_res_blocks):
                level.block.append(ResnetBlock(cin, cout, cfg.dropout, g))
                cin = cout
                if res in cfg.attn_resolutions:
                    level.attn.append(AttnBlock(cin, g))
            if i != len(cfg.ch_mult) - 1:
                level.downsample = Downsample(cin)
                res //= 2
            self.down.append(level)
        self.mid = _mid(cin, cfg)
        self.norm_out = norm(cin, g)
        self.conv_out = nn.Conv2d(cin, cfg.z_channels, 3, 1, 1)

    def forward(self, x):
        h = self.conv_in(x)
        for level in self.down:
            for j, block in enumerate(level.block):
                h = block(h)
                if len(level.attn):
                    h = level.attn[j](h)
            if hasattr(level, "downsample"):
                h = level.downsample(h)
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(h)))
        return self.conv_out(swish(self.norm_out(h)))


class Decoder(nn.Module):
    def __init__(self, cfg: VQGANModelConfig):
        super().__init__()
        g, n = _groups(cfg), len(cfg.ch_mult)
        cin = cfg.ch * cfg.ch_mult[-1]
        res = cfg.resolution // 2 ** (n - 1)
        self.conv_in = nn.Conv2d(cfg.z_channels, cin, 3, 1, 1)
        self.mid = _mid(cin, cfg)
        self.up = nn.ModuleList()
        for i in reversed(range(n)):
            level = nn.Module()
            level.block, level.attn = nn.ModuleList(), nn.ModuleList()
            cout = cfg.ch * cfg.ch_mult[i]
            for _ in range(cfg.num_res_blocks + 1):
                level.block.append(ResnetBlock(cin, cout, cfg.dropout, g))
                cin = cout
                if res in cfg.attn_resolutions:
                    level.attn.append(AttnBlock(cin, g))
            if i != 0:
                level.upsample = Upsample(cin)
                res *= 2
            self.up.insert(0, level)  # up[0] is the highest resolution (taming's key order)
        self.norm_out = norm(cin, g)
        self.conv_out = nn.Conv2d(cin, cfg.out_channels, 3, 1, 1)

    def forward(self, z):
        h = self.conv_in(z)
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(h)))
        for i in reversed(range(len(self.up))):
            level = self.up[i]
            for j, block in enumerate(level.block):
                h = block(h)
                if len(level.attn):
                    h = level.attn[j](h)
            if hasattr(level, "upsample"):
                h = level.upsample(h)
        return self.conv_out(swish(self.norm_out(h)))


# the parts that decide an image's codes (frozen by train.trainable = "decoder")
TOKENIZER_PARTS = ("encoder", "quant_conv", "quantize")


class VQGAN(nn.Module):
    """Image (3 channels in [-1, 1]) or segmentation (one-hot label maps) autoencoder."""

    def __init__(self, cfg: VQGANModelConfig):
        super().__init__()
        self.cfg = cfg
        self.factor = cfg.factor
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        self.quant_conv = nn.Conv2d(cfg.z_channels, cfg.quantizer.embed_dim, 1)
        self.post_quant_conv = nn.Conv2d(cfg.quantizer.embed_dim, cfg.z_channels, 1)
        self.quantize = build_quantizer(cfg.quantizer)
        self.tokenizer_frozen = False

    def freeze_tokenizer(self) -> "VQGAN":
        """Freeze what decides the codes (encoder, quant_conv, codebook); only the decoder side trains.
        The frozen parts stay in eval mode, so the quantizer restarts no codes and moves no EMA."""
        for m in self.tokenizer_modules():
            m.requires_grad_(False)
        self.tokenizer_frozen = True
        return self.train(self.training)

    def tokenizer_modules(self) -> tuple[nn.Module, ...]:
        return tuple(getattr(self, name) for name in TOKENIZER_PARTS)

    def train(self, mode: bool = True) -> "VQGAN":
        super().train(mode)
        if self.tokenizer_frozen:
            for m in self.tokenizer_modules():
                m.eval()
        return self

    @property
    def n_embed(self) -> int:
        return self.cfg.quantizer.n_embed

    def encode(self, x: torch.Tensor) -> QuantOut:
        return self.quantize(self.quant_conv(self.encoder(x)))

    def decode(self, quant: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.post_quant_conv(quant))

    def decode_indices(self, indices: torch.Tensor) -> torch.Tensor:
        """(B, h, w) code indices -> (B, out_channels, h·f, w·f)."""
        return self.decode(self.quantize.codes_from_indices(indices))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, QuantOut]:
        q = self.encode(x)
        return self.decode(q.quant), q

    def last_layer(self) -> torch.Tensor:
        return self.decoder.conv_out.weight
