"""The emulator's server: routes each request to a dialect and writes its response on time.

One asyncio task per connection. A generation request is planned in full when it has been
read (:func:`bench.emulator.profiles.plan_response`) and handed to
:class:`bench.emulator.answers.Answers`, which writes it token by token at the planned instants;
each finished request is a line of the chunk log (``bench.emulator.chunk_log``), the ground
truth the harness's accuracy is checked against.

Queueing (optional, ``capacity`` in ``x-bench-emulator``): without it every request is served
at once, however many are in flight. With ``capacity = N``, requests for one model (same wire
format, same model id, same N) share N slots (:class:`bench.emulator.slots.SlotPool`): beyond
N, a request waits in a FIFO queue until a slot frees, and its whole planned response (headers,
first token, every token) starts that much later, so the wait shows in TTFB, TTFT and e2e, and in Groq's
``x_groq.usage.queue_time``. A slot is held from the grant until the response ends (or the
client goes, or a stall fault gives up). HTTP-error faults are answered at once, unqueued,
like a gateway rejecting before the model sees the request. Pools are per server process:
each ``bench run`` starts its own emulator, so runs never share a queue.

Models: a request whose ``x-bench-emulator`` names the target's ``provider`` kind (the run
sends it) is answered for its model as that provider would: a groq, openai or anthropic model
the catalogue does not know gets the provider's own 404 ``model_not_found``, a retired one its
400 ``model_decommissioned`` — unless the override gives the model a profile of its own
(``profiles.PROFILE_KEYS``: the scenario's ``[target.emulator]``); ``openai-compatible`` takes
any name with the generic profile. Without ``provider`` every name is served (other tools
talking to ``bench emulate``), unless ``strict_models``.

Server-wide settings (``ServerConfig.settings``, ``--set``) lie on top of every request's
override; ``seed_salt`` is mixed into every request's seed, so a replicate run draws fresh
jitter from the same scenario. The prompt cache (``prompt_cache``) is per server process too.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from time import perf_counter_ns
from typing import Any, Final, SupportsIndex

from bench.emulator.answers import Answers, Exchange
from bench.emulator.chunk_log import ChunkLog, RequestLog
from bench.emulator.faults import ErrorSpec, choose_fault, http_error
from bench.emulator.http11 import (
    MAX_HEAD_BYTES,
    Deadlines,
    MalformedRequest,
    Request,
    full_response,
    read_request,
)
from bench.emulator.profiles import (
    Override,
    OverrideError,
    Profile,
    parse_override,
    plan_response,
    prompt_tokens,
    resolve_profile,
    with_settings,
)
from bench.emulator.prompt_cache import CacheUse, PromptCache
from bench.emulator.slots import SlotPool
from bench.emulator.tools import choose_tool
from bench.emulator.wire import Call, Dialect, Ids, PromptUse, RequestError, compact, invalid
from bench.emulator.wire_anthropic import ANTHROPIC
from bench.emulator.wire_openai import GROQ, OPENAI
from bench.scenario.catalogue import Catalogue, ModelInfo, load_catalogue
from bench.schema import FAULT_KINDS, HTTP_FAULTS

log = logging.getLogger("bench.emulator")

__all__ = ["ChunkLog", "EmulatorServer", "RequestLog", "ServerConfig", "SlotPool"]

#: Where each dialect answers generation requests.
_GENERATE: Final[dict[str, Dialect]] = {
    "/openai/v1/chat/completions": GROQ,
    "/v1/chat/completions": OPENAI,
    "/v1/messages": ANTHROPIC,
}


@dataclass(frozen=True)
class ServerConfig:
    """How to run one emulator. ``strict_models`` answers retired and unknown models as the
    real APIs do (400 model_decommissioned, 404 model_not_found) whatever the request says; by
    default that happens only to requests that name their ``provider`` kind (see the module
    docstring). ``settings``: override keys applied to every request, over its own (checked
    with ``profiles.parse_settings``). ``seed_salt``: mixed into every request's seed."""

    host: str = "127.0.0.1"
    port: int = 0
    seed: int = 0
    chunk_log: Path | None = None
    strict_models: bool = False
    max_stall_s: float = 300.0
    #: How long a client may take to send a request head / body, and sit idle between
    #: requests on a kept-alive connection (see ``http11.Deadlines``).
    header_timeout_s: float = 5.0
    body_timeout_s: float = 5.0
    idle_timeout_s: float = 60.0
    settings: dict[str, Any] = field(default_factory=dict)
    seed_salt: int | None = None

    @property
    def deadlines(self) -> Deadlines:
        return Deadlines(header_s=self.header_timeout_s, body_s=self.body_timeout_s, idle_s=self.idle_timeout_s)


class EmulatorServer:
    """The HTTP server. ``await start()`` binds; ``await close()`` stops and drops connections."""

    def __init__(self, config: ServerConfig, catalogue: Catalogue | None = None) -> None:
        self.config = config
        self._catalogue = catalogue or load_catalogue()
        self._rng = random.Random(config.seed)
        self._chunk_log = ChunkLog(config.chunk_log) if config.chunk_log else None
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._served = 0
        self._pools: dict[tuple[str, str, int], SlotPool] = {}
        self._cache = PromptCache()
        self._settings = config.settings
        self._answers = Answers(lambda: self._served, config.max_stall_s)

    async def start(self) -> int:
        """Bind and listen; returns the port (useful with port 0)."""
        loop = asyncio.get_running_loop()

        def protocol() -> asyncio.StreamReaderProtocol:
            return asyncio.StreamReaderProtocol(_StampingReader(MAX_HEAD_BYTES, loop), self._connection, loop=loop)

        self._server = await loop.create_server(protocol, self.config.host, self.config.port)
        return self.port

    @property
    def port(self) -> int:
        assert self._server is not None, "start() first"
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        """Stop listening, drop open connections, and let their handlers log what they did."""
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.transport.abort()
            for task in self._handlers:
                task.cancel()
            await asyncio.gather(*self._handlers, return_exceptions=True)
            await self._server.wait_closed()
        if self._chunk_log is not None:
            self._chunk_log.close()

    # ------------------------------------------------------------------ connections, routing

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._writers.add(writer)
        deadlines = self.config.deadlines
        try:
            keep_alive, first = True, True
            while keep_alive:
                try:
                    request = await read_request(reader, deadlines, first=first)
                except MalformedRequest as exc:
                    spec = ErrorSpec(exc.status, "invalid_request_error", None, str(exc))
                    body = OPENAI.error_body(spec, Ids.new())
                    headers = [("content-type", "application/json")]
                    writer.write(full_response(exc.status, headers, body, keep_alive=False))
                    break
                if request is None:
                    break
                first = False
                keep_alive = await self._dispatch(request, reader, writer) and request.keep_alive
        except ConnectionError:
            pass  # the client went away; nothing to answer
        except asyncio.CancelledError:
            # Shutting down. Ending normally matters: Python 3.11's asyncio logs a cancelled
            # connection handler as "Exception in callback" with a traceback.
            pass
        except Exception:
            log.exception("emulator bug while serving a request")
        finally:
            self._handlers.discard(task)
            self._writers.discard(writer)
            writer.close()

    async def _dispatch(self, request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve one request; returns whether the connection may be reused."""
        now_ns = perf_counter_ns()
        # The request's last bytes arrived when the loop handed them over, not when this task
        # got to run: on a busy loop that is milliseconds apart, and the truth is the former.
        arrived_ns = getattr(reader, "fed_ns", 0)
        received_ns = arrived_ns if 0 < arrived_ns <= now_ns else now_ns
        t_received = received_ns / 1e9  # the answers' clock (perf_counter), not the loop's
        dialect = _dialect_for(request)
        ids = Ids.new()
        entry = RequestLog(
            request_id=ids.http_request_id,
            http_request_id=ids.http_request_id,
            dialect=dialect.name,
            path=request.path,
            received_ns=received_ns,
            retry_count=_int_or_none(request.headers.get("x-stainless-retry-count")),
        )
        ex = Exchange(request, reader, writer, dialect, ids, t_received, entry)
        self._served += 1
        try:
            own, ex.forced_fault = _bench_headers(request.headers)
            ex.override, ex.profile_given = with_settings(own, self._settings), own.gives_profile
            path, method = request.path, request.method
            generate = path in _GENERATE
            models = path == dialect.models_path or path.startswith(dialect.models_path + "/")
            if generate and method == "POST":
                return await self._generate(ex)
            if models and method == "GET":
                return self._models(ex)
            if generate or models:
                message = f"Method {method} not allowed for {path}"
                raise RequestError(ErrorSpec(405, "invalid_request_error", None, message))
            not_found = "not_found_error" if dialect is ANTHROPIC else "invalid_request_error"
            raise RequestError(ErrorSpec(404, not_found, None, f"Invalid URL ({method} {path})"))
        except RequestError as exc:
            return self._answers.send_error(ex, exc.spec)
        finally:
            entry.end_ns = perf_counter_ns()
            if self._chunk_log is not None:
                self._chunk_log.write(entry)

    # ------------------------------------------------------------------ answers

    def _models(self, ex: Exchange) -> bool:
        """``GET /models`` and ``/models/{id}``: what this server serves (retired models only
        when it serves them, i.e. not in strict mode)."""
        if ex.forced_fault in HTTP_FAULTS:
            return self._answers.send_error(ex, http_error(ex.forced_fault, ex.dialect.name, "-"), ex.forced_fault)
        served = [m for m in self._catalogue.models(ex.dialect.name) if not (self.config.strict_models and m.retired)]
        entries = [ex.dialect.model_object(m, ex.ids.created) for m in served]
        wanted = ex.request.path[len(ex.dialect.models_path) + 1 :]
        if wanted:
            found = [e for e in entries if e["id"] == wanted]
            if not found:
                return self._answers.send_error(ex, http_error("model_not_found", ex.dialect.name, wanted))
            body = compact(found[0]).encode()
        else:
            body = ex.dialect.models_body(entries)
        ex.writer.write(full_response(200, self._answers.headers(ex), body, keep_alive=ex.keep_alive))
        ex.entry.headers_sent_ns = perf_counter_ns()
        return ex.keep_alive

    def _model_info(self, ex: Exchange, model: object) -> ModelInfo:
        """The profile to serve ``model`` with: refuses retired and unknown ids in strict mode,
        and for a named groq/openai/anthropic target without a profile of its own."""
        if ex.override.provider == "openai-compatible" and not self.config.strict_models:
            return self._catalogue.default_profile("openai-compatible")  # any name a server serves
        provider = ex.dialect.name
        info = self._catalogue.get(provider, model) if isinstance(model, str) else None
        strict = self.config.strict_models or (ex.override.provider is not None and not ex.profile_given)
        if strict and isinstance(model, str):
            if info is None:
                raise RequestError(http_error("model_not_found", provider, model))
            if info.retired:
                raise RequestError(http_error("model_decommissioned", provider, model))
        return info or self._catalogue.default_profile(provider)

    async def _generate(self, ex: Exchange) -> bool:
        """A chat completion or a message: plan it, then answer, stream or fault."""
        override = ex.override
        seed = override.seed if override.seed is not None else self._rng.getrandbits(63)
        if self.config.seed_salt is not None:
            seed = _salted(seed, self.config.seed_salt)
        rng = random.Random(seed)
        ex.entry.seed = seed  # sent back in x-bench-emulator, it replays this answer exactly
        draw = rng.random()  # drawn first, always: fault shares never shift the text
        fault = ex.forced_fault or choose_fault(override.faults, draw)
        body = _json_body(ex.request.body)
        info = self._model_info(ex, body.get("model"))
        call = ex.dialect.parse(body, info)
        entry = ex.entry
        entry.model, entry.stream = call.model, call.stream
        if fault in HTTP_FAULTS:
            return self._answers.send_error(ex, http_error(fault, ex.dialect.name, call.model), fault)
        entry.fault = fault
        profile = resolve_profile(info, override)
        # Cache hits and tool calls draw from a generator of their own: the response's text,
        # timing and faults stay what the seed gave them before either existed.
        extras = random.Random(f"extras/{seed}")
        n_prompt = prompt_tokens(call.prompt_chars)
        cache = self._prompt_cache(ex.dialect, call, profile, hit=extras.random() < profile.cache_hit_rate)
        prefill_s = profile.prefill_s(n_prompt, cache.read)
        plan = plan_response(
            profile,
            rng,
            budget=call.budget,
            ignore_eos=call.ignore_eos,
            think=profile.reasoning if call.think is None else call.think,
            stream_reasoning=call.stream_reasoning,
            prefill_s=prefill_s,
        )
        tool = choose_tool(call.tools, call.tool_choice, profile.tool_call_share, extras.random())
        wire = ex.dialect.wire(call, ex.ids, rng.getrandbits(31), plan, PromptUse(n_prompt, cache), tool)
        entry.request_id = wire.request_id
        entry.prompt_tokens = wire.prompt_tokens
        entry.cached_tokens, entry.cache_write_tokens = cache.read, cache.written
        entry.prefill_ns = round(prefill_s * 1e9)
        entry.tool = tool.name if tool is not None else None
        cut_after = min(rng.randint(2, 5), len(plan.offsets_s) - 1)
        if override.capacity is None:
            return await self._answers.answer(ex, wire, plan, fault, cut_after, call.stream)
        key = (ex.dialect.name, call.model, override.capacity)
        pool = self._pools.get(key) or self._pools.setdefault(key, SlotPool(override.capacity))
        waited_s = await pool.acquire()
        try:
            if waited_s > 0:
                # Served from now: the whole planned response moves by the wait.
                ex.t_received += waited_s
                entry.queued_ns = round(waited_s * 1e9)
                plan = replace(plan, queue_s=plan.queue_s + waited_s)
            return await self._answers.answer(ex, wire, plan, fault, cut_after, call.stream)
        finally:
            pool.release()

    def _prompt_cache(self, dialect: Dialect, call: Call, profile: Profile, *, hit: bool) -> CacheUse:
        """How much of this prompt the cache serves (and stores it for the next requests)."""
        scope = (dialect.name, call.model)
        if dialect.cache_rule == "explicit":
            return self._cache.explicit(scope, call.prompt, hit=hit, min_tokens=profile.cache_min_tokens)
        return self._cache.automatic(scope, call.prompt, hit=hit, min_tokens=profile.cache_min_tokens)


class _StampingReader(asyncio.StreamReader):
    """A StreamReader that remembers when bytes last arrived (the request's arrival time)."""

    fed_ns = 0

    def __init__(self, limit: int, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(limit=limit, loop=loop)

    def feed_data(self, data: Iterable[SupportsIndex]) -> None:  # typeshed's spelling of "bytes-like"
        self.fed_ns = perf_counter_ns()
        super().feed_data(data)


def _dialect_for(request: Request) -> Dialect:
    """Groq lives under /openai/v1; OpenAI and Anthropic share /v1/models, told apart by the
    ``anthropic-version`` header the Anthropic SDK always sends."""
    if request.path.startswith("/openai/"):
        return GROQ
    if request.path in _GENERATE:
        return _GENERATE[request.path]
    return ANTHROPIC if "anthropic-version" in request.headers else OPENAI


def _salted(seed: int, salt: int) -> int:
    """A request's seed mixed with the server's salt (63 bits, like a drawn seed)."""
    digest = hashlib.blake2b(f"{seed}/{salt}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _json_body(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise invalid(f"We could not parse the JSON body of your request. ({exc})") from exc
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object.")
    return body


def _bench_headers(headers: dict[str, str]) -> tuple[Override, str | None]:
    """The harness's per-request controls: ``x-bench-emulator`` (JSON) and ``x-bench-fault``."""
    forced = headers.get("x-bench-fault")
    if forced is not None and forced not in FAULT_KINDS:
        raise invalid(f"x-bench-fault: unknown fault kind {forced!r}; known: {', '.join(FAULT_KINDS)}")
    raw = headers.get("x-bench-emulator")
    if raw is None:
        return Override(), forced
    try:
        return parse_override(json.loads(raw), FAULT_KINDS), forced
    except (ValueError, OverrideError) as exc:
        raise invalid(f"x-bench-emulator: {exc}") from exc
