"""The route a request takes and the certificates it trusts, read from the environment the way
each SDK's own HTTP library reads them, so both client paths reach a provider the same way.

The SDKs ride two libraries: groq on httpx, openai and anthropic on httpx2. Each reads
``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY``/``NO_PROXY`` (either case; lower case wins, as in
``urllib``) and ``SSL_CERT_FILE``/``SSL_CERT_DIR``, but not identically: httpx2 understands
CIDR ranges in ``NO_PROXY`` and trusts the system's certificates by default, httpx trusts
certifi's bundle. So the lean path does not reimplement the rules: it asks the same library
(its environment reader, its URL patterns and their order, its TLS context factory) and only
does the sending itself. ``trust_env=False`` is for bench's own servers on loopback (the
emulator, the warm-up): never through a proxy, on either path.
"""

from __future__ import annotations

import base64
import importlib
import ssl
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from bench.errors import BenchError
from bench.providers import chat_wire, messages_wire

#: Which HTTP library each provider's SDK uses.
LIBRARY = {"groq": "httpx", "openai": "httpx2", "openai-compatible": "httpx2", "anthropic": "httpx2"}


@dataclass(frozen=True, slots=True)
class Proxy:
    """An HTTP proxy on the way to an origin. ``url`` never holds credentials: it is what
    messages and run.json name; the credentials travel only as ``authorization``."""

    url: str
    scheme: str
    host: str
    port: int
    authorization: str | None = field(default=None, repr=False)


class Network:
    """The environment's proxies and trust store, as one SDK's HTTP library reads them.

    Read once, when a client is built — as the SDKs do: a variable changed later is not seen.
    """

    def __init__(self, library: str = "httpx2", *, trust_env: bool = True) -> None:
        self.library = library
        self.trust_env = trust_env
        self._lib: ModuleType = importlib.import_module(library)
        utils = importlib.import_module(f"{library}._utils")
        mounts: dict[str, str | None] = utils.get_environment_proxies() if trust_env else {}
        # The order httpx's client matches its mounts in: most specific pattern first.
        self._mounts: list[tuple[Any, str | None]] = sorted(
            ((utils.URLPattern(key), value) for key, value in mounts.items()), key=lambda item: item[0]
        )
        self._tls: ssl.SSLContext | None = None

    @classmethod
    def for_provider(cls, provider: str, *, trust_env: bool = True) -> Network:
        return cls(LIBRARY.get(provider, "httpx2"), trust_env=trust_env)

    def _match(self, url: str) -> str | None:
        if not url:
            return None
        target = self._lib.URL(url)
        for pattern, proxy_url in self._mounts:
            if pattern.matches(target):
                return proxy_url
        return None

    def proxy_for(self, url: str) -> Proxy | None:
        """The proxy a request to ``url`` goes through (one the lean client can use), or None
        for a direct connection."""
        proxy_url = self._match(url)
        return None if proxy_url is None else self._proxy(proxy_url)

    def proxy_url(self, url: str) -> str | None:
        """The proxy a request to ``url`` goes through, named without credentials (whatever
        its scheme: the SDK path may speak SOCKS), or None for a direct connection."""
        proxy_url = self._match(url)
        if proxy_url is None:
            return None
        parsed = self._lib.URL(proxy_url)
        scheme = str(parsed.scheme)
        port = parsed.port or {"http": 80, "https": 443}.get(scheme, 1080)
        return f"{scheme}://{_authority(str(parsed.host), port)}"

    def _proxy(self, proxy_url: str) -> Proxy:
        try:
            parsed = self._lib.Proxy(url=proxy_url)  # drops credentials from the URL, as the SDK does
        except ValueError as exc:
            raise BenchError(f"proxy from the environment: {exc}") from None
        url = parsed.url
        scheme = str(url.scheme)
        if scheme not in ("http", "https"):
            raise BenchError(
                f"proxy {url} from the environment: the fast client speaks to HTTP proxies only (http://, https://), "
                f"not {scheme}://; use --client sdk (with socksio installed), or leave the host out with NO_PROXY"
            )
        authorization = None
        if parsed.auth is not None:
            user, password = parsed.auth
            authorization = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        host = str(url.host)
        port = url.port or (443 if scheme == "https" else 80)
        return Proxy(f"{scheme}://{_authority(host, port)}", scheme, host, port, authorization)

    def tls(self) -> ssl.SSLContext:
        """The TLS context the SDK's library would make (its default trust store, or
        ``SSL_CERT_FILE``/``SSL_CERT_DIR`` when set), for HTTP/1.1. Made on first use: loading
        certificates takes milliseconds, and plain-HTTP targets never need it."""
        if self._tls is None:
            context: ssl.SSLContext = self._lib.create_ssl_context(trust_env=self.trust_env)
            context.set_alpn_protocols(["http/1.1"])
            self._tls = context
        return self._tls


def api_url(provider: str, base_url: str | None) -> str:
    """Where a provider's requests go: the scenario's ``base_url``, else the SDK's default."""
    if provider == "anthropic":
        return messages_wire.base_url(base_url)
    return chat_wire.base_url(chat_wire.FLAVOURS[provider], base_url)


def _authority(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def note_proxy(exc: BaseException, proxy: str | None) -> BaseException:
    """Say which proxy a failure happened through (a PEP 678 note, which ``bench.providers.classify``
    adds to the recorded message), unless the message names it already."""
    if proxy is not None and proxy not in str(exc):
        note = f"through proxy {proxy}"
        if note not in getattr(exc, "__notes__", ()):
            exc.add_note(note)
    return exc
