import random, torch, sys
from pathlib import Path
from vqtool.pipeline.bundle import load_transformer
from vqtool.data import shards as sh
from vqtool.train.transformer import sequence_loss
model, shards = sys.argv[1], sys.argv[2]
b = load_transformer(model, "cpu")
m = sh.read_manifest(Path(shards))
val = sh.load_split(Path(shards), m, "val")
lay, W = b.layout, b.layout.window
lc = lay.cond_len()
def seqs(shuffle):
    out = []
    rng = random.Random(0)
    for i, s in enumerate(val):
        z = torch.as_tensor(s["tokens.npy"].astype("int64"))
        r0, c0 = (z.shape[0] - W) // 2, (z.shape[1] - W) // 2
        other = val[(i + 7) % len(val)] if shuffle else s
        cond = lay.train_tokens(other, False, r0, c0, rng, 0.0, True)
        out.append(torch.cat([cond, z[r0:r0+W, c0:c0+W].reshape(-1)]))
    return torch.stack(out)
with torch.no_grad():
    for sh_ in (False, True):
        print("shuffled" if sh_ else "own", float(sequence_loss(b.gpt, seqs(sh_), lc)) / 0.6931, "bits/token")
