"""The generation pipeline: conditioning -> token grid -> image (see pipeline.generate)."""
