"""Budget strings to bytes: ``2MB`` = 2,000,000, ``512KiB`` = 524,288, ``10%`` of a full table.

A budget is always an int number of bytes inside elasticrec; strings are parsed here, once,
at the command line. SI units are powers of 1000 (``kB``, ``MB``, ``GB``; ``KB`` is accepted
for ``kB``), IEC units powers of 1024 (``KiB``, ``MiB``, ``GiB``), ``B`` or no unit is bytes.
A percentage is of the full float32 item table (``n_items * dim * 4`` bytes), which the caller
supplies. Fractional values are allowed and rounded down to whole bytes.
"""

from __future__ import annotations

import re
from decimal import ROUND_FLOOR, Decimal, InvalidOperation

import numpy as np

from elasticrec.errors import ElasticrecError

UNITS: dict[str, int] = {
    "": 1,
    "B": 1,
    "kB": 1000,
    "KB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
    "KiB": 1024,
    "MiB": 1024**2,
    "GiB": 1024**3,
}

_PATTERN = re.compile(r"\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([A-Za-z]*|%)\s*")


def parse_budget(text: str, *, full_table_bytes: int | None = None) -> int:
    """The budget ``text`` in bytes (an int >= 1); see the module docstring for the syntax."""
    match = _PATTERN.fullmatch(text)
    if match is None:
        raise ElasticrecError(
            f"budget {text!r} is not a number of bytes such as 2MB, 512KiB or 10%")
    number, unit = match.groups()
    try:
        value = Decimal(number)
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits only decimals
        raise ElasticrecError(f"budget {text!r} is not a number") from exc
    if unit == "%":
        if full_table_bytes is None:
            raise ElasticrecError(
                f"budget {text!r} is a percentage, which needs the full table size; give bytes"
            )
        if value > 100:
            raise ElasticrecError(f"budget {text!r} is more than 100% of the full table")
        scaled = value * full_table_bytes / 100
    elif unit in UNITS:
        scaled = value * UNITS[unit]
    else:
        units = ", ".join(u for u in UNITS if u)
        raise ElasticrecError(f"budget {text!r} has unknown unit {unit!r}; allowed: {units} or %")
    budget = int(scaled.to_integral_value(rounding=ROUND_FLOOR))
    if budget < 1:
        raise ElasticrecError(f"budget {text!r} is less than one byte")
    return budget


def parse_stream_budget(text: str) -> tuple[str, float]:
    """A streaming budget: ``("c", N)`` for ``c=N`` (a mean of N float32 values per entity),
    ``("B", MB)`` for ``B=MB`` (MB of float32 parameters, 10^6 bytes each), else
    ``("bytes", n)`` for a byte budget as ``parse_budget`` reads it (no percentage)."""
    kind, eq, value = str(text).partition("=")
    if eq and kind in ("c", "B"):
        try:
            x = float(value)
        except ValueError:
            x = float("nan")
        if not (x > 0 and x < float("inf")):
            raise ElasticrecError(f"budget {text!r}: the value after '=' must be a positive "
                                  "finite number")
        return kind, x
    return "bytes", float(parse_budget(text))


def full_table_bytes(n_items: int, dim: int) -> int:
    """Bytes of the full float32 item table: what a percentage budget is a share of."""
    return int(n_items) * int(dim) * 4


def format_bytes(n_bytes: int) -> str:
    """``1234567`` -> ``'1,234,567 bytes (1.23 MB)'``: exact count first, a readable size after."""
    if n_bytes < 1000:
        return f"{n_bytes:,} bytes"
    for unit, size in (("GB", 1000**3), ("MB", 1000**2), ("kB", 1000)):
        if n_bytes >= size:
            return f"{n_bytes:,} bytes ({n_bytes / size:.2f} {unit})"
    raise AssertionError("unreachable")  # pragma: no cover


def budget_to_bytes(budget, *, full_table_bytes: int | None = None) -> int:
    """``budget`` in bytes: an int >= 1, or a string for ``parse_budget`` (a percentage is a
    share of ``full_table_bytes``)."""
    if isinstance(budget, bool) or not isinstance(budget, int | np.integer | str):
        raise ElasticrecError(f"budget {budget!r} is not a number of bytes or a string "
                              "such as '2MB' or '10%'")
    if isinstance(budget, str):
        return parse_budget(budget, full_table_bytes=full_table_bytes)
    if budget < 1:
        raise ElasticrecError(f"budget {budget} is less than one byte")
    return int(budget)
