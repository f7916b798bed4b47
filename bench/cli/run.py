"""``bench run``, ``validate``, ``models`` and ``emulate``: the commands a user meets first."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from bench.cli.app import app
from bench.errors import BenchError
from bench.scenario import CLIENTS, load_scenario


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
    if not levels or any(level <= 0 for level in levels):
        raise BenchError(f"{option} {value!r}: rates must be greater than 0")
    return levels


@app.command()
def run(
    scenario: Annotated[Path, typer.Argument(help="Scenario file (TOML).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Results root; the run goes to OUT/<run-id>/.")] = Path("results"),
    emulate: Annotated[bool, typer.Option("--emulate", help="Run every target against the built-in emulator (no keys, no network).")] = False,
    target: Annotated[Optional[list[str]], typer.Option("--target", "-t", help="Only this target label (repeatable).")] = None,
    requests: Annotated[Optional[int], typer.Option("--requests", "-n", min=1, help="Measured requests per level.")] = None,
    concurrency: Annotated[Optional[str], typer.Option("--concurrency", "-c", help="Closed-loop levels, e.g. 1,4,16.")] = None,
    rate: Annotated[Optional[str], typer.Option("--rate", help="Open-loop levels in requests/s, e.g. 2,8.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")] = False,
    no_report: Annotated[bool, typer.Option("--no-report", help="Do not write the report into the run directory.")] = False,
    client: Annotated[
        Optional[str], typer.Option("--client", help="Client path for every target: sdk (official SDKs, default) or fast (lean HTTP client).")
    ] = None,
    workers: Annotated[Optional[int], typer.Option("--workers", "-w", min=1, max=256, help="Processes that share each level's load.")] = None,
    executor: Annotated[str, typer.Option("--executor", help="Where the load runs: local (this machine) or ray (Ray actors; pip install '.[ray]').")] = "local",
    address: Annotated[Optional[str], typer.Option("--address", help="With --executor ray: the Ray cluster address (default: start a local Ray).")] = None,
) -> None:
    """Run a scenario: every target x load level x request, each timed and written as it finishes."""
    from bench.runner import run_scenario
    from bench.summary import print_summary

    if concurrency and rate:
        raise BenchError("--concurrency and --rate: give one or the other")
    if executor not in ("local", "ray"):
        raise BenchError(f"--executor {executor!r}: expected local or ray")
    if address is not None and executor != "ray":
        raise BenchError("--address: only with --executor ray")
    if client is not None and client not in CLIENTS:
        raise BenchError(f"--client {client!r}: expected one of {', '.join(CLIENTS)}")
    loaded = load_scenario(scenario)
    result = run_scenario(
        loaded,
        out=out,
        emulate=emulate,
        targets=target,
        requests=requests,
        concurrency=_int_list(concurrency, "--concurrency"),
        rate=_float_list(rate, "--rate"),
        quiet=quiet,
        client=client,
        workers=workers,
        executor=executor,
        address=address,
    )
    frame = result.frame
    print_summary(frame, result.meta)
    if not no_report and len(frame):
        _write_report(result.run_dir)
    typer.echo(f"results: {result.run_dir}")
    if result.interrupted:
        raise typer.Exit(130)
    measured = frame[~frame["warmup"]]
    if not (measured["status"] == "ok").any():
        typer.echo("bench: no measured request succeeded", err=True)
        raise typer.Exit(1)


def _write_report(run_dir: Path) -> None:
    try:
        from bench.report import render_report
    except ImportError:  # pragma: no cover - reports arrive in their own module
        return
    path = render_report([run_dir], run_dir / "report")
    typer.echo(f"report: {path}")


@app.command()
def validate(scenario: Annotated[Path, typer.Argument(help="Scenario file (TOML).")]) -> None:
    """Check a scenario file without sending anything."""
    loaded = load_scenario(scenario)
    load = loaded.load
    amount = f"{load.requests} requests" if load.requests is not None else f"{load.duration_s:g} s"
    levels = ", ".join(f"{level:g}" for level in load.levels)
    typer.echo(f"{scenario}: ok — scenario {loaded.name!r}")
    for t in loaded.target:
        where = f" at {t.base_url}" if t.base_url else ""
        key = f", key from ${t.key_env}" if t.key_env else ", no key"
        typer.echo(f"  target {t.name}: {t.provider} {t.model}{where}{key}")
    typer.echo(f"  load: {load.mode} {levels}; {amount} per level (+{load.warmup} warm-up); timeout {load.timeout_s:g} s")
    if loaded.slo:
        typer.echo("  slo: " + ", ".join(f"{k} = {v:g}" for k, v in loaded.slo.items()))


@app.command()
def models(
    provider: Annotated[Optional[str], typer.Argument(help="groq, openai, anthropic or openai-compatible.")] = None,
    live: Annotated[bool, typer.Option("--live/--no-live", help="Also ask the provider's models endpoint (needs its key).")] = True,
) -> None:
    """The model catalogue (and, with the provider's key set, its live models list)."""
    from rich.console import Console
    from rich.table import Table

    from bench.catalogue import load_catalogue
    from bench.scenario import DEFAULT_KEY_ENV, PROVIDERS

    if provider is not None and provider not in PROVIDERS:
        raise BenchError(f"unknown provider {provider!r}; expected one of {', '.join(PROVIDERS)}")
    catalogue = load_catalogue()
    table = Table(title="bench model catalogue")
    for column in ("provider", "model", "status", "replacement", "emulated TTFT ms", "emulated tokens/s"):
        table.add_column(column)
    for info in catalogue.models(provider):
        replacement = info.replacement or ""
        if info.decommissioned_on:
            replacement = f"{replacement} (since {info.decommissioned_on})".strip()
        table.add_row(info.provider, info.id, info.status, replacement, f"{info.ttft_ms:g}", f"{info.tokens_per_s:g}")
    Console(width=160).print(table)
    if not live:
        return
    for name in [provider] if provider else ["groq", "openai", "anthropic"]:
        env = DEFAULT_KEY_ENV.get(name)
        if not env or not os.environ.get(env):
            if provider:
                typer.echo(f"(set {env} to also list {name}'s live models)" if env else "")
            continue
        typer.echo(f"{name} live models: " + ", ".join(_live_models(name, os.environ[env])))


def _live_models(provider: str, key: str) -> list[str]:
    import anyio

    from bench.failures import scrub
    from bench.providers import ClientSettings, make_provider

    async def fetch() -> list[str]:
        client = make_provider(provider, ClientSettings(None, key, 1, 20.0, 0))
        try:
            return await client.list_models()
        finally:
            await client.aclose()

    try:
        return anyio.run(fetch)
    except Exception as exc:  # noqa: BLE001
        return [f"(could not list: {scrub(str(exc), (key,))})"]


def _check_port_free(host: str, port: int) -> None:
    """A taken port is bad input (exit 2, one line), not a crash of the server."""
    import socket

    if port == 0:
        return
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise BenchError(f"--port {port}: cannot listen on {host}:{port} ({exc.strerror}); try --port 0 for any free port") from None


@app.command()
def emulate(
    port: Annotated[int, typer.Option("--port", "-p", min=0, max=65535, help="Port (0 = any free port).")] = 8765,
    host: Annotated[str, typer.Option("--host", help="Address to bind (loopback by default).")] = "127.0.0.1",
    seed: Annotated[int, typer.Option("--seed", help="Seed for latencies and faults.")] = 0,
    chunk_log: Annotated[Optional[Path], typer.Option("--chunk-log", help="Append each request's chunk write times (JSONL).")] = None,
) -> None:
    """Serve the provider emulator (Groq, OpenAI and Anthropic wire formats) until Ctrl-C."""
    from bench.emulator.__main__ import main as emulator_main

    _check_port_free(host, port)
    args = ["--host", host, "--port", str(port), "--seed", str(seed)]
    if chunk_log is not None:
        args += ["--chunk-log", str(chunk_log)]
    code = emulator_main(args)
    if code:
        sys.exit(code)
