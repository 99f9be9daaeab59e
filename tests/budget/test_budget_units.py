"""Budget strings are parsed once, exactly, into bytes."""

from __future__ import annotations

import pytest

from elasticrec.budget.units import format_bytes, parse_budget
from elasticrec.errors import ElasticrecError


@pytest.mark.parametrize(("text", "expected"), [
    ("2MB", 2_000_000), ("512KiB", 524_288), ("300000", 300_000), ("17B", 17),
    ("1kB", 1000), ("1KB", 1000), ("1.5GB", 1_500_000_000), ("3MiB", 3 * 2**20),
    ("1GiB", 2**30), (" 2 MB ", 2_000_000), ("0.5KiB", 512), ("1.0009kB", 1000), (".5MB", 500_000),
])
def test_sizes_in_si_and_iec_units(text, expected):
    assert parse_budget(text) == expected


def test_percentages_are_of_the_full_float32_item_table():
    full = 40_981 * 64 * 4
    assert parse_budget("10%", full_table_bytes=full) == full // 10
    assert parse_budget("100%", full_table_bytes=full) == full
    assert parse_budget("12.5%", full_table_bytes=800) == 100


@pytest.mark.parametrize(("text", "message"), [
    ("", "not a number of bytes"), ("MB", "not a number of bytes"), ("-5MB", "not a number"),
    ("2 TB", "unknown unit 'TB'"), ("2mb", "unknown unit 'mb'"), ("0", "less than one byte"),
    ("0.4B", "less than one byte"), ("150%", "more than 100%"), ("1e6", "not a number of bytes"),
])
def test_bad_budgets_fail_with_one_line_messages(text, message):
    with pytest.raises(ElasticrecError, match=message):
        parse_budget(text, full_table_bytes=1000)


def test_percent_without_a_table_size_is_refused():
    with pytest.raises(ElasticrecError, match="needs the full table size"):
        parse_budget("10%")


def test_format_bytes_gives_the_exact_count_first():
    assert format_bytes(999) == "999 bytes"
    assert format_bytes(1_234_567) == "1,234,567 bytes (1.23 MB)"
