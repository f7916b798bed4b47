"""What failures are called on both client paths, the SDKs' own retry policy, and proxies in runs.

Error messages must name what failed (the refused port, the name that did not resolve, the
proxy), ``run.json`` must name a target's proxy without its credentials, and an emulated run
never goes through a proxy (docs/method.md, "Network: proxies, TLS, redirects, retries").
"""

from __future__ import annotations

import base64
import json
import socket
from pathlib import Path
from typing import Any

import pytest

from bench.providers import ClientSettings, make_provider
from bench.providers.classify import classify
from bench.providers.lean_connect import connect_failure
from bench.providers.lean_http import LeanClient
from bench.providers.network import Network
from bench.providers.retries import RetryPolicy, retry_delay, should_retry
from bench.run.runner import run_scenario
from bench.timing import _StampingBackend
from tests.providers.client_runs import KEY
from tests.providers.network_runs import (
    CLIENTS,
    PROVIDERS,
    measure,
    outcome,
    scenario_file,
)
from tests.providers.network_servers import HttpProxy, Origin, dead_port
from tests.providers.raw_server import (
    Seen,
    head,
    keep_alive_stream,
)

pytestmark = pytest.mark.usefixtures("clean_environment")


# ---------------------------------------------------------------------------- messages, retries, runs


def test_connection_refused_is_retried_and_named_on_both(servers) -> None:
    port = dead_port()
    for provider in ("groq", "anthropic"):
        results = {c: measure(c, provider, f"http://127.0.0.1:{port}", max_retries=1)[0] for c in CLIENTS}
        for client, record in results.items():
            assert outcome(record) == ("error", "connection", None, 1), (client, record.error_message)
            assert "refused" in record.error_message.lower(), (client, record.error_message)
        assert str(port) in results["fast"].error_message


def test_dns_failure_is_named_on_both_paths() -> None:
    """Resolving a name would leave loopback: the two paths' messages are built from the
    exceptions their stacks raise for one."""
    import httpx2
    import openai

    failure = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    lean = LeanClient("https://api.example.invalid/v1", {}, 1, Network(trust_env=False))
    fast_exc = connect_failure(failure, lean.base, False)
    try:
        try:
            raise httpx2.ConnectError("[Errno -2] Name or service not known") from failure
        except httpx2.ConnectError as exc:
            raise openai.APIConnectionError(request=httpx2.Request("POST", "https://x")) from exc
    except openai.APIConnectionError as exc:
        sdk_exc = exc
    for exc in (fast_exc, sdk_exc):
        failed = classify(exc, streaming_started=False)
        assert failed.kind == "connection" and "Name or service not known" in failed.message, failed


@pytest.mark.parametrize("sdk", ["groq", "openai", "anthropic"])
def test_retry_policy_is_the_sdks_own(sdk: str) -> None:
    from bench.providers.fast import _sdk_client

    client, options, headers_type = _sdk_client(sdk, KEY, 5.0, 3)
    policy = RetryPolicy(3, client, options, headers_type)
    assert policy.delegated
    table: list[tuple[int, dict[str, str]]] = [
        (400, {}),
        (404, {}),
        (408, {}),
        (409, {}),
        (429, {}),
        (500, {"x-should-retry": "false"}),
        (400, {"x-should-retry": "true"}),
        (503, {}),
        (529, {}),
        (429, {"retry-after": "500"}),
    ]

    class Answer:
        def __init__(self, status: int, headers: dict[str, str]) -> None:
            self.status_code, self.headers = status, headers_type(headers)

    for status, headers in table:
        assert policy.should_retry(status, headers) == client._should_retry(Answer(status, headers)), (status, headers)
    assert policy.delay_s(0, {"retry-after-ms": "250"}) == pytest.approx(0.25)
    assert 0.375 <= policy.delay_s(0, None) <= 0.5 or sdk != "openai"
    # The stand-in rules are the openai SDK's.
    if sdk == "openai":
        for status, headers in table:
            assert should_retry(status, headers) == client._should_retry(Answer(status, headers))
        assert 1.5 <= retry_delay(3, 1, None) <= 2.0 and retry_delay(3, 3, {"retry-after": "3"}) == 3.0


def test_sdk_path_stamps_through_proxy_transports(monkeypatch: pytest.MonkeyPatch) -> None:
    """t0 on the SDK path comes from the instrumented network backend: the proxy's transports
    (mounted from the environment) are instrumented as well as the default one."""
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    for provider in PROVIDERS:
        p: Any = make_provider(provider, ClientSettings(None, KEY, 1, 5.0, 0), "sdk")
        http = p._sdk._client
        mounted = [t for t in http._mounts.values() if t is not None]
        assert mounted, provider
        for transport in [http._transport, *mounted]:
            assert isinstance(transport._pool._network_backend, _StampingBackend), provider
        assert p.proxy == "http://127.0.0.1:3128"


def test_run_json_names_the_proxy_and_never_its_credentials(servers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = "Basic " + base64.b64encode(b"me:pr0xy-pass").decode()
    proxy = servers(HttpProxy, require=expected)

    def answer(seen: Seen, sock: socket.socket) -> bool:
        if seen.method == "GET":
            body = json.dumps({"object": "list", "data": [{"id": "m", "object": "model"}]}).encode()
            sock.sendall(head(200, "application/json", length=len(body)) + body)
            return True
        return keep_alive_stream(seen, sock)

    origin = servers(Origin, answer)
    monkeypatch.setenv("HTTP_PROXY", proxy.url.replace("http://", "http://me:pr0xy-pass@"))
    targets = "".join(
        f'[[target]]\nprovider = "openai-compatible"\nmodel = "m"\nlabel = "{c}"\nclient = "{c}"\nbase_url = "{origin.url}/v1"\n'
        for c in CLIENTS
    )
    result = run_scenario(scenario_file(tmp_path, targets, emulate=False), out=tmp_path / "r", warn=lambda m: None)
    frame = result.frame
    assert (frame["status"] == "ok").all() and set(frame["client"]) == set(CLIENTS), frame["error_message"].tolist()
    assert result.meta.proxies == {"sdk": proxy.url, "fast": proxy.url}
    for path in result.run_dir.rglob("*"):
        if path.is_file():
            assert b"pr0xy-pass" not in path.read_bytes(), path


def test_emulated_runs_never_go_through_a_proxy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The emulator is on this machine's loopback, where no proxy elsewhere could reach it."""
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{dead_port()}")
    targets = "".join(
        f'[[target]]\nprovider = "groq"\nmodel = "llama-3.1-8b-instant"\nlabel = "{c}"\nclient = "{c}"\n'
        "[target.emulator]\nttft_ms = 5\njitter = 0\n"
        for c in CLIENTS
    )
    result = run_scenario(scenario_file(tmp_path, targets, emulate=True), out=tmp_path / "r", warn=lambda m: None)
    assert (result.frame["status"] == "ok").all(), result.frame["error_message"].tolist()
    assert result.meta.proxies == {"sdk": None, "fast": None}
