"""vqtool: VQGAN + autoregressive transformer (Esser, Rombach, Ommer, CVPR 2021) as a toolkit.

The small Python API lives in :mod:`vqtool.app.api` (load, encode, decode, sample); it is imported
lazily so that ``import vqtool`` stays cheap.
"""

from vqtool.core.version import __version__  # noqa: F401


def __getattr__(name):
    if name in {"load", "encode", "decode", "sample"}:
        from vqtool.app import api

        return getattr(api, name)
    raise AttributeError(name)
