"""The ``raw`` fixture: hand-written servers (``tests.providers.raw_server``), closed after each test."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.providers.raw_server import (
    Answer,
    RawServer,
)


@pytest.fixture
def raw() -> Iterator[Callable[[Answer], RawServer]]:
    servers: list[RawServer] = []

    def make(answer: Answer) -> RawServer:
        servers.append(RawServer(answer))
        return servers[-1]

    yield make
    for server in servers:
        server.close()
