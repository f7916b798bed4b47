"""Proxies and TLS trust, the same on both client paths.

Both paths read ``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY``/``NO_PROXY`` and ``SSL_CERT_FILE``/
``SSL_CERT_DIR`` as the SDK's own HTTP library does (docs/method.md, "Network: proxies, TLS,
redirects, retries"); every case runs both against a real proxy and TLS origin on loopback.
"""

from __future__ import annotations

import base64
import importlib.util
from pathlib import Path

import pytest

from bench.errors import BenchError
from bench.providers import ClientSettings, make_provider
from tests.providers.client_runs import KEY
from tests.providers.network_runs import (
    CLIENTS,
    PROVIDERS,
    both,
    outcome,
    scenario_file,
    stream_answer,
)
from tests.providers.network_servers import Certs, HttpProxy, Origin, TlsOrigin, dead_port

pytestmark = pytest.mark.usefixtures("clean_environment")


# ---------------------------------------------------------------------------- proxies


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY"])
@pytest.mark.parametrize("provider", PROVIDERS)
def test_http_through_a_proxy_in_absolute_form(servers, monkeypatch: pytest.MonkeyPatch, provider: str, variable: str) -> None:
    proxy = servers(HttpProxy)
    monkeypatch.setenv(variable, proxy.url)
    results = both(provider, lambda: servers(Origin, stream_answer))
    for client, (record, origin) in results.items():
        assert outcome(record) == ("ok", None, 200, 0), (client, record.error_message)
        assert origin.seen[0].header("host") == f"127.0.0.1:{origin.port}"
    first, second = proxy.lines
    assert first.split(" ")[0] == second.split(" ")[0] == "POST"
    assert first.split(" ")[1].startswith("http://127.0.0.1:") and second.split(" ")[1].startswith("http://127.0.0.1:")
    assert first.split(" ")[1].split("/", 3)[3] == second.split(" ")[1].split("/", 3)[3]  # the same path


@pytest.mark.parametrize("provider", ["groq", "openai"])
def test_https_through_a_proxy_tunnel(servers, certs: Certs, monkeypatch: pytest.MonkeyPatch, provider: str) -> None:
    proxy = servers(HttpProxy)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("SSL_CERT_FILE", str(certs.cert))
    results = both(provider, lambda: servers(TlsOrigin, stream_answer, certs.server_context()))
    for client, (record, _) in results.items():
        assert outcome(record) == ("ok", None, 200, 0), (client, record.error_message)
    ports = [origin.port for _, origin in results.values()]
    assert proxy.lines == [f"CONNECT 127.0.0.1:{port} HTTP/1.1" for port in ports]


def test_no_proxy_goes_direct(servers, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{dead_port()}")
    monkeypatch.setenv("no_proxy", "example.com,127.0.0.1")
    for provider in PROVIDERS:
        results = both(provider, lambda: servers(Origin, stream_answer))
        assert all(outcome(r) == ("ok", None, 200, 0) for r, _ in results.values())


@pytest.mark.parametrize("provider", PROVIDERS)
def test_behind_a_dead_proxy_both_fail_naming_it(servers, monkeypatch: pytest.MonkeyPatch, provider: str) -> None:
    port = dead_port()
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    results = both(provider, lambda: servers(Origin, stream_answer), must_name=(f"http://127.0.0.1:{port}", "refused"))
    for record, origin in results.values():
        assert outcome(record) == ("error", "connection", None, 0) and not origin.seen


def test_proxy_credentials_go_to_the_proxy_only(servers, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = "Basic " + base64.b64encode(b"me:pr0xy-pass").decode()
    proxy = servers(HttpProxy, require=expected)
    monkeypatch.setenv("HTTP_PROXY", proxy.url.replace("http://", "http://me:pr0xy-pass@"))
    results = both("openai", lambda: servers(Origin, stream_answer))
    assert proxy.auth == [expected, expected]
    for record, origin in results.values():
        assert outcome(record) == ("ok", None, 200, 0), record.error_message
        assert origin.seen[0].header("proxy-authorization") is None  # the proxy keeps it


def test_proxy_asking_for_credentials_is_an_answer_on_both(servers, monkeypatch: pytest.MonkeyPatch) -> None:
    proxy = servers(HttpProxy, require="Basic nope")
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    both("openai", lambda: servers(Origin, stream_answer), must_name=("407", proxy.url))


def test_proxy_refusing_the_tunnel(servers, certs: Certs, monkeypatch: pytest.MonkeyPatch) -> None:
    proxy = servers(HttpProxy, connect_status=403)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    results = both("openai", lambda: servers(TlsOrigin, stream_answer, certs.server_context()), must_name=("403", proxy.url))
    assert all(outcome(r) == ("error", "connection", None, 0) for r, _ in results.values())


def test_socks_proxy_is_refused_in_one_line_by_the_fast_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALL_PROXY", "socks5://127.0.0.1:1080")
    with pytest.raises(BenchError, match="HTTP proxies only"):
        make_provider("openai", ClientSettings("http://127.0.0.1:9/v1", KEY, 1, 5.0, 0), "fast")


@pytest.mark.skipif(importlib.util.find_spec("socksio") is not None, reason="with socksio the SDK path speaks SOCKS")
@pytest.mark.parametrize("client", CLIENTS)
def test_a_proxy_no_client_can_use_ends_a_live_run_in_one_line(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, client: str
) -> None:
    monkeypatch.setenv("ALL_PROXY", "socks5://127.0.0.1:1080")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    targets = (
        f'[[target]]\nprovider = "openai-compatible"\nmodel = "m"\nbase_url = "http://127.0.0.1:9/v1"\nclient = "{client}"\n'
    )
    code, out, err = cli("run", str(scenario_file(tmp_path, targets, emulate=False)), "--out", str(tmp_path / "r"), "--no-report")
    assert code == 2, (out, err)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert "socks" in err.lower()


# ---------------------------------------------------------------------------- TLS


@pytest.mark.parametrize("provider", PROVIDERS)
def test_tls_certificate_nobody_trusts(servers, certs: Certs, provider: str) -> None:
    results = both(
        provider, lambda: servers(TlsOrigin, stream_answer, certs.server_context()), must_name=("CERTIFICATE_VERIFY_FAILED",)
    )
    assert all(outcome(r) == ("error", "connection", None, 0) for r, _ in results.values())


@pytest.mark.parametrize("variable", ["SSL_CERT_FILE", "SSL_CERT_DIR"])
@pytest.mark.parametrize("provider", PROVIDERS)
def test_tls_trusted_through_ssl_cert_variables(
    servers, certs: Certs, monkeypatch: pytest.MonkeyPatch, provider: str, variable: str
) -> None:
    monkeypatch.setenv(variable, str(certs.cert if variable == "SSL_CERT_FILE" else certs.directory))
    results = both(provider, lambda: servers(TlsOrigin, stream_answer, certs.server_context()))
    assert all(outcome(r) == ("ok", None, 200, 0) for r, _ in results.values())
