"""Every verdict line counts what its table shows, and a figure computed past what was measured
(the 100-token answer of answers shorter than 100 tokens) is marked, never shown as measured."""

from __future__ import annotations

import re
from pathlib import Path

from bench.report.data import build
from bench.report.markdown import render_markdown
from tests.synthetic import DEFAULT_TARGETS, write_synthetic_run


def _sections(text: str) -> list[str]:
    """The run-to-run section's parts, one per later run."""
    r2r = text.split("## Run to run")[1].split("\n## ")[0]
    return r2r.split("### ")[1:]


def _table_rows(part: str) -> list[str]:
    return [line for line in part.splitlines() if line.startswith("| ") and not line.startswith("| target")]


def _counts(part: str) -> tuple[int, int, int, int]:
    line = next(x for x in part.splitlines() if x.startswith("**Gate:"))
    m = re.search(r"Verdicts in this table: (\d+) judged .*?, (\d+) inconclusive \(too few samples\), over (\d+) rows?", line)
    assert m, line
    one = re.search(r"of which (\d+) (?:is|are) in one run only", line)
    return int(m[1]), int(m[2]), int(m[3]), int(one[1]) if one else 0


def test_gate_lines_count_the_cells_and_rows_of_their_tables(tmp_path: Path) -> None:
    one = write_synthetic_run(tmp_path, run_id="20260925-100000-synthetic-0001", n=30, levels=(1, 4))
    # Run 2 drops a target and adds a level: groups only in one run get rows of their own.
    two = write_synthetic_run(
        tmp_path, run_id="20260926-100000-synthetic-0002", n=30, seed=3, levels=(1, 4, 8), targets=DEFAULT_TARGETS[:2]
    )
    # Run 3 is too small for a verdict on any median: inconclusive cells.
    three = write_synthetic_run(tmp_path, run_id="20260927-100000-synthetic-0003", n=5, seed=4, levels=(1,))
    parts = _sections(render_markdown(build([one, two, three]), {}))
    assert len(parts) == 2
    for part in parts:
        rows = _table_rows(part)
        cells = [c.strip() for row in rows for c in row.strip("|").split("|")[2:]]
        judged = sum(c.endswith(("· no change", "· improvement", "· **regression**")) for c in cells)
        inconclusive = sum(c.endswith("· too few samples") for c in cells)
        one_run = sum("only in run" in row for row in rows)
        assert _counts(part) == (judged, inconclusive, len(rows), one_run), part
    # Run 2: two anthropic rows only in run 1, two concurrency-8 rows only in run 2.
    assert _counts(parts[0])[2:] == (8, 4)
    rows = {tuple(c.strip() for c in row.strip("|").split("|")[:3]) for row in _table_rows(parts[0])}
    assert ("anthropic/claude-sonnet-5-5", "concurrency 1", "only in run 1 (not judged)") in rows
    assert ("groq/llama-3.3-70b-versatile", "concurrency 8", "only in run 2 (not judged)") in rows
    # Run 3: only the error rates are judged; every median is inconclusive, and still counted.
    judged, inconclusive, rows, one_run = _counts(parts[1])
    assert (judged, inconclusive, rows, one_run) == (3, 12, 6, 3)
    assert "**Gate: INCONCLUSIVE.**" in parts[1]


def _headline_cells(text: str, column: str) -> list[str]:
    section = text.split("## Headline")[1].split("\n## ")[0]
    lines = [x for x in section.splitlines() if x.startswith("|")]
    headers = [h.strip() for h in lines[0].strip("|").split("|")]
    i = headers.index(column)
    return [row.strip("|").split("|")[i].strip() for row in lines[2:]]


def test_a_100_token_answer_of_short_answers_is_marked_extrapolated(tmp_path: Path) -> None:
    run = write_synthetic_run(tmp_path, targets=DEFAULT_TARGETS[:2], max_tokens=16, n=20, slo={"response_100_ms_p50": 5000})
    text = render_markdown(build([run]), {})
    cells = _headline_cells(text, "100-token answer p50 (ms)")
    assert cells and all(c.endswith("†") for c in cells)
    assert "† Extrapolated, not measured: the answers were at most 16 tokens long" in text
    # The SLO on it is judged on the same extrapolated figure, and says so.
    slo = text.split("## SLO verdicts")[1].split("\n## ")[0]
    assert "(`response_100_ms_p50`)†" in slo and "some targets' answers were at most 16 tokens long" in slo


def test_a_comparison_marks_the_100_token_answer_column(tmp_path: Path) -> None:
    one = write_synthetic_run(tmp_path, run_id="20260925-100000-synthetic-0001", max_tokens=16, n=30)
    two = write_synthetic_run(tmp_path, run_id="20260926-100000-synthetic-0002", max_tokens=16, n=30, seed=2)
    part = _sections(render_markdown(build([one, two]), {}))[0]
    assert "100-token answer p50†" in part and "† Extrapolated, not measured" in part


def test_a_measured_100_token_answer_is_not_marked(tmp_path: Path) -> None:
    run = write_synthetic_run(tmp_path, targets=DEFAULT_TARGETS[:2], max_tokens=256, n=20)
    text = render_markdown(build([run]), {})
    cells = _headline_cells(text, "100-token answer p50 (ms)")
    assert cells and not any(c.endswith("†") for c in cells)
    assert "Extrapolated" not in text
