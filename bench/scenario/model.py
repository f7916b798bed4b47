"""Scenario files (TOML, docs/scenarios.md) → a validated ``Scenario``, or one ScenarioError.

Every way a file can be wrong ends in a single message naming the file, the field and the
problem, raised before any request is sent: that is the whole user contract of this module.
Pydantic does the checking; this module turns its errors into one readable line and adds
the "did you mean" that a typo in a TOML key deserves.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from bench.errors import ScenarioError
from bench.scenario.catalogue import resolve_price
from bench.scenario.errors_text import describe_error, suggest
from bench.scenario.lengths import LengthDistribution
from bench.scenario.load import ORDERS, Load, Order
from bench.scenario.prompt_table import Prompts
from bench.scenario.prompts import read_prompt_file
from bench.scenario.request import RequestOverride, RequestSettings
from bench.scenario.shapes import Shape, shapes
from bench.scenario.slo import SloSpec, parse_key, slo_for_scenario
from bench.scenario.slo_class import SloClassTable, check_slo_table, class_problem, move_classes
from bench.scenario.strict import Strict
from bench.schema import FAULT_KINDS

Provider = Literal["groq", "openai", "anthropic", "openai-compatible"]
PROVIDERS: tuple[str, ...] = ("groq", "openai", "anthropic", "openai-compatible")
#: Client paths: bench's lean HTTP client (the default: no SDK on the hot path, accurate at
#: Groq-class speeds and many streams) or the provider's official SDK (what an application
#: using the SDK sees, the SDK's own cost included). See docs/method.md, "Client paths".
Client = Literal["fast", "sdk"]
CLIENTS: tuple[str, ...] = ("fast", "sdk")
DEFAULT_CLIENT: Client = "fast"

#: The variable each SDK reads by default; an openai-compatible server gets no key unless named.
DEFAULT_KEY_ENV: dict[str, str | None] = {
    "groq": "GROQ_API_KEY",
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "openai-compatible": None,
}

#: Fault names the emulator understands (error kinds, plus ``midstream_error``).
EMULATOR_FAULTS: tuple[str, ...] = FAULT_KINDS


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_KEY_SHAPED = re.compile(r"^(gsk_|sk-|sk_|xai-)|[A-Za-z0-9_\-]{32,}")


_Strict = Strict


class EmulatorProfile(_Strict):
    """Per-target emulator overrides; ignored for live runs."""

    ttft_ms: Annotated[float, Field(gt=0, le=600_000)] | None = None
    tokens_per_s: Annotated[float, Field(gt=0, le=100_000)] | None = None
    jitter: Annotated[float, Field(ge=0, le=5)] | None = None
    faults: dict[str, Annotated[float, Field(ge=0, le=1)]] = Field(default_factory=dict)
    omit_usage: bool | None = None
    omit_done: bool | None = None
    empty_chunk_share: Annotated[float, Field(ge=0, le=1)] | None = None
    retry_after_s: Annotated[float, Field(ge=0)] | None = None
    #: Requests the emulated model serves at once; beyond it they wait in a FIFO queue and the
    #: wait is inside their TTFT (a server that saturates). None: no queue, every request at once.
    capacity: Annotated[int, Field(ge=1, le=100_000)] | None = None
    #: Prompt reading speed: first-token time grows with the prompt (docs/emulator.md).
    prefill_tokens_per_s: Annotated[float, Field(ge=1, le=1e9)] | None = None
    #: The prompt cache: chance a cached prefix is found, how much faster cached tokens are
    #: read, and the shortest prefix cached (docs/emulator.md).
    cache_hit_rate: Annotated[float, Field(ge=0, le=1)] | None = None
    cache_speedup: Annotated[float, Field(ge=1, le=1e6)] | None = None
    cache_min_tokens: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    #: Share of requests with ``tools`` (tool_choice auto) answered with a tool call.
    tool_call_share: Annotated[float, Field(ge=0, le=1)] | None = None

    @field_validator("faults")
    @classmethod
    def _known_faults(cls, faults: dict[str, float]) -> dict[str, float]:
        for name in faults:
            if name not in EMULATOR_FAULTS:
                raise ValueError(f"unknown fault {name!r}{suggest(name, EMULATOR_FAULTS)}; known: {', '.join(EMULATOR_FAULTS)}")
        if sum(faults.values()) > 1:
            raise ValueError("fault shares add up to more than 1")
        return faults

    def header_payload(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True, exclude_defaults=False)


#: Keys of ``[request]`` and ``[prompts]`` newer than the first fingerprints.
_NEWER_REQUEST_KEYS = ("tools", "tool_choice", "response_format")
_NEWER_PROMPT_KEYS = ("shared_prefix_tokens", "cache", "bins", "turns", "think_time_s")


def _at_default(model: BaseModel, keys: tuple[str, ...]) -> set[str]:
    fields = type(model).model_fields
    return {k for k in keys if getattr(model, k) == fields[k].default}


class TargetPrice(_Strict):
    """``[target.price]``: what this target costs, in US dollars per million tokens.

    Beats the model catalogue's price (a negotiated rate, a provider the catalogue has no
    price for, a price newer than the catalogue's). Both rates are required: a cost half from
    one price list and half from another would be neither.
    """

    input_per_mtok: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    output_per_mtok: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    #: Input tokens served from the provider's prompt cache (default: the input rate).
    cached_input_per_mtok: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    #: Input tokens written to the provider's prompt cache (Anthropic; default: the input rate).
    cache_write_per_mtok: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    #: When the prices were read: an ISO date (a TOML date is accepted and kept as text).
    as_of: Annotated[str, Field(min_length=1)] | None = None
    #: Where they were read: a URL or a document's name.
    source: Annotated[str, Field(min_length=1)] | None = None

    @field_validator("as_of", mode="before")
    @classmethod
    def _date_as_text(cls, value: Any) -> Any:
        return value.isoformat() if isinstance(value, (date, datetime)) else value


class Target(_Strict):
    provider: Provider
    model: Annotated[str, Field(min_length=1)]
    label: Annotated[str, Field(min_length=1)] | None = None
    base_url: str | None = None
    api_key_env: Annotated[str, Field(min_length=1)] | None = None
    #: The client path, or several (``["fast", "sdk"]``): then every level runs once per client,
    #: one after the other, and each client's requests are a group of their own.
    client: Client | Annotated[list[Client], Field(min_length=1)] = DEFAULT_CLIENT
    emulator: EmulatorProfile = Field(default_factory=EmulatorProfile)
    #: This target's own SLOs (``[target.slo]``): override and extend the scenario-wide ``[slo]``.
    slo: dict[str, float] = Field(default_factory=dict)
    #: This target's price (``[target.price]``); None: the model catalogue's, if it has one.
    price: TargetPrice | None = None
    #: This target's request settings over ``[request]`` (``[target.request]``).
    request: RequestOverride = Field(default_factory=RequestOverride)

    @field_validator("slo")
    @classmethod
    def _slo_keys(cls, table: dict[str, float]) -> dict[str, float]:
        return check_slo_table(table)

    @field_validator("client", mode="before")
    @classmethod
    def _known_clients(cls, value: Any) -> Any:
        expected = " or ".join(f'"{c}"' for c in CLIENTS) + ', or a list of them such as ["fast", "sdk"]'
        names = value if isinstance(value, list) else [value]
        if not names or not all(isinstance(name, str) for name in names):
            raise ValueError(f"expected {expected} (got {type(value).__name__} {value!r})")
        for name in names:
            if "," in name:
                listed = ", ".join(f'"{part.strip()}"' for part in name.split(","))
                raise ValueError(f"{name!r}: write several clients as a list, client = [{listed}]")
            if name not in CLIENTS:
                raise ValueError(f"unknown client {name!r}{suggest(name, CLIENTS)}; expected {expected}")
        if isinstance(value, list) and len(set(value)) != len(value):
            raise ValueError(f"{value}: a client appears twice (each client is one group of results per level)")
        return value

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if _KEY_SHAPED.search(value):
            # Never echo it: this is almost certainly the key itself, pasted in the wrong place.
            raise ValueError(
                "looks like an API key, not a variable name: put the key in an environment variable "
                'and name that variable here (e.g. api_key_env = "GROQ_API_KEY")'
            )
        if not _ENV_NAME.fullmatch(value):
            raise ValueError("must be an environment variable name (letters, digits, _; not starting with a digit)")
        return value

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} is not an http(s) URL with a host (e.g. http://127.0.0.1:8000/v1)")
        try:
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError:
            raise ValueError(f"{value!r} has an invalid port") from None
        return value.rstrip("/")

    @model_validator(mode="after")
    def _compatible_needs_url(self) -> Target:
        if self.provider == "openai-compatible" and not self.base_url:
            raise ValueError("base_url: required for provider 'openai-compatible' (e.g. base_url = \"http://127.0.0.1:8000/v1\")")
        return self

    @property
    def name(self) -> str:
        return self.label or f"{self.provider}/{self.model}"

    @property
    def key_env(self) -> str | None:
        return self.api_key_env if self.api_key_env else DEFAULT_KEY_ENV[self.provider]

    @property
    def clients(self) -> tuple[str, ...]:
        """The client paths that measure this target, in the order they run within a level."""
        return (self.client,) if isinstance(self.client, str) else tuple(self.client)


#: The shortest prompt prefix OpenAI, Groq and Anthropic cache (OpenAI from 1,024 tokens;
#: Anthropic from 1,024 to 4,096 by model), so the shortest a warm-cache prefix may be.
CACHE_MIN_TOKENS = 1_024


#: Published reference figures a report can show beside the measurements, by name.
REFERENCES: tuple[str, ...] = ("groq-2024",)


class ReportSettings(_Strict):
    """``[report]``: optional extras for the report. Nothing here changes what is measured."""

    #: Show a named table of published reference figures (and its lines on the charts).
    reference: Literal["groq-2024"] | None = None


class ScenarioHeader(_Strict):
    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9._-]+$")] | None = None
    description: str = ""
    emulate: bool = False


class Scenario(_Strict):
    scenario: ScenarioHeader = Field(default_factory=ScenarioHeader)
    target: Annotated[list[Target], Field(min_length=1)]
    request: RequestSettings = Field(default_factory=RequestSettings)
    prompts: Prompts = Field(default_factory=Prompts)
    load: Load
    slo: dict[str, float] = Field(default_factory=dict)
    #: ``[slo.class.NAME]`` tables (moved here from ``[slo]`` by :func:`move_classes`).
    slo_class: dict[str, SloClassTable] = Field(default_factory=dict)
    report: ReportSettings = Field(default_factory=ReportSettings)
    #: Where the file was read from; prompt paths resolve against it.
    source_path: str = ""

    @field_validator("slo")
    @classmethod
    def _slo_keys(cls, table: dict[str, float]) -> dict[str, float]:
        return check_slo_table(table)

    _classes_apart = model_validator(mode="before")(move_classes)

    @model_validator(mode="after")
    def _classes_cover_shapes(self) -> Scenario:
        if not self.slo_class:
            return self
        labels = [shape.label for shape in self.shapes()]
        bins = self.prompts.bins
        if bins:
            labels = [shape.with_bin(bins, edge) for shape in self.shapes() for edge in (0, *bins)]
        problem = class_problem(self.slo_class, list(dict.fromkeys(labels)))
        if problem:
            raise ValueError(f"{problem[0]}: {problem[1]}")
        return self

    @model_validator(mode="after")
    def _unique_labels(self) -> Scenario:
        seen: set[str] = set()
        for target in self.target:
            if target.name in seen:
                raise ValueError(f"target: two targets are labelled {target.name!r}; give each a unique label")
            seen.add(target.name)
        return self

    def request_for(self, target: Target) -> RequestSettings:
        """The request settings ``target`` sends: ``[request]`` with its ``[target.request]`` over them."""
        return target.request.over(self.request)

    @model_validator(mode="after")
    def _no_response_format_for_anthropic(self) -> Scenario:
        for i, target in enumerate(self.target):
            if target.provider == "anthropic" and self.request_for(target).response_format is not None:
                where = (
                    f"target[{i}].request.response_format"
                    if target.request.response_format is not None
                    else "request.response_format"
                )
                raise ValueError(
                    f"{where}: Anthropic's Messages API has no response_format (target {target.name!r}); give the "
                    "other targets their own [target.request] response_format, or force a JSON shape with tools and tool_choice"
                )
        return self

    @model_validator(mode="after")
    def _trace_sets_the_prompts(self) -> Scenario:
        if self.load.trace is None:
            return self
        if self.prompts.turns > 1:
            raise ValueError("prompts.turns: a trace replays single requests (its lines are the turns); leave turns out")
        if self.prompts.source == "file":
            raise ValueError(
                'prompts.source: a trace builds each prompt from its own lengths and blocks; use source = "synthetic"'
            )
        return self

    @model_validator(mode="after")
    def _shapes_fit(self) -> Scenario:
        """Ladders, both cache states and bins where they mean something (docs/scenarios.md)."""
        p = self.prompts
        if self.load.trace is not None:
            for where, value in (("prompts.input_tokens", p.input_tokens), ("request.max_tokens", self.request.max_tokens)):
                if isinstance(value, list):
                    raise ValueError(
                        f"{where}: a trace gives every request its own lengths; a ladder cannot apply (leave it out)"
                    )
            if isinstance(p.cache, list):
                raise ValueError('prompts.cache: a trace shares its own prefix blocks; give one state ("cold") or leave it out')
        elif p.bins is not None and not isinstance(p.input_tokens, LengthDistribution):
            raise ValueError(
                "prompts.bins: bins group drawn or replayed prompt lengths; give input_tokens = { mean, stdev, min, max } "
                "or a [load] trace, or leave bins out (a ladder's rungs are groups already)"
            )
        if isinstance(self.request.max_tokens, list):
            for i, target in enumerate(self.target):
                if target.request.max_tokens is not None:
                    raise ValueError(
                        f"target[{i}].request.max_tokens: [request] max_tokens is a ladder, whose rungs every target "
                        "runs; leave the target's own max_tokens out"
                    )
        return self

    def shapes(self) -> list[Shape]:
        """The request shapes this scenario runs at each load level (bench/scenario/shapes.py)."""
        return shapes(self.prompts.input_tokens, self.request.max_tokens, self.prompts.cache)

    def at(self, shape: Shape) -> Scenario:
        """This scenario with one shape's rung and cache state in place of its ladders and
        lists: what a level of that shape runs (not validated again: it was, whole)."""
        if shape == Shape():
            return self
        prompts, request = self.prompts, self.request
        if shape.input_tokens is not None or shape.cache is not None:
            prompts = prompts.model_copy(
                update={
                    "input_tokens": prompts.input_tokens if shape.input_tokens is None else shape.input_tokens,
                    "cache": prompts.cache if shape.cache is None else shape.cache,
                }
            )
        if shape.max_tokens is not None:
            request = request.model_copy(update={"max_tokens": shape.max_tokens})
        return self.model_copy(update={"prompts": prompts, "request": request})

    @model_validator(mode="after")
    def _warm_prefix_long_enough(self) -> Scenario:
        prefix = self.prompts.shared_prefix_tokens
        if "warm" not in self.prompts.caches or prefix >= CACHE_MIN_TOKENS:
            return self
        caching = [t for t in self.target if t.provider in ("groq", "openai", "anthropic")]
        if caching:
            raise ValueError(
                f"prompts.shared_prefix_tokens: {prefix} tokens is too short for a warm cache: {caching[0].provider} "
                f"(target {caching[0].name!r}) caches prompts from {CACHE_MIN_TOKENS:,} tokens, so nothing would be "
                f"cached; make it at least {CACHE_MIN_TOKENS:,} (Anthropic's minimum is 1,024 to 4,096 by model)"
            )
        return self

    @property
    def name(self) -> str:
        return self.scenario.name or (Path(self.source_path).stem if self.source_path else "scenario")

    @property
    def slo_spec(self) -> SloSpec:
        """Scenario-wide SLOs, and each target's merged with them where it has its own."""
        return slo_for_scenario(
            {
                "slo": self.slo,
                "targets": [{"label": t.name, "slo": t.slo} for t in self.target],
                "slo_classes": self._class_tables(),
            }
        )

    def _class_tables(self) -> dict[str, Any]:
        return {name: table.dump() for name, table in self.slo_class.items()}

    @property
    def order(self) -> Order:
        """The order this scenario runs in: ``[load] order`` as written, else interleaved when
        there are several targets. One target runs alone either way, which is "sequential":
        nothing ran beside it (docs/scenarios.md, "Order")."""
        if len(self.target) < 2:
            return "sequential"
        return self.load.order or "interleaved"

    @property
    def clients(self) -> tuple[str, ...]:
        """Every client path some target is measured with, in ``CLIENTS`` order."""
        used = {c for t in self.target for c in t.clients}
        return tuple(c for c in CLIENTS if c in used)

    def fingerprint(self) -> str:
        """What makes two runs comparable: request settings, prompt shape and load mode, then
        ``+`` and the client paths that measured (``3f…9a+fast``, ``3f…9a+fast,sdk``).

        Names, descriptions, SLOs, request counts and emulator profiles are left out on
        purpose: a CI job that raises ``requests`` or injects a slowdown on the emulator still
        measures the same thing. The client is in: the SDK path's own cost is part of every
        figure it measures. Fingerprints written before the client was part of them are the
        digest alone (see :func:`bench.results.run_file.split_fingerprint`).
        """
        # Keys added since fingerprints were first written are left out at their defaults, so a
        # scenario that does not use them keeps the fingerprint it always had.
        shape: dict[str, Any] = {
            "request": self.request.model_dump(mode="json", exclude=_at_default(self.request, _NEWER_REQUEST_KEYS)),
            "prompts": self.prompts.model_dump(mode="json", exclude={"path", *_at_default(self.prompts, _NEWER_PROMPT_KEYS)}),
            "load_mode": self.load.mode,
        }
        overrides = [t.request.model_dump(mode="json", exclude_none=True) for t in self.target]
        if any(overrides):
            # Per-target settings change what is measured; absent when none are set, so
            # fingerprints written before they existed still match.
            shape["target_requests"] = overrides
        if self.load.replay is not None:
            # A trace by its content (the same file elsewhere compares; an edited one does not).
            shape["trace"] = {"sha256": self.load.replay.digest, "speedup": self.load.speedup}
        if self.load.burstiness != 1.0 or self.load.ramp_up_s:
            # The arrival shape is part of what is measured; left out when it is the default
            # (Poisson, no ramp) so fingerprints written before it existed still match.
            shape["arrivals"] = {"burstiness": self.load.burstiness, "ramp_up_s": self.load.ramp_up_s}
        blob = json.dumps(shape, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16] + "+" + ",".join(self.clients)

    def resolved(self) -> dict[str, Any]:
        """The scenario as run.json records it (reports and the gate read this)."""

        return {
            "name": self.name,
            "description": self.scenario.description,
            "targets": [
                {
                    "label": t.name,
                    "provider": t.provider,
                    "model": t.model,
                    "base_url": t.base_url,
                    "api_key_env": t.key_env,
                    "client": t.client,
                    "emulator": t.emulator.header_payload(),
                    "slo": dict(t.slo),
                    "request": t.request.model_dump(mode="json", exclude_none=True),
                    "price": resolve_price(t.provider, t.model, t.price),
                }
                for t in self.target
            ],
            "request": self.request.model_dump(mode="json"),
            "prompts": self.prompts.model_dump(mode="json"),
            "load": {
                "mode": self.load.mode,
                "levels": self.load.levels,
                "requests": self.load.requests,
                "duration_s": self.load.duration_s,
                "warmup": self.load.warmup,
                "timeout_s": self.load.timeout_s,
                "seed": self.load.seed,
                "workers": self.load.workers,
                "burstiness": self.load.burstiness,
                "ramp_up_s": self.load.ramp_up_s,
                **(
                    {"trace": self.load.trace, "trace_sha256": self.load.replay.digest, "speedup": self.load.speedup}
                    if self.load.replay is not None
                    else {}
                ),
            },
            "slo": dict(self.slo),
            **({"slo_classes": self._class_tables()} if self.slo_class else {}),
            "report": self.report.model_dump(mode="json", exclude_none=True),
        }

    def prompt_file(self) -> Path | None:
        if self.prompts.source != "file" or not self.prompts.path:
            return None
        path = Path(self.prompts.path)
        return path if path.is_absolute() else Path(self.source_path).parent / path


# --------------------------------------------------------------------------- loading


def parse_scenario(raw: dict[str, Any], path: str, *, client: str | None = None) -> Scenario:
    """Validate an already-parsed TOML table.

    ``client`` (the command line's ``--client``) replaces every target's client path *before*
    the table is checked, so a check that depends on it (the fast client never retries) judges
    the scenario that will run, not the one the file describes.
    """
    if "targets" in raw and "target" not in raw:
        raise ScenarioError(path, "targets", "unknown key (did you mean 'target'? write each one as [[target]])")
    if client is not None and isinstance(raw.get("target"), list):
        # "fast,sdk" on the command line is the list a file writes as client = ["fast", "sdk"].
        names = [c.strip() for c in client.split(",")]
        value: str | list[str] = names[0] if len(names) == 1 else names
        raw = {**raw, "target": [{**t, "client": value} if isinstance(t, dict) else t for t in raw["target"]]}
    load = raw.get("load")
    if isinstance(load, dict) and isinstance(load.get("trace"), str) and load["trace"]:
        # A trace is found beside the scenario file, as a prompt file is.
        where = Path(load["trace"])
        raw = {**raw, "load": {**load, "trace": str(where if where.is_absolute() else (Path(path).parent / where).resolve())}}
    try:
        scenario = Scenario.model_validate({**raw, "source_path": path})
    except ValidationError as exc:
        errors = exc.errors()
        field, problem = describe_error(Scenario, errors[0], providers=PROVIDERS, orders=ORDERS)
        more = len(errors) - 1
        if more:
            problem += f" (and {more} more problem{'s' if more > 1 else ''})"
        if client is not None:
            problem += f" (with --client {client})"
        raise ScenarioError(path, field, problem) from None
    _check_prompt_file(scenario, path)
    _check_slo_data(scenario, path)
    return scenario


def load_scenario(path: str | Path, *, client: str | None = None) -> Scenario:
    """Read and validate a scenario file (``client``: see :func:`parse_scenario`); every failure is a ScenarioError."""
    p = Path(path)
    shown = str(path)
    if not p.exists():
        raise ScenarioError(shown, None, "no such file")
    if p.is_dir():
        raise ScenarioError(shown, None, "is a directory, not a scenario file")
    try:
        text = p.read_text(encoding="utf-8-sig")  # a BOM (Windows editors) is not an error
    except UnicodeDecodeError:
        raise ScenarioError(shown, None, "not UTF-8 text (is this a TOML file?)") from None
    except OSError as exc:
        raise ScenarioError(shown, None, f"cannot read: {exc.strerror}") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(shown, None, f"not valid TOML: {exc}") from None
    return parse_scenario(raw, shown, client=client)


def _check_prompt_file(scenario: Scenario, path: str) -> None:
    prompt_path = scenario.prompt_file()
    if prompt_path is None:
        return
    if prompt_path.is_dir():
        raise ScenarioError(path, "prompts.path", f"{prompt_path} is a directory, not a JSONL file")
    if not prompt_path.is_file():
        raise ScenarioError(path, "prompts.path", f"no such file: {prompt_path}")

    read_prompt_file(prompt_path, scenario_path=path)


#: Columns a non-streaming request never has: they time events inside a stream.
STREAM_ONLY_COLUMNS: frozenset[str] = frozenset({"ttft_ms", "ttfa_ms", "itl_ms", "tpot_ms", "output_tps", "response_100_ms"})
#: Columns only an open-loop level records.
OPEN_LOOP_ONLY_COLUMNS: frozenset[str] = frozenset({"start_lag_ms", "scheduled_ms"})


def _slo_data_problem(column: str, scenario: Scenario) -> str | None:
    """Why ``column`` can never have a value in this scenario's runs, or None."""
    if column in STREAM_ONLY_COLUMNS and not scenario.request.stream:
        return (
            f"{column} is measured only on streamed responses, and [request] stream = false: this SLO could "
            "never be judged (set stream = true, or use e2e_ms)"
        )
    if column in OPEN_LOOP_ONLY_COLUMNS and scenario.load.mode != "rate":
        return f"{column} is recorded only in open loop ([load] rate = [...]): this SLO could never be judged"
    return None


def _check_slo_data(scenario: Scenario, path: str) -> None:
    """Refuse an SLO that can have no data for this scenario: it would only ever say "no data"."""
    tables = [("slo", scenario.slo)] + [(f"target[{i}].slo", t.slo) for i, t in enumerate(scenario.target)]
    tables += [(f"slo.class.{name}", dict(table.model_extra or {})) for name, table in scenario.slo_class.items()]
    for where, table in tables:
        for key, value in table.items():
            if key == "error_rate_max":
                continue
            rule = parse_key(key, value)
            problem = _slo_data_problem(rule.column, scenario) if rule is not None else None
            if problem:
                raise ScenarioError(path, f"{where}.{key}", problem)
