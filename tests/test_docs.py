"""Docs and packaging as a new user meets them: an installable name, documents that ship with the project."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
#: Files a user reads: the README and everything under docs/.
USER_DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def test_distribution_name_is_not_the_unrelated_bench_project() -> None:
    # "bench" on the package index is an unrelated 2015 project: installing it by that name
    # gets the wrong thing. The command and the import stay "bench".
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["name"] == "llm-provider-bench"
    assert project["scripts"]["bench"] == "bench._entry:main"


def test_no_doc_installs_the_wrong_package() -> None:
    for path in USER_DOCS:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"pip install\s+bench\b", text), f"{path.name} tells users to pip install bench"


def test_metrics_doc_defines_every_column_and_aggregate() -> None:
    from bench.analysis.metrics import CI_COLUMNS, LATENCY_STAT_COLUMNS, aggregate_columns
    from bench.schema import COLUMNS, ERROR_KINDS

    text = (REPO / "docs" / "metrics.md").read_text(encoding="utf-8")
    missing = [c for c in COLUMNS if f"`{c}`" not in text]
    assert not missing, f"docs/metrics.md lacks columns {missing}"
    assert not [k for k in ERROR_KINDS if f"`{k}`" not in text]
    families = {*LATENCY_STAT_COLUMNS, *CI_COLUMNS}
    plain = [c for c in aggregate_columns() if not any(c.startswith(f) for f in families)]
    assert not [c for c in plain if f"`{c}`" not in text], "an aggregate column is undocumented"
    assert "`<col>_p50_ci_low`" in text and "`output_tps_p1`" in text
    for heading in ("unit", "definition", "source"):
        assert f"| {heading} |" in text


def test_method_doc_covers_what_a_reader_must_judge() -> None:
    text = (REPO / "docs" / "method.md").read_text(encoding="utf-8")
    for section in (
        "## Where t0 is taken",
        "## Receive stamps",
        "## Warm-up",
        "## Statistics",
        "## The emulator",
        "## Client paths",
        "## Accuracy",
    ):
        assert section in text, section
    assert "`sdk`" in text and "`fast`" in text and "Accuracy and scale" in text


def test_user_docs_cite_shipped_documents_not_internal_ones() -> None:
    for path in USER_DOCS:
        text = path.read_text(encoding="utf-8")
        assert "DESIGN" not in text and "§" not in text, path.name
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if "://" in target:
                continue
            assert (path.parent / target).exists(), f"{path.name} links to missing {target}"
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "(docs/metrics.md)" in readme and "(docs/method.md)" in readme


def test_code_cites_only_what_a_maintainer_can_open() -> None:
    # Docstrings and comments point at docs/*.md; never at a design note, an issue number or a
    # path outside the repository, none of which ships with the code.
    # Spelled in pieces so this line does not match itself.
    design, issue, shared, work = "DESIGN" + " §", "[Ii]ss" + "ue [0-9]+", "/sha" + "red/", "/wo" + "rk/"
    pattern = re.compile(rf"{design}|DESIGN\.md|{shared}|\b{issue}|{work}")
    offenders = [
        f"{path.relative_to(REPO)}:{number}"
        for folder in ("bench", "tests", "benchmarks")
        for path in sorted((REPO / folder).rglob("*"))
        if path.suffix in {".py", ".toml", ".md", ".c"} and path.is_file()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert not offenders, offenders
    for cited in sorted(
        set(re.findall(r"docs/([\w-]+\.md)", "".join(p.read_text(encoding="utf-8") for p in (REPO / "bench").rglob("*.py"))))
    ):
        assert (REPO / "docs" / cited).exists(), f"bench/ cites docs/{cited}, which does not exist"


def test_ci_runs_exactly_the_readme_test_command() -> None:
    # "Two commands": the second is what .ci/run runs, lint and types included, word for word.
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```bash\n(.*?)\n```", section, re.S)
    ci_lines = (REPO / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()
    assert commands[1] == ci_lines[-1]
    assert ci_lines[-1].endswith(
        "&& ruff check bench tests benchmarks && ruff format --check bench tests benchmarks && mypy && lint-imports"
    )
