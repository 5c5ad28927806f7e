"""User-facing errors: each carries one message that says what went wrong, where, and what to do.

Entry points print such an error as a single message instead of a stack trace (see `maeum.runtime`).
"""


class MaeumError(Exception):
    """Base class of every error that is the user's to fix (bad input, unreachable backbone, ...)."""


class DataError(MaeumError):
    """A corpus file, column, row or label that cannot be used."""


class BackboneError(MaeumError):
    """A backbone (tokenizer or model) that cannot be found or loaded."""
