"""The first stage: the VQGAN, its quantizers, discriminator and losses, tiled encode/decode."""
