"""The model catalogue: what each provider serves, what it retired, and how fast each model is.

Provider line-ups change monthly, so the facts live in one hand-edited data file,
``bench/data/models.toml`` (its header documents every key). This module only loads and checks
it. Scenario validation reads the status and replacement (to warn about a retired seed model),
and the emulator reads the latency profile (``ttft_ms``, ``tokens_per_s``, ``jitter``,
``reasoning``) so that an emulated run looks like the real provider. A model's ``price``
(US dollars per million tokens, with the date it was read and its source) is what
:mod:`bench.analysis.cost` prices a run with, unless the scenario gives its own.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime
from functools import cache
from importlib import resources
from typing import Any, Final

from bench.errors import CatalogueError

#: Providers a scenario may name. ``openai-compatible`` has no models of its own and takes the
#: openai defaults.
PROVIDERS: Final[tuple[str, ...]] = ("groq", "openai", "anthropic", "openai-compatible")
STATUSES: Final[tuple[str, ...]] = (
    "production",
    "preview",
    "deprecated",
    "shut_down",
    "decommissioned",
)
_RETIRED: Final[frozenset[str]] = frozenset({"shut_down", "decommissioned"})
_PROFILE_KEYS: Final[tuple[str, ...]] = (
    "ttft_ms",
    "tokens_per_s",
    "jitter",
    "reasoning",
    "reasoning_tokens",
    "empty_chunk_share",
)
_DEFAULT_ID: Final = "*"


@dataclass(frozen=True)
class Price:
    """What a model costs, in US dollars per million tokens (the unit price lists use).

    ``cached_input_per_mtok`` is the rate for input tokens the provider served from its prompt
    cache, ``cache_write_per_mtok`` the rate for input tokens written to it (Anthropic bills
    those apart, at more than the input rate); None when the source gives none: such tokens
    are then priced at the input rate.
    ``as_of`` says when the prices were read (an ISO date where known), ``source`` where (a URL
    or a document), and ``origin`` whether the figure came from the model ``catalogue`` or the
    ``scenario``'s ``[target.price]``.
    """

    input_per_mtok: float
    output_per_mtok: float
    cached_input_per_mtok: float | None = None
    as_of: str | None = None
    source: str | None = None
    origin: str = "catalogue"
    cache_write_per_mtok: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (run.json records the resolved price this way)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Price:
        """The inverse of :meth:`to_dict` (unknown keys ignored, so older readers keep working)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class ModelInfo:
    """One model of one provider, with the latency profile the emulator gives it.

    ``decommissioned_on`` is the date it stopped answering (for ``shut_down`` too: Groq's word
    for retiring a model on some tiers only). A provider's default profile is a ModelInfo whose
    ``id`` is ``"*"``.
    """

    provider: str
    id: str
    status: str
    decommissioned_on: str | None
    replacement: str | None
    context_window: int | None
    max_completion_tokens: int | None
    ttft_ms: float
    tokens_per_s: float
    jitter: float
    reasoning: bool
    note: str | None
    reasoning_tokens: int = 0
    empty_chunk_share: float = 0.0
    display_name: str | None = None
    owned_by: str | None = None
    released_on: str | None = None
    #: Price per million tokens, where a source gives one (never guessed: None otherwise).
    price: Price | None = None
    #: When the price source says the model is (or was) deprecated: it may stop answering then.
    deprecation_date: str | None = None

    @property
    def retired(self) -> bool:
        """True when the provider no longer serves it (decommissioned or shut down)."""
        return self.status in _RETIRED


class Catalogue:
    """Lookups over the loaded file. Ids are matched exactly, as the providers do."""

    def __init__(self, models: list[ModelInfo], defaults: dict[str, ModelInfo]) -> None:
        self._models = list(models)
        self._defaults = dict(defaults)
        self._by_key = {(m.provider, m.id): m for m in models}

    def get(self, provider: str, model: str) -> ModelInfo | None:
        """The catalogue entry, or None when this provider's list does not name the model."""
        return self._by_key.get((provider, model))

    def models(self, provider: str | None = None) -> list[ModelInfo]:
        """Every model in file order, or only one provider's."""
        return [m for m in self._models if provider is None or m.provider == provider]

    def default_profile(self, provider: str) -> ModelInfo:
        """The profile for a model id the catalogue does not know (openai-compatible: openai's)."""
        if provider not in PROVIDERS:
            raise KeyError(f"unknown provider {provider!r}; expected one of {', '.join(PROVIDERS)}")
        if provider in self._defaults:
            return self._defaults[provider]
        base = self._defaults["openai"]
        return _replace(base, provider=provider)


#: Providers whose model line-up the catalogue lists; an openai-compatible server serves whatever it loaded.
CATALOGUED: Final[tuple[str, ...]] = ("groq", "openai", "anthropic")


def model_warning(provider: str, model: str, catalogue: Catalogue | None = None) -> str | None:
    """What a user should hear before running ``model`` on ``provider``, or None.

    A retired model is named with the date and its replacement; a model the catalogue does
    not list gets the closest ids it does list and a pointer to ``bench models``. Only a
    warning: the catalogue is edited by hand and goes stale as providers add models, so a
    live run still asks the provider's own models list, and the provider has the last word.
    """
    if provider not in CATALOGUED:
        return None
    catalogue = catalogue or load_catalogue()
    info = catalogue.get(provider, model)
    if info is not None:
        if not info.retired:
            return None
        when = f" on {info.decommissioned_on}" if info.decommissioned_on else ""
        instead = f"; use {info.replacement}" if info.replacement else ""
        return f"model {model} was {info.status.replace('_', ' ')}{when}{instead}"
    known = [m.id for m in catalogue.models(provider)]
    current = [m.id for m in catalogue.models(provider) if not m.retired]
    close = difflib.get_close_matches(model, current, n=2, cutoff=0.6) or difflib.get_close_matches(model, known, n=2, cutoff=0.6)
    guess = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
    return (
        f"model {model!r} is not in bench's catalogue of {provider} models{guess}; `bench models {provider}` lists "
        f"them — {provider} answers model_not_found for a model it does not serve"
    )


def _replace(info: ModelInfo, **changes: Any) -> ModelInfo:
    values = {f.name: getattr(info, f.name) for f in fields(info)}
    values.update(changes)
    return ModelInfo(**values)


_TYPES: Final[dict[str, tuple[type, ...]]] = {
    "id": (str,),
    "status": (str,),
    "decommissioned_on": (str,),
    "replacement": (str,),
    "context_window": (int,),
    "max_completion_tokens": (int,),
    "ttft_ms": (int, float),
    "tokens_per_s": (int, float),
    "jitter": (int, float),
    "reasoning": (bool,),
    "note": (str,),
    "reasoning_tokens": (int,),
    "empty_chunk_share": (int, float),
    "display_name": (str,),
    "owned_by": (str,),
    "released_on": (str,),
    "price": (dict,),
    "deprecation_date": (str,),
}
#: Keys of a model's ``price`` table; both rates are required, the rest optional.
_PRICE_KEYS: Final[tuple[str, ...]] = (
    "input_per_mtok",
    "output_per_mtok",
    "cached_input_per_mtok",
    "cache_write_per_mtok",
    "as_of",
    "source",
)


def _check_types(where: str, table: dict[str, Any], allowed: tuple[str, ...]) -> None:
    for key, value in table.items():
        if key not in allowed:
            raise CatalogueError(f"{where}: unknown key {key!r}")
        types = _TYPES[key]
        # bool is an int in Python; a count or a time written as `true` is still a mistake.
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise CatalogueError(f"{where}: {key} must be {' or '.join(t.__name__ for t in types)}")


def _profile(where: str, values: dict[str, Any]) -> dict[str, Any]:
    """Normalised profile values; rejects numbers the emulator could not honour."""
    profile = {
        "ttft_ms": float(values["ttft_ms"]),
        "tokens_per_s": float(values["tokens_per_s"]),
        "jitter": float(values.get("jitter", 0.0)),
        "reasoning": bool(values.get("reasoning", False)),
        "reasoning_tokens": int(values.get("reasoning_tokens", 0)),
        "empty_chunk_share": float(values.get("empty_chunk_share", 0.0)),
    }
    if profile["ttft_ms"] < 0 or profile["tokens_per_s"] <= 0 or profile["reasoning_tokens"] < 0:
        raise CatalogueError(f"{where}: ttft_ms, reasoning_tokens must be >= 0, tokens_per_s > 0")
    if not 0 <= profile["jitter"] <= 1 or not 0 <= profile["empty_chunk_share"] < 1:
        raise CatalogueError(f"{where}: jitter must be in [0, 1], empty_chunk_share in [0, 1)")
    return profile


def _price(where: str, table: dict[str, Any]) -> Price:
    """A model's ``price = { ... }`` table, checked: dollar rates >= 0, as_of and source text."""
    where = f"{where}: price"
    for key, value in table.items():
        if key not in _PRICE_KEYS:
            raise CatalogueError(f"{where}: unknown key {key!r}; expected {', '.join(_PRICE_KEYS)}")
        if key.endswith("_per_mtok"):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
                raise CatalogueError(f"{where}: {key} must be a number of US dollars >= 0")
        elif not isinstance(value, str):
            raise CatalogueError(f"{where}: {key} must be a string")
    if not {"input_per_mtok", "output_per_mtok"} <= set(table):
        raise CatalogueError(f"{where}: input_per_mtok and output_per_mtok are required (leave price out when unknown)")
    if "source" not in table or "as_of" not in table:
        raise CatalogueError(f"{where}: as_of and source are required (a price says when and where it was read)")
    cached = table.get("cached_input_per_mtok")
    written = table.get("cache_write_per_mtok")
    return Price(
        input_per_mtok=float(table["input_per_mtok"]),
        output_per_mtok=float(table["output_per_mtok"]),
        cached_input_per_mtok=None if cached is None else float(cached),
        as_of=table["as_of"],
        source=table["source"],
        origin="catalogue",
        cache_write_per_mtok=None if written is None else float(written),
    )


def _iso_date(where: str, key: str, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CatalogueError(f"{where}: {key} must be an ISO date (YYYY-MM-DD), not {value!r}") from None


def parse_catalogue(data: dict[str, Any]) -> Catalogue:
    """Build a Catalogue from the parsed TOML; raises CatalogueError naming what is wrong."""
    models: list[ModelInfo] = []
    defaults: dict[str, ModelInfo] = {}
    for provider, section in data.items():
        if provider not in PROVIDERS:
            raise CatalogueError(f"unknown provider section [{provider}]")
        extra = set(section) - {"defaults", "models"}
        if extra or "defaults" not in section:
            raise CatalogueError(f"[{provider}]: needs [{provider}.defaults]; unknown {sorted(extra)}")
        where = f"[{provider}.defaults]"
        _check_types(where, section["defaults"], _PROFILE_KEYS)
        if not {"ttft_ms", "tokens_per_s"} <= set(section["defaults"]):
            raise CatalogueError(f"{where}: ttft_ms and tokens_per_s are required")
        base = _profile(where, section["defaults"])
        defaults[provider] = ModelInfo(
            provider=provider, id=_DEFAULT_ID, status="production", decommissioned_on=None,
            replacement=None, context_window=None, max_completion_tokens=None, note=None, **base,
        )  # fmt: skip
        seen: set[str] = set()
        for entry in section.get("models", []):
            where = f"[[{provider}.models]] {entry.get('id', '<no id>')!s}"
            _check_types(where, entry, tuple(_TYPES))
            if "id" not in entry or "status" not in entry:
                raise CatalogueError(f"{where}: id and status are required")
            if entry["status"] not in STATUSES:
                raise CatalogueError(f"{where}: status must be one of {', '.join(STATUSES)}")
            if entry["id"] in seen:
                raise CatalogueError(f"{where}: listed twice")
            seen.add(entry["id"])
            profile = _profile(where, {**section["defaults"], **entry})
            facts = {k: v for k, v in entry.items() if k not in _PROFILE_KEYS}
            if "price" in facts:
                facts["price"] = _price(where, facts["price"])
            if "deprecation_date" in facts:
                _iso_date(where, "deprecation_date", facts["deprecation_date"])
            info = {f.name: None for f in fields(ModelInfo) if f.name not in _PROFILE_KEYS}
            models.append(ModelInfo(**{**info, **facts, **profile, "provider": provider}))
    if "openai" not in defaults:
        raise CatalogueError("[openai.defaults] is required (openai-compatible falls back to it)")
    return Catalogue(models, defaults)


@cache
def load_catalogue() -> Catalogue:
    """The packaged catalogue, read once per process."""
    text = resources.files("bench").joinpath("data/models.toml").read_text(encoding="utf-8")
    return parse_catalogue(tomllib.loads(text))


def resolve_price(provider: str, model: str, override: Any = None) -> dict[str, Any] | None:
    """The price a run records for one target (run.json's ``scenario.targets[].price``).

    ``override`` is the scenario's ``[target.price]`` (a pydantic model or a mapping); it
    beats the catalogue. Returns :meth:`Price.to_dict` or None when no source has a price.
    """
    if override is not None:
        values = override.model_dump() if hasattr(override, "model_dump") else dict(override)
        return Price(**{**values, "origin": "scenario"}).to_dict()
    info = load_catalogue().get(provider, model)
    return info.price.to_dict() if info is not None and info.price is not None else None


#: A deprecation this close (or past) is worth a warning before a run.
DEPRECATION_WARN_DAYS: Final = 30


def deprecation_warning(provider: str, model: str, today: date | None = None) -> str | None:
    """One line when the catalogue's deprecation date of ``model`` is past or within 30 days.

    The date comes from the price source (LiteLLM's table): a model past it may no longer
    answer, and one close to it soon may not, so a run of it says so before it starts rather
    than leaving the reader to find out from ``model_not_found`` errors.
    """
    info = load_catalogue().get(provider, model)
    if info is None or info.deprecation_date is None:
        return None
    today = today or datetime.now(UTC).date()
    when = date.fromisoformat(info.deprecation_date)
    days = (when - today).days
    if days > DEPRECATION_WARN_DAYS:
        return None
    source = info.price.source if info.price is not None and info.price.source else "the model catalogue"
    instead = f"; the catalogue names {info.replacement} instead" if info.replacement else ""
    if days < 0:
        state = f"was deprecated on {when.isoformat()}, {-days} days ago: it may no longer answer"
    elif days == 0:
        state = f"is deprecated today ({when.isoformat()}): it may stop answering"
    else:
        state = f"is deprecated on {when.isoformat()}, in {days} days: it may stop answering then"
    return f"{provider} model {model} {state}{instead} (date from {source})"
