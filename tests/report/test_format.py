"""One registry formats every number the report writes: unit -> formatter (bench.fmt)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.fmt import FORMATTERS, format_value
from bench.report import tables


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (1234.4, "ms", "1,234"),
        (12.345, "ms", "12.3"),
        (1.2345, "tokens/s", "1.23"),
        (0.12345, "number", "0.123"),
        (-0.0001, "number", "0"),
        (0.04, "share", "4.0%"),
        (1234.0, "count", "1,234"),
        (0.0000606, "usd", "$0.0000606"),
        (12.3, "usd", "$12.30"),
        (0.0, "usd", "$0"),
        (0.042, "change", "+4.2%"),
        (-1.25, "signed", "-1.25"),
        (1.25, "signed", "+1.25"),
        (0.015, "points", "+1.5 pts"),
        (0.4213, "cores", "0.42"),
        (np.float64(75.25), "ms", "75.2"),
    ],
)
def test_each_unit_reads_one_way(value: object, unit: str, text: str) -> None:
    assert format_value(value, unit) == text


@pytest.mark.parametrize("unit", sorted(FORMATTERS))
@pytest.mark.parametrize("missing", [None, math.nan, "not a number"])
def test_a_missing_value_is_a_dash_never_zero(unit: str, missing: object) -> None:
    assert format_value(missing, unit) == "–"


def test_an_unknown_unit_is_refused() -> None:
    with pytest.raises(ValueError, match="no formatter for unit 'furlongs'"):
        format_value(1.0, "furlongs")


def test_the_report_tables_use_the_registry() -> None:
    assert tables.num is FORMATTERS["number"] and tables.share is FORMATTERS["share"] and tables.usd is FORMATTERS["usd"]
    assert tables.with_ci(75.25, 70.0, 80.0) == "75.2 [70.0–80.0]"
