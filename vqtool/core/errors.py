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
