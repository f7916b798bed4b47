"""``bench run``, ``validate``, ``models`` and ``emulate``: the commands a user meets first."""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from bench.cli.app import app
from bench.errors import BenchError
from bench.results import run_file
from bench.scenario.model import Scenario, load_scenario
from bench.scenario.writer import scenario_to_toml


def _int_list(value: str | None, option: str) -> list[int] | None:
    if value is None:
        return None
    try:
        levels = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise BenchError(f"{option} {value!r}: expected whole numbers separated by commas, e.g. 1,4,16") from None
    if not levels or any(level < 1 for level in levels):
        raise BenchError(f"{option} {value!r}: levels must be 1 or more")
    return levels


def _float_list(value: str | None, option: str) -> list[float] | None:
    if value is None:
        return None
    try:
        levels = [float(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise BenchError(f"{option} {value!r}: expected numbers separated by commas, e.g. 2,8") from None
    if not levels or not all(math.isfinite(level) and level > 0 for level in levels):
        raise BenchError(f"{option} {value!r}: rates must be finite numbers greater than 0")
    return levels


ProviderName = Literal["groq", "openai", "anthropic", "openai-compatible"]
ExecutorName = Literal["local", "ray"]
OrderName = Literal["interleaved", "sequential"]
SCENARIO_COPY = run_file.SCENARIO_COPY
_FLAGS_PANEL = "Without a scenario file"


@dataclass(frozen=True)
class Flags:
    """The flags that describe the request or target: a scenario file sets these itself."""

    base_url: str | None
    max_tokens: int | None
    input_tokens: int | None
    no_stream: bool

    def given(self) -> list[str]:
        values = {"--base-url": self.base_url, "--max-tokens": self.max_tokens, "--input-tokens": self.input_tokens,
                  "--no-stream": self.no_stream}  # fmt: skip
        return [name for name, value in values.items() if value]


@dataclass(frozen=True)
class Levels:
    """--concurrency, --rate and --requests as given (None: the scenario's own)."""

    concurrency: list[int] | None
    rate: list[float] | None
    requests: int | None


def _scenario_for_run(
    scenario: Path | None,
    provider: str | None,
    model: str | None,
    flags: Flags,
    levels: Levels,
    emulate: bool,
    client: str | None = None,
) -> Scenario:
    """Exactly one of a scenario file or --provider/--model; flags are validated like a file."""
    from bench.scenario.flags import scenario_from_flags

    if scenario is None:
        if provider is None or model is None:
            missing = "--model" if provider else "--provider" if model else "a scenario file, or --provider and --model"
            raise BenchError(
                f"give {missing} (e.g. bench run --provider openai-compatible --model M --base-url http://127.0.0.1:8000/v1)"
            )
        return scenario_from_flags(
            provider=provider,
            model=model,
            base_url=flags.base_url,
            max_tokens=flags.max_tokens,
            input_tokens=flags.input_tokens,
            stream=not flags.no_stream,
            concurrency=levels.concurrency,
            rate=levels.rate,
            requests=levels.requests,
            emulate=emulate,
        )
    if provider is not None or model is not None:
        raise BenchError(f"{scenario}: give a scenario file or --provider/--model, not both")
    given = flags.given()
    if given:
        raise BenchError(f"{given[0]}: only without a scenario file ({scenario} sets its targets, [request] and [prompts])")
    return load_scenario(scenario, client=client)


def _ray_init(pairs: list[str]) -> dict[str, Any]:
    """``--ray-init KEY=VALUE`` pairs as ``ray.init`` keywords: the value as JSON where it reads
    as JSON (numbers, true/false, objects), else as text. Ray itself judges the names."""
    import json

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise BenchError(f"--ray-init {pair!r}: expected KEY=VALUE with a ray.init keyword, e.g. dashboard_port=8266")
        if key == "address":
            raise BenchError("--ray-init address=...: give the cluster with --address")
        try:
            out[key] = json.loads(text)
        except ValueError:
            out[key] = text
    return out


def _keep_scenario(run_dir: Path, scenario: Scenario, emulated: bool) -> None:
    """The run directory keeps the scenario as it ran, so ``bench run <dir>/scenario.toml`` repeats it."""
    try:
        (run_dir / SCENARIO_COPY).write_text(scenario_to_toml(scenario, emulate=emulated), encoding="utf-8")
    except OSError as exc:
        typer.echo(f"bench: warning: could not write {run_dir / SCENARIO_COPY} ({exc.strerror})", err=True)


@app.command()
def run(
    scenario: Annotated[
        Path | None,
        typer.Argument(
            help="Scenario file (TOML). Leave it out to describe one target with --provider and --model.", show_default=False
        ),
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Results root; the run goes to OUT/<run-id>/.")] = Path("results"),
    emulate: Annotated[
        bool, typer.Option("--emulate", help="Run every target against the built-in emulator (no keys, no network).")
    ] = False,
    target: Annotated[
        list[str] | None, typer.Option("--target", "-T", metavar="<label>", help="Only this target label (repeatable).")
    ] = None,
    requests: Annotated[int | None, typer.Option("--requests", "-n", min=1, help="Measured requests per level.")] = None,
    concurrency: Annotated[
        str | None, typer.Option("--concurrency", "-c", metavar="<levels>", help="Closed-loop levels, e.g. 1,4,16.")
    ] = None,
    rate: Annotated[
        str | None, typer.Option("--rate", metavar="<rates>", help="Open-loop levels in requests/s, e.g. 2,8.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")] = False,
    no_report: Annotated[bool, typer.Option("--no-report", help="Do not write the report into the run directory.")] = False,
    client: Annotated[
        str | None,
        typer.Option(
            "--client",
            metavar="<clients>",
            help="Client path for every target: fast (lean HTTP client, the default), sdk (official SDKs), "
            "or fast,sdk (both, one after the other within each level; the report shows what the SDK costs).",
        ),
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", "-w", min=1, max=256, help="Processes that share each level's load.")
    ] = None,
    order: Annotated[
        OrderName | None,
        typer.Option(
            "--order",
            help="With several targets: interleaved (each load level run by every target side by side; the default) "
            "or sequential (every level of one target, then the next's). Beats [load] order.",
            show_default=False,
        ),
    ] = None,
    executor: Annotated[
        ExecutorName,
        typer.Option("--executor", help="Where the load runs: local (this machine) or ray (Ray actors; pip install '.\\[ray]')."),
    ] = "local",
    address: Annotated[
        str | None,
        typer.Option(
            "--address", metavar="<address>", help="With --executor ray: the Ray cluster address (default: start a local Ray)."
        ),
    ] = None,
    ray_init: Annotated[
        list[str] | None,
        typer.Option(
            "--ray-init",
            metavar="<key=value>",
            help="With --executor ray: a ray.init keyword (repeatable; value as JSON, else text), e.g. "
            "_metrics_export_port=8090 or _temp_dir=/scratch/ray. To pin every port, start Ray yourself "
            "(ray start --head --port ...) and give --address; see docs/executors.md.",
        ),
    ] = None,
    provider: Annotated[
        ProviderName | None, typer.Option("--provider", help="The one target's provider.", rich_help_panel=_FLAGS_PANEL)
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", metavar="<model>", help="The one target's model id.", rich_help_panel=_FLAGS_PANEL)
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(
            "--base-url",
            metavar="<url>",
            help="Server URL (required for openai-compatible), e.g. http://127.0.0.1:8000/v1.",
            rich_help_panel=_FLAGS_PANEL,
        ),
    ] = None,
    max_tokens: Annotated[
        int | None,
        typer.Option("--max-tokens", min=1, help="Most output tokens per request (default 256).", rich_help_panel=_FLAGS_PANEL),
    ] = None,
    input_tokens: Annotated[
        int | None,
        typer.Option(
            "--input-tokens", min=1, help="Approximate prompt length in tokens (default 128).", rich_help_panel=_FLAGS_PANEL
        ),
    ] = None,
    no_stream: Annotated[
        bool,
        typer.Option(
            "--no-stream",
            help="Ask for whole responses instead of streams (no first-token figures).",
            rich_help_panel=_FLAGS_PANEL,
        ),
    ] = False,
    emulator_set: Annotated[
        list[str] | None,
        typer.Option(
            "--emulator-set",
            metavar="KEY=VALUE",
            help="With --emulate: an emulator profile key for every target, e.g. ttft_ms=400 (repeatable; "
            "beats [target.emulator]; not part of the scenario fingerprint).",
        ),
    ] = None,
    emulator_seed: Annotated[
        int | None,
        typer.Option(
            "--emulator-seed",
            min=0,
            help="With --emulate: vary the emulator's draws (jitter, lengths, faults) for a replicate run; "
            "not part of the scenario fingerprint.",
        ),
    ] = None,
) -> None:
    """Run a scenario: every target x load level x request, each timed and written as it finishes.

    Without a scenario file, --provider and --model describe one target (20 requests at
    concurrency 1 unless told otherwise). Either way the run directory keeps the scenario as
    scenario.toml: `bench run results/<run-id>/scenario.toml` repeats the run.
    """
    from bench.report.summary import print_summary
    from bench.run.runner import RunOptions, apply_overrides, parse_clients, run_scenario
    from bench.run.stop_signals import StopSignals

    if concurrency and rate:
        raise BenchError("--concurrency and --rate: give one or the other")
    if address is not None and executor != "ray":
        raise BenchError("--address: only with --executor ray")
    if ray_init and executor != "ray":
        raise BenchError("--ray-init: only with --executor ray")
    init_options = _ray_init(ray_init or [])
    levels = Levels(_int_list(concurrency, "--concurrency"), _float_list(rate, "--rate"), requests)
    if client is not None:
        parse_clients(client, "--client")  # bad input before anything is read
    flags = Flags(base_url, max_tokens, input_tokens, no_stream)
    settings = _emulator_settings(emulator_set or [])
    loaded = _scenario_for_run(scenario, provider, model, flags, levels, emulate, client)
    if (settings or emulator_seed is not None) and not (emulate or loaded.scenario.emulate):
        option = "--emulator-set" if settings else "--emulator-seed"
        raise BenchError(f"{option}: only for emulated runs; add --emulate (or emulate = true in the scenario)")
    # Overrides applied here (not only in the runner) so scenario.toml records what ran.
    effective = apply_overrides(
        loaded,
        RunOptions(
            targets=target,
            requests=requests,
            concurrency=levels.concurrency,
            rate=levels.rate,
            client=client,
            workers=workers,
            order=order,
        ),
    )
    warn_deprecated(effective)
    result = run_scenario(
        effective,
        out=out,
        emulate=emulate,
        quiet=quiet,
        executor=executor,
        address=address,
        emulator_set=settings,
        emulator_seed=emulator_seed,
        ray_init=init_options,
        stop_signals=StopSignals(lambda message: typer.echo(f"bench: warning: {message}", err=True)).install(),
    )
    _keep_scenario(result.run_dir, effective, bool(result.meta.emulated))
    frame = result.frame
    print_summary(frame, result.meta)
    unwritten: BenchError | None = None
    if not no_report and len(frame):
        try:
            _write_report(result.run_dir)
        except BenchError as exc:
            unwritten = exc
    typer.echo(f"results: {result.run_dir}")
    if unwritten is not None:  # the results are safe; only the report is missing
        typer.echo(f"bench: error: report: {unwritten} (`bench report {result.run_dir} -o DIR` writes it elsewhere)", err=True)
    if result.interrupted:
        raise typer.Exit(130)
    if unwritten is not None:
        raise typer.Exit(2)
    measured = frame[~frame["warmup"]]
    if not (measured["status"] == "ok").any():
        typer.echo("bench: no measured request succeeded", err=True)
        raise typer.Exit(1)


def _emulator_settings(items: list[str], option: str = "--emulator-set") -> dict[str, object]:
    """Emulator settings checked before anything runs: a bad key or value is one line, exit 2."""
    from bench.emulator.profiles import OverrideError, parse_settings
    from bench.schema import FAULT_KINDS

    try:
        return parse_settings(items, FAULT_KINDS)
    except OverrideError as exc:
        raise BenchError(f"{option} {exc}") from None


def warn_deprecated(scenario: Scenario) -> None:
    """One line per target whose model's deprecation date is past or near (the catalogue's)."""
    from bench.scenario.catalogue import deprecation_warning

    for t in scenario.target:
        warning = deprecation_warning(t.provider, t.model)
        if warning:
            typer.echo(f"bench: warning: target {t.name!r}: {warning}", err=True)


def _write_report(run_dir: Path) -> None:
    from bench.report import render_reports

    written = render_reports([run_dir], run_dir / "report")
    typer.echo("report: " + ", ".join(str(path) for path in written.values()))


@app.command()
def validate(scenario: Annotated[Path, typer.Argument(help="Scenario file (TOML).")]) -> None:
    """Check a scenario file without sending anything (model names against bench's catalogue too)."""
    from bench.run.preflight import model_warnings

    loaded = load_scenario(scenario)
    load = loaded.load
    amount = f"{load.per_level} requests" if load.per_level is not None else f"{load.duration_s:g} s"
    levels = ", ".join(f"{level:g}" for level in load.levels)
    # Warnings, not errors: the catalogue is edited by hand and a provider's new model is real
    # before the catalogue lists it; `bench run` asks the provider's own list before it starts.
    warnings = model_warnings(loaded)
    for warning in warnings:
        typer.echo(f"bench: warning: {warning}", err=True)
    said = f" ({len(warnings)} warning{'' if len(warnings) == 1 else 's'}, on stderr)" if warnings else ""
    typer.echo(f"{scenario}: ok{said} — scenario {loaded.name!r}")
    for t in loaded.target:
        where = f" at {t.base_url}" if t.base_url else ""
        key = f", key from ${t.key_env}" if t.key_env else ", no key"
        typer.echo(f"  target {t.name}: {t.provider} {t.model}{where}{key}; client {' and '.join(t.clients)}")
    if load.replay is not None:
        trace = load.replay
        typer.echo(
            f"  load: trace {load.trace} ({len(trace):,} requests over {trace.arrivals_s[-1]:g} s, sha256 {trace.digest}) "
            f"at speedup {load.speedup:g}: {levels} req/s on average; {amount} (+{load.warmup} warm-up); timeout {load.timeout_s:g} s"
        )
    else:
        typer.echo(f"  load: {load.mode} {levels}; {amount} per level (+{load.warmup} warm-up); timeout {load.timeout_s:g} s")
    if len(loaded.target) > 1:
        side = "each level run by every target side by side" if loaded.order == "interleaved" else "one target after another"
        typer.echo(f"  order: {loaded.order} ({side})")
    shapes = [shape.label for shape in loaded.shapes() if shape.label]
    if shapes:
        shown = "; ".join(shapes[:8]) + (f"; and {len(shapes) - 8} more" if len(shapes) > 8 else "")
        typer.echo(f"  shapes: {len(shapes)} at each level, each a group of its own: {shown}")
    if loaded.prompts.bins:
        typer.echo("  bins: prompt lengths grouped from " + ", ".join(f"{b:,}" for b in loaded.prompts.bins) + " tokens up")
    if loaded.slo:
        typer.echo("  slo: " + ", ".join(f"{k} = {v:g}" for k, v in loaded.slo.items()))
    for name, table in loaded.slo_class.items():
        rules = ", ".join(f"{k} = {v:g}" for k, v in (table.model_extra or {}).items())
        covers = ", ".join(f"{k} = {v}" for k, v in table.dump().items() if k in ("input_tokens", "max_tokens", "cache"))
        typer.echo(f"  slo.class.{name}: {rules} where {covers}")


@app.command()
def models(
    provider: Annotated[ProviderName | None, typer.Argument(help="Only this provider.", show_default=False)] = None,
    base_url: Annotated[
        str | None,
        typer.Option(
            "--base-url",
            metavar="<url>",
            help="List the models of the server at this URL (e.g. a local openai-compatible server).",
        ),
    ] = None,
    api_key_env: Annotated[
        str | None,
        typer.Option("--api-key-env", metavar="<variable>", help="Variable holding the key (default: the provider's usual one)."),
    ] = None,
    live: Annotated[
        bool, typer.Option("--live/--no-live", help="Also ask the provider's models endpoint (needs its key).")
    ] = True,
) -> None:
    """The model catalogue and, where a key (or --base-url) is given, the provider's live models list."""
    from rich.console import Console
    from rich.table import Table

    from bench.scenario.catalogue import deprecation_warning, load_catalogue
    from bench.scenario.model import DEFAULT_KEY_ENV

    if base_url is not None and provider is None:
        raise BenchError(
            "--base-url: name the provider too, e.g. bench models openai-compatible --base-url http://127.0.0.1:8000/v1"
        )
    catalogue = load_catalogue()
    known = catalogue.models(provider)
    if known:
        table = Table(title="bench model catalogue")
        columns = ("provider", "model", "status", "replacement", "deprecation", "$/M in / out", "emulated TTFT ms",
                   "emulated tokens/s")  # fmt: skip
        for column in columns:
            table.add_column(column)
        for info in known:
            replacement = info.replacement or ""
            if info.decommissioned_on:
                replacement = f"{replacement} (since {info.decommissioned_on})".strip()
            price = f"{info.price.input_per_mtok:g} / {info.price.output_per_mtok:g}" if info.price else "no price"
            table.add_row(info.provider, info.id, info.status, replacement, info.deprecation_date or "", price,
                          f"{info.ttft_ms:g}", f"{info.tokens_per_s:g}")  # fmt: skip
        Console(width=180).print(table)
        sources = {(i.price.source, i.price.as_of) for i in known if i.price is not None}
        for source, as_of in sorted(sources, key=str):
            typer.echo(f"prices (US dollars per million tokens) and deprecation dates: {source}; read {as_of}")
        for info in known:
            warning = deprecation_warning(info.provider, info.id)
            if warning and not info.retired:
                typer.echo(f"warning: {warning}")
    if not live:
        return
    skipped: list[str] = []
    for name in [provider] if provider else ["groq", "openai", "anthropic"]:
        env = api_key_env or DEFAULT_KEY_ENV.get(name)
        key = os.environ.get(env) if env else None
        if name == "openai-compatible" and base_url is None:
            typer.echo("live models list skipped: give --base-url to list an openai-compatible server's models")
            continue
        if env and not key and (name != "openai-compatible" or api_key_env):
            skipped.append(f"{name} ({env} is not set)")
            continue
        where = f" at {base_url}" if base_url else ""
        typer.echo(f"{name} live models{where}: " + ", ".join(_live_models(name, key, base_url)))
    if skipped:
        typer.echo(f"live models list skipped for {', '.join(skipped)}: set the key to list them")


def _live_models(provider: str, key: str | None, base_url: str | None = None) -> list[str]:
    import anyio

    from bench.providers import ClientSettings, make_provider
    from bench.providers.classify import scrub

    async def fetch() -> list[str]:
        client = make_provider(provider, ClientSettings(base_url, key, 1, 10.0, 0))
        try:
            return await client.list_models()
        finally:
            await client.aclose()

    try:
        return anyio.run(fetch) or ["(none listed)"]
    except Exception as exc:  # noqa: BLE001
        return [f"(could not list: {scrub(str(exc), (key,) if key else ())})"]


def _check_port_free(host: str, port: int) -> None:
    """A taken port is bad input (exit 2, one line), not a crash of the server."""
    import socket

    if port == 0:
        return
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise BenchError(
                f"--port {port}: cannot listen on {host}:{port} ({exc.strerror}); try --port 0 for any free port"
            ) from None


@app.command()
def emulate(
    port: Annotated[int, typer.Option("--port", "-p", min=0, max=65535, help="Port (0 = any free port).")] = 8765,
    host: Annotated[str, typer.Option("--host", help="Address to bind (loopback by default).")] = "127.0.0.1",
    seed: Annotated[int, typer.Option("--seed", help="Seed for latencies and faults.")] = 0,
    chunk_log: Annotated[
        Path | None, typer.Option("--chunk-log", help="Append each request's chunk write times (JSONL).")
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", metavar="KEY=VALUE", help="A profile key for every request, e.g. ttft_ms=400 (repeatable)."),
    ] = None,
    header_timeout: Annotated[
        float, typer.Option("--header-timeout", min=0.001, max=86_400, help="Seconds to receive a request head.")
    ] = 5.0,
    body_timeout: Annotated[
        float, typer.Option("--body-timeout", min=0.001, max=86_400, help="Seconds to receive a body; a short one gets 400.")
    ] = 5.0,
    idle_timeout: Annotated[
        float, typer.Option("--idle-timeout", min=0.001, max=86_400, help="Seconds a kept-alive connection may sit idle.")
    ] = 60.0,
) -> None:
    """Serve the provider emulator (Groq, OpenAI and Anthropic wire formats) until Ctrl-C."""
    from bench.emulator.__main__ import main as emulator_main

    _emulator_settings(set_ or [], "--set")  # checked before the port is taken
    timeouts = {"--header-timeout": header_timeout, "--body-timeout": body_timeout, "--idle-timeout": idle_timeout}
    for option, seconds in timeouts.items():
        if not math.isfinite(seconds):  # click's range lets nan through
            raise BenchError(f"{option} {seconds}: expected a number of seconds")
    _check_port_free(host, port)
    args = ["--host", host, "--port", str(port), "--seed", str(seed)]
    for option, seconds in timeouts.items():
        args += [option, repr(seconds)]
    for item in set_ or []:
        args += ["--set", item]
    if chunk_log is not None:
        args += ["--chunk-log", str(chunk_log)]
    code = emulator_main(args)
    if code:
        sys.exit(code)
