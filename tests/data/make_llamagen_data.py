"""Writes llamagen_vq.json: a tiny LlamaGen-shaped VQ tokenizer (its state dict's shapes and the seed
of tests_helpers.seeded_state) and what LlamaGen's own code computes with it: the codes of two
images and the pixels it decodes them to. LlamaGen is not on the package index; run with its source
fetched (FoundationVision/LlamaGen, tokenizer/tokenizer_image/vq_model.py):
    python tests/data/make_llamagen_data.py /path/to/LlamaGen/tokenizer/tokenizer_image/vq_model.py
The model is LlamaGen's VQModel with its Encoder and Decoder built at width 32 (its classes take ch;
VQModel fixes 128), two levels (f = 2), a 64 x 8 l2-normalised codebook."""

import json
import sys
import types
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parents[1]))
from tests_helpers import seeded_state  # noqa: E402

src = Path(sys.argv[1]).read_text()
mod = types.ModuleType("llamagen_vq_model")
exec(compile(src, sys.argv[1], "exec"), mod.__dict__)
cfg = mod.ModelArgs(codebook_size=64, codebook_embed_dim=8, encoder_ch_mult=[1, 2], decoder_ch_mult=[1, 2],
                    z_channels=32)
m = mod.VQModel(cfg)
m.encoder = mod.Encoder(ch=32, ch_mult=(1, 2), z_channels=32)
m.decoder = mod.Decoder(ch=32, ch_mult=(1, 2), z_channels=32)
shapes = {k: list(v.shape) for k, v in m.state_dict().items()}
m.load_state_dict(seeded_state(shapes, 29))
m.eval()
g = torch.Generator().manual_seed(7)
x = torch.rand(2, 3, 16, 24, generator=g) * 2 - 1
with torch.no_grad():
    _, _, (_, _, idx) = m.encode(x)
    codes = idx.view(2, 8, 12)
    pixels = m.decode_code(codes.flatten(), (2, 8, 8, 12))
out = {"shapes": shapes, "seed": 29, "image_seed": 7, "image_shape": [2, 3, 16, 24],
       "codes": codes.tolist(), "pixels": [round(v, 7) for v in pixels.flatten().tolist()]}
Path(__file__).with_name("llamagen_vq.json").write_text(json.dumps(out) + "\n")
print("codes used:", len(codes.unique()), "pixel range:", float(pixels.min()), float(pixels.max()))
