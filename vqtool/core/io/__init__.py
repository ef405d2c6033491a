"""Checkpoint and weight I/O: atomic self-describing .pt files, safe loading, fingerprints, downloads."""
