"""maeum (마음): Korean emotion understanding and empathetic dialogue on PyTorch Lightning + Hydra.

`maeum.classifier(path)` and `maeum.chatbot(path)` use a trained model from Python (`maeum.api`).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("maeum")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+local"

from maeum import _moved

_moved.install()  # old import paths (maeum.callbacks, maeum.loading, ...) that checkpoints store


def __getattr__(name: str):  # the Python API, imported on first use: `import maeum` stays light
    if name in ("classifier", "chatbot"):
        from maeum import api

        return getattr(api, name)
    raise AttributeError(f"module 'maeum' has no attribute {name!r}")
