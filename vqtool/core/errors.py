"""User-facing errors. The CLI renders any VqtoolError as one message and exit code 2."""


class VqtoolError(Exception):
    """A problem with the user's input (path, value, file); never a bug in vqtool."""


class ConfigError(VqtoolError):
    """A recipe or --set override names an unknown key or has a wrong type."""


class CheckpointError(VqtoolError):
    """A file is not a checkpoint, or not of the kind a command needs."""


class DataError(VqtoolError):
    """A dataset folder, image, label map or shard folder is unusable."""


class WeightsNotFound(VqtoolError):
    """Pretrained weights (LPIPS VGG16, FID Inception) could not be found or downloaded."""


def require_multiple(option: str, size: int, factor: int) -> None:
    """A crop side the VQGAN maps to whole codes, or one message naming the nearest that are."""
    if size % factor:
        lo = size - size % factor
        near = f"{lo} or {lo + factor}" if lo else str(factor)
        raise VqtoolError(f"{option} {size} is not a multiple of the VQGAN's factor {factor}: try {near}")
