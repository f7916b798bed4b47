"""Errors a user can act on. The CLI prints their message (one line, no traceback) and exits 2."""

from __future__ import annotations


class BenchError(Exception):
    """Bad input: an unreadable run, a scenario that cannot be run, a missing key.

    ``exit_code`` lets the CLI keep the exit-status contract of docs/scenarios.md (2 = bad input) in one place.
    """

    exit_code = 2


class ScenarioError(BenchError):
    """A scenario file that cannot be run: names the file, the field and the problem."""

    def __init__(self, path: str, field: str | None, problem: str) -> None:
        self.path = path
        self.field = field
        self.problem = problem
        where = f"{path}: {field}: " if field else f"{path}: "
        super().__init__(where + problem)
