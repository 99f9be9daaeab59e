"""One helper for validating configuration fields with a message that names field and value.

A refused value raises ``ConfigError``: a ``ValueError`` (the configs' contract, which the
CLI reports in one line like an ``ElasticrecError``) whose ``field`` names the field, so that
a command line can name its own option for it (``--blocks`` for ``n_blocks``). It is defined
here, not in ``errors``, because the ground-floor modules import nothing of each other.
"""

import math


class ConfigError(ValueError):
    """A configuration field with a value that is not allowed; ``field`` names it."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def check(cond: bool, name: str, value: object, allowed: str) -> None:
    if not cond:
        raise ConfigError(f"{name}={value!r} is not allowed: {allowed}", name)


def finite(value: object) -> bool:
    """True for a real number that is neither infinite nor NaN."""
    return isinstance(value, int | float) and math.isfinite(value)
