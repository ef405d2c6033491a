"""The installed version (from the package metadata; a source tree says 0.0.0+src)."""

from importlib import metadata

try:
    __version__ = metadata.version("vqtool")
except metadata.PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0+src"
