"""Find and name the first malformed line of a text data file.

The readers parse whole files with vectorised code, which knows that something is wrong but
not where. When that parse fails they call ``first_bad_line``, which walks the file line by
line with the same rules and returns a message such as
``"/data/gowalla/train.txt line 17: item id 'x' is not an integer"``.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

Check = Callable[[str], str | None]
"""Returns what is wrong with one field value, or None when it is fine."""

_UNSIGNED = re.compile(r"[0-9]+")
_SIGNED = re.compile(r"-?[0-9]+")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_INT64_MAX = 2**63 - 1
_INT32_MAX = 2**31 - 1


class BadLine(Exception):
    """A problem found at a 1-based line number; ``describe`` turns it into the message."""

    def __init__(self, line: int, problem: str) -> None:
        super().__init__(line, problem)
        self.line = line
        self.problem = problem

    def describe(self, path: Path) -> str:
        return f"{path} line {self.line}: {self.problem}"


def id_check(label: str) -> Check:
    """A non-negative integer id, e.g. ``label="item id"``."""

    def check(value: str) -> str | None:
        if _UNSIGNED.fullmatch(value):
            return None if int(value) <= _INT64_MAX else f"{label} '{value}' is too large"
        if _SIGNED.fullmatch(value):
            return f"{label} '{value}' is negative"
        return f"{label} '{value}' is not an integer"

    return check


def label_check(label: str) -> Check:
    """Any non-empty string id."""
    return lambda value: None if value else f"{label} is empty"


def unix_seconds_check(label: str) -> Check:
    """An integer number of seconds (unix time)."""

    def check(value: str) -> str | None:
        if _SIGNED.fullmatch(value) and abs(int(value)) <= _INT64_MAX:
            return None
        return f"{label} '{value}' is not an integer (unix seconds)"

    return check


def date_check(label: str) -> Check:
    """A calendar date written YYYY-MM-DD."""

    def check(value: str) -> str | None:
        try:
            if _DATE.fullmatch(value):
                datetime.strptime(value, "%Y-%m-%d")
                return None
        except ValueError:
            pass
        return f"{label} '{value}' is not a date of the form YYYY-MM-DD"

    return check


def parse_iso(value: str) -> int:
    """Unix seconds (floored) of an ISO 8601 date or date-time; naive values are taken as UTC."""
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() // 1)


def time_check(label: str) -> Check:
    """Unix seconds or an ISO 8601 date / date-time."""
    as_int = unix_seconds_check(label)

    def check(value: str) -> str | None:
        if as_int(value) is None:
            return None
        try:
            parse_iso(value)
        except ValueError:
            return f"{label} '{value}' is neither an integer (unix seconds) nor an ISO 8601 date"
        return None

    return check


def decoded_lines(path: Path) -> Iterator[str]:
    """The file's lines as text (UTF-8, a leading byte-order mark dropped)."""
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise BadLine(number, f"not valid UTF-8 text ({exc.reason})") from None


def first_bad_row(
    path: Path, *, sep: str, header: bool, n_columns: int, checks: dict[int, Check]
) -> str | None:
    """Message for the first bad row of a delimited file, or None if every row is fine.

    Blank lines are skipped, as the fast reader skips them. ``checks`` maps a 0-based column
    index to the check for that column's values.
    """
    csv.field_size_limit(_INT32_MAX)  # a huge value is not an error; pyarrow reads it
    reader = None
    try:
        reader = csv.reader(decoded_lines(path), delimiter=sep)
        if header:
            next(reader, None)
        for row in reader:
            if not row:
                continue
            if len(row) != n_columns:
                raise BadLine(
                    reader.line_num,
                    f"expected {n_columns} columns separated by {sep!r}, found {len(row)}",
                )
            for index, check in checks.items():
                problem = check(row[index])
                if problem is not None:
                    raise BadLine(reader.line_num, problem)
    except BadLine as bad:
        return bad.describe(path)
    except csv.Error as exc:
        return f"{path} line {reader.line_num if reader else 1}: not delimited text ({exc})"
    return None


def first_bad_token_line(path: Path, *, first: Check, rest: Check) -> str | None:
    """Message for the first bad line of a whitespace-separated file of integer tokens.

    ``first`` checks each line's first token, ``rest`` the others.
    """
    try:
        for number, line in enumerate(decoded_lines(path), start=1):
            tokens = line.split()
            for position, token in enumerate(tokens):
                problem = (first if position == 0 else rest)(token)
                if problem is not None:
                    raise BadLine(number, problem)
    except BadLine as bad:
        return bad.describe(path)
    return None
