"""vqtool: VQGAN + autoregressive transformer (Esser, Rombach, Ommer, CVPR 2021) as a toolkit.

The small Python API lives in :mod:`vqtool.api` (load, encode, decode, sample); it is imported
lazily so that ``import vqtool`` stays cheap.
"""

from importlib import metadata

try:
    __version__ = metadata.version("vqtool")
except metadata.PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0+src"


def __getattr__(name):
    if name in {"load", "encode", "decode", "sample"}:
        from vqtool import api

        return getattr(api, name)
    raise AttributeError(name)
