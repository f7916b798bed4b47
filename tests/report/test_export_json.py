"""JSON exports a person can read: plain UTF-8 text and floats as they are, not as a 15-digit guess."""

from __future__ import annotations

import json
import re
from pathlib import Path

from bench.report.export import export_run
from bench.results.records import load_results
from tests.synthetic import write_synthetic_run

#: A JSON number with a fraction or exponent.
FLOAT = re.compile(rb"(?<![\w\"])-?\d+\.\d+(?:[eE][-+]?\d+)?(?![\w\"])")


def _digits(number: str) -> str:
    """The significant digits of a decimal number, whatever its notation."""
    mantissa = number.lower().lstrip("-").partition("e")[0]
    return mantissa.replace(".", "").lstrip("0").rstrip("0")


def test_json_export_is_plain_utf8_with_shortest_floats(tmp_path: Path) -> None:
    run = write_synthetic_run(
        tmp_path / "runs", n=6, targets=({"provider": "groq", "model": "openai/gpt-oss-120b", "label": "grøq/120b"},)
    )
    export_run(run, "json", tmp_path / "out")
    for name in ("requests.json", "aggregates.json"):
        raw = (tmp_path / "out" / name).read_bytes()
        assert b"\\u" not in raw and b"\\/" not in raw, name  # no escapes: "grøq/120b" as written
        assert "grøq/120b".encode() in raw
        for token in FLOAT.findall(raw):
            # Each float is its shortest exact form (no 222.341044000000011); orjson may write
            # 0.0000606 where Python writes 6.06e-05: the same digits, so compare the digits.
            assert _digits(token.decode()) == _digits(repr(float(token))), (name, token)
    records = json.loads((tmp_path / "out" / "requests.json").read_text(encoding="utf-8"))
    frame = load_results(run)
    assert [r["ttft_ms"] for r in records[:5]] == [None if v != v else v for v in frame["ttft_ms"].iloc[:5]]
