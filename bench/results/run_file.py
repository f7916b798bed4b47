"""run.json as one typed object: :class:`RunMeta`, read and written only here.

The runner writes it at the start and the end of a run; the report, the gate, exports,
baselines, the summary and the pytest plugin read it. Every key has a default, so a run.json
written by an older bench (or cut short) still loads, and keys this version does not know are
kept (``extra="allow"``) and written back unchanged. A key this version knows must hold its
type, strictly: ``"finished": "yes"`` is not a finished run and ``"scenario": "oops"`` is not a
scenario without SLOs, so reading such a file is an error naming the file and the key (exit 2)
rather than a guess. A file is rewritten with the keys it had (``exclude_unset``): reading and
writing never adds defaults a run did not record.

``scenario`` stays the resolved scenario as a plain table (``Scenario.resolved()``): the
scenario model validates it where it is loaded, and old runs must load whatever their
scenario format was.
"""

from __future__ import annotations

import contextlib
import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bench.errors import BenchError
from bench.results.health import Budget, LevelHealth

#: The run's metadata file in its directory.
RUN_FILE = "run.json"


class ClientHealth(BaseModel):
    """How the measuring process itself fared (``bench.run.health``): each level's (and worker's)
    sample, the budget it was judged by, and the verdict the run printed."""

    model_config = ConfigDict(extra="allow")

    levels: list[LevelHealth] = Field(default_factory=list)
    budget: Budget = Field(default_factory=Budget)
    saturated: bool = False
    findings: list[str] = Field(default_factory=list)


class Calibration(BaseModel):
    """The newest ``bench calibrate --save`` verdict when the run started: how accurate this
    machine's client paths measured themselves to be, and when."""

    model_config = ConfigDict(extra="allow")

    date: str = ""
    note: str = ""


class RunMeta(BaseModel):
    """Where, how and of what a run was made, so two runs can be judged comparable (README.md, "Results")."""

    model_config = ConfigDict(extra="allow", strict=True)

    run_id: str | None = None
    scenario_name: str | None = None
    scenario_description: str | None = None
    #: The scenario file the run came from ("command line" when given as flags).
    scenario_path: str | None = None
    #: The resolved scenario (``Scenario.resolved()``): targets, request, prompts, load, slo.
    scenario: dict[str, Any] = Field(default_factory=dict)
    #: What makes two runs comparable (``Scenario.fingerprint()``).
    fingerprint: str | None = None
    #: None: an old run.json that does not say.
    emulated: bool | None = None
    emulator_url: str | None = None
    #: Wall-clock ISO 8601 times (UTC): to tell runs apart, never to time anything.
    started_at: str | None = None
    ended_at: str | None = None
    #: False while running, or when the run was killed; None when an old run.json does not say.
    finished: bool | None = None
    interrupted: bool = False
    versions: dict[str, str | None] = Field(default_factory=dict)
    host: dict[str, Any] = Field(default_factory=dict)
    git_revision: str | None = None
    #: The client paths used ("fast", "sdk", "fast,sdk").
    client: str | None = None
    #: Per target, the proxy its requests went through (from HTTP(S)_PROXY/ALL_PROXY, without
    #: credentials), or None for a direct connection. None as a whole: an old run.json.
    proxies: dict[str, str | None] | None = None
    event_loop: str | None = None
    prompts_unique: bool = False
    prompt_note: str | None = None
    workers: int | None = None
    executor: str | None = None
    #: How the targets took their turns: "interleaved" (each load level run by every target
    #: side by side) or "sequential" (one target's levels, then the next's; also every run of
    #: one target). Files written before runs could interleave say nothing: they ran sequentially.
    order: Literal["interleaved", "sequential"] = "sequential"
    client_health: ClientHealth | None = None
    calibration: Calibration | None = None
    #: Why the run stopped before its end when something failed (a results file that could not
    #: be written, a worker that died): the line the command printed. None otherwise.
    error: str | None = None
    #: The client's measured overhead per request, when a run recorded it.
    overhead: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any], source: str = RUN_FILE) -> RunMeta:
        """Checked: a known key holding the wrong type is a BenchError naming ``source`` and the key."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error["loc"]) or "(top level)"
            got = error.get("input")
            shown = repr(got) if len(repr(got)) <= 40 else repr(got)[:39] + "…"
            more = len(exc.errors()) - 1
            tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
            raise BenchError(f"{source}: {where}: {error['msg'].lower()}, got {type(got).__name__} {shown}{tail}") from None

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_unset=True)

    def updated(self, **changes: Any) -> RunMeta:
        """A copy with ``changes`` applied and validated (their keys are then written too)."""
        return RunMeta.from_json({**self.to_json(), **changes})

    @property
    def slo_table(self) -> dict[str, Any] | None:
        """The scenario's ``[slo]`` table as recorded, or None."""
        table = self.scenario.get("slo")
        return table if isinstance(table, dict) else None


def split_fingerprint(fingerprint: str) -> tuple[str, tuple[str, ...] | None]:
    """(settings digest, client paths) of a recorded fingerprint. Fingerprints recorded before
    the client was part of them have no ``+``: their clients are None (unknown from the
    fingerprint; run.json's ``client`` says which)."""
    digest, sep, clients = fingerprint.partition("+")
    return digest, (tuple(c for c in clients.split(",") if c) if sep else None)


def read_run_meta(run_dir: Path) -> RunMeta:
    """A run directory's run.json; a run without one (killed before it was written) is known by its directory's name."""
    path = run_dir / RUN_FILE
    if not path.is_file():
        return RunMeta(run_id=run_dir.name, emulated=_emulated_from_scenario_copy(run_dir))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise BenchError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except UnicodeDecodeError:
        raise BenchError(f"{path}: not UTF-8 text (binary data, not a bench run.json)") from None
    except OSError as exc:
        raise BenchError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not isinstance(data, dict):
        raise BenchError(f"{path}: not a bench run.json (expected a JSON object)")
    return RunMeta.from_json(data, str(path))


#: The scenario as it ran, kept beside the results by ``bench run`` (``[scenario] emulate`` says where).
SCENARIO_COPY = "scenario.toml"


def _emulated_from_scenario_copy(run_dir: Path) -> bool | None:
    """Whether a run without run.json ran on the emulator, from the scenario copy beside it;
    None when there is none (or it does not say): the report then says it cannot tell."""
    try:
        header = tomllib.loads((run_dir / SCENARIO_COPY).read_text(encoding="utf-8")).get("scenario")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    value = header.get("emulate") if isinstance(header, dict) else None
    return value if isinstance(value, bool) else None


def write_run_meta(run_dir: Path, meta: RunMeta | Mapping[str, Any]) -> None:
    """Atomic replace, so a reader never sees half a run.json. A plain table (run.json as JSON,
    as tests and tools build it) is read the tolerant way first, like a file."""
    if not isinstance(meta, RunMeta):
        meta = RunMeta.from_json(dict(meta))
    tmp = run_dir / (RUN_FILE + ".tmp")
    try:
        tmp.write_text(json.dumps(meta.to_json(), indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
        os.replace(tmp, run_dir / RUN_FILE)
    finally:
        with contextlib.suppress(OSError):  # a full disk leaves the previous run.json, not half a new one
            tmp.unlink(missing_ok=True)
