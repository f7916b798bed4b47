"""Every exception bench raises on purpose, as one tree (after ``httpx/_exceptions.py``).

::

    BenchException                 raised on purpose by bench; anything else is a bug
     ├── BenchError                 a user can act on it: the CLI prints its one line and exits
     │    │                         with ``exit_code`` (2: bad input, docs/scenarios.md)
     │    ├── ScenarioError         a scenario that cannot be run: file, field, problem
     │    ├── CatalogueError        the packaged model catalogue is malformed (a release bug)
     │    └── EmulatorError         the emulator process did not start (its stderr inside)
     ├── ProviderFailure            one request ended badly (bench.providers.errors): never
     │    │                         reaches the user as an exception; it is classified onto
     │    │                         the closed set of error kinds and recorded as a row
     │    ├── StatusError, StreamErrorEvent, StreamNotSupported, ProtocolViolation,
     │    └── StreamCut, ConnectFailed, ClientResourceError
     └── EmulatorRequestError       inside the emulator only: a request it answers with an
          │                         error status instead of a stream (bench.emulator)
          └── OverrideError, RequestError, MalformedRequest

Foreign exceptions (the SDKs', httpx's, OSError) are translated at the boundary where they
are raised: a provider's by ``bench.providers.classify``, a file system's into a
``BenchError`` naming the path.
"""

from __future__ import annotations

__all__ = ["BenchError", "BenchException", "CatalogueError", "EmulatorRequestError", "ScenarioError"]


class BenchException(Exception):
    """The root: every exception bench raises on purpose."""


class BenchError(BenchException):
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


class CatalogueError(BenchError, ValueError):
    """The catalogue data file is malformed: names the provider, the model and the problem."""


class EmulatorRequestError(BenchException):
    """Inside the emulator: a request it refuses (answered on the wire, never raised to a user)."""
