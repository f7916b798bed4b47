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
