"""Fixtures: servers on loopback (hand-written, origins, proxies), closed after each test; a test
certificate; and an environment without the machine's proxy or certificate settings."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.providers.network_servers import Certs
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


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy or certificate setting from the machine running the tests leaks into a case."""
    for name in list(os.environ):
        if name.lower().endswith("_proxy") or name.upper() in ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUEST_METHOD"):
            monkeypatch.delenv(name)


@pytest.fixture
def servers() -> Iterator[Callable[..., Any]]:
    """Make servers (an origin, a TLS origin, a proxy); all closed after the test."""
    made: list[Any] = []

    def make(kind: type, *args: Any, **kwargs: Any) -> Any:
        made.append(kind(*args, **kwargs))
        return made[-1]

    yield make
    for server in made:
        server.close()


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    """A self-signed certificate for 127.0.0.1, made now with the openssl command (never downloaded)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    where = tmp_path_factory.mktemp("certs")
    cert, key = where / "cert.pem", where / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"]
        + ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost"]
        + ["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True,
        capture_output=True,
    )
    digest = subprocess.run([openssl, "x509", "-hash", "-noout", "-in", str(cert)], check=True, capture_output=True, text=True)
    directory = where / "ca"
    directory.mkdir()
    shutil.copy(cert, directory / f"{digest.stdout.strip()}.0")
    return Certs(cert, key, directory)
