"""maeum (마음): Korean emotion understanding and empathetic dialogue on PyTorch Lightning + Hydra."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("maeum")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+local"

from maeum import _moved

_moved.install()  # old import paths (maeum.callbacks, maeum.loading, ...) that checkpoints store
