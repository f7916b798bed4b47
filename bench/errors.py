"""Every exception bench raises on purpose, as one tree (after ``httpx/_exceptions.py``).

::

    BenchException                 raised on purpose by bench; anything else is a bug
     ├── BenchError                 a user can act on it: the CLI prints its one line and exits
     │    │                         with ``exit_code`` (2: bad input, docs/scenarios.md)
     │    ├── ScenarioError         a scenario that cannot be run: file, field, problem
     │    ├── CatalogueError        the packaged model catalogue is malformed (a release bug)
     │    ├── WriteError            a file a command writes could not be written (full disk,
     │    │                         read-only folder, no permission): path and problem
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

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = [
    "BenchError",
    "BenchException",
    "CatalogueError",
    "EmulatorRequestError",
    "ScenarioError",
    "WriteError",
    "cannot_write",
    "writing",
]


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


#: errno values that say a place cannot be written: a full disk or quota, a read-only
#: filesystem, no permission, a file too large. Anything else that fails a write is a bug.
WRITE_ERRNOS: frozenset[int] = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG, errno.EISDIR, errno.ENOTDIR}
)


class WriteError(BenchError):
    """A file or directory a command writes could not be written: names the path and the problem.

    Exit 2 like bad input: the command cannot do its job in that place (a full disk, a
    read-only or foreign folder), and what it wrote before is left as it was.
    """

    def __init__(self, path: str | os.PathLike[str], problem: str, then: str = "") -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{path}: cannot write ({problem})" + (f"; {then}" if then else ""))


def cannot_write(exc: OSError, path: str | os.PathLike[str] | None = None) -> WriteError:
    """``exc`` as one line naming the path it failed on (the error's own, else ``path``) and the
    system's words for the problem (Arrow wraps them in longer text of its own)."""
    where = exc.filename if exc.filename else path
    problem = os.strerror(exc.errno) if exc.errno else (exc.strerror or str(exc) or type(exc).__name__)
    return WriteError(where if where is not None else "?", problem)


def is_write_error(exc: BaseException) -> bool:
    """True for an OSError that says the place cannot be written (see :data:`WRITE_ERRNOS`)."""
    return isinstance(exc, OSError) and exc.errno in WRITE_ERRNOS


@contextmanager
def writing(path: str | os.PathLike[str]) -> Iterator[None]:
    """A write that fails in the block (see :func:`is_write_error`) becomes one line naming the
    path it failed on, else ``path``; other errors pass through unchanged."""
    try:
        yield
    except OSError as exc:
        if not is_write_error(exc):
            raise
        raise cannot_write(exc, path) from None
