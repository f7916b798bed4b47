"""``bench sweep``: the highest load at which a scenario's SLOs still hold, per target."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from bench.cli.app import app
from bench.errors import BenchError

if TYPE_CHECKING:
    from bench.campaigns.sweep import Probe, TargetSweep

ClientName = Literal["fast", "sdk"]

_HELP = """Find each target's capacity: the highest concurrency (or request rate) at which the scenario's SLOs hold.

    The search starts at the scenario's first load level, doubles it while every SLO check
    passes, then bisects between the highest passing and the lowest failing level until they
    are one stream apart (open loop: within --precision, 10 % by default). Each probe is a real
    run of one target at one level with the scenario's requests and warm-up, kept as its own
    run directory. A probe whose SLOs could not be judged (no data) is inconclusive: never a
    pass, and that target's search stops there. The scenario needs an \\[slo] table.

    Writes OUT/<sweep-id>/ with sweep.json (every probe's figures and SLO verdicts), sweep.md
    (table and answer per target), sweep.png (latency and throughput against load, knee
    marked) and runs/ (one run directory per probe). Exit 0 when the search completed, 2 on
    bad input, 130 when interrupted.
    """


def _probe_line(p: Probe) -> str:
    from bench.schema import LoadLevel

    figures = []
    if p.n:
        figures.append(f"n {p.n}" + (f", {p.errors} errors" if p.errors else ""))
    for name, value, unit in (
        (f"{p.shape} (slowest shape): TTFT p50" if p.shape else "TTFT p50", p.ttft_p50_ms, " ms"),
        ("p99", p.ttft_p99_ms, " ms"),
        ("", p.agg_output_tps, " tok/s"),
    ):
        if math.isfinite(value):
            figures.append(f"{name} {value:,.0f}{unit}".strip())
    verdict = {"pass": "pass", "fail": "FAIL", "inconclusive": "INCONCLUSIVE", "interrupted": "interrupted"}[p.verdict]
    why = f" — {p.why}" if p.verdict in ("fail", "inconclusive") else ""
    return f"  {p.target} @ {LoadLevel.of(p.mode, p.level).text}: {verdict} ({', '.join(figures) or 'no data'}){why}"


def check_levels(mode: str, *, start: float | None, max_rate: float | None, precision: float) -> None:
    """NaN, infinities and magnitudes no scenario may hold are refused here, before the sweep
    prints its plan (a level of 1e308 would print as 309 digits first)."""
    from bench.scenario.load import MAX_CONCURRENCY_LEVEL, MAX_RATE_LEVEL

    for option, value in (("--start", start), ("--max-rate", max_rate)):
        if value is None:
            continue
        if not math.isfinite(value):
            raise BenchError(f"{option} {value:g}: must be a finite number")
        if value <= 0:
            raise BenchError(f"{option} {value:g}: must be greater than 0")
        if mode == "concurrency" and value > MAX_CONCURRENCY_LEVEL:
            raise BenchError(f"{option} {value:g}: at most {MAX_CONCURRENCY_LEVEL} streams")
        if mode == "rate" and value > MAX_RATE_LEVEL:
            raise BenchError(f"{option} {value:g}: at most {MAX_RATE_LEVEL:g} requests/s")
    if not (math.isfinite(precision) and 0 < precision < 1):
        raise BenchError(f"--precision {precision:g}: must be between 0 and 1 (e.g. 0.1 for 10 %)")


@app.command(help="\n\n".join(" ".join(part.split()) for part in _HELP.split("\n\n")))
def sweep(
    scenario: Annotated[Path, typer.Argument(help="Scenario file (TOML) with an \\[slo] table.", show_default=False)],
    emulate: Annotated[bool, typer.Option("--emulate", help="Probe the built-in emulator (no keys, no network).")] = False,
    client: Annotated[
        ClientName | None,
        typer.Option(
            "--client", help="Client path for every target: fast (lean HTTP client, the default) or sdk (official SDKs)."
        ),
    ] = None,
    max_concurrency: Annotated[
        int | None,
        typer.Option("--max-concurrency", min=1, max=10_000, help="Highest concurrency the search may try (default 256)."),
    ] = None,
    max_rate: Annotated[
        float | None,
        typer.Option("--max-rate", help="Open loop: highest request rate the search may try (default 256)."),
    ] = None,
    start: Annotated[
        float | None, typer.Option("--start", help="First level to probe (default: the scenario's first level).")
    ] = None,
    precision: Annotated[
        float, typer.Option("--precision", help="Open loop: stop bisecting when the bracket is within this share (0.1 = 10 %).")
    ] = 0.10,
    requests: Annotated[
        int | None, typer.Option("--requests", "-n", min=1, help="Measured requests per probe (default: the scenario's).")
    ] = None,
    target: Annotated[
        list[str] | None, typer.Option("--target", "-T", metavar="<label>", help="Only this target label (repeatable).")
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Results root; the sweep goes to OUT/<sweep-id>/.")] = Path("results"),
) -> None:
    from bench.campaigns.sweep import SweepOptions
    from bench.campaigns.sweep import sweep as run_sweep
    from bench.report.sweep import write_outputs
    from bench.run.stop_signals import StopSignals
    from bench.scenario.model import load_scenario

    loaded = load_scenario(scenario, client=client)
    mode = loaded.load.mode
    check_levels(mode, start=start, max_rate=max_rate, precision=precision)
    if mode == "concurrency" and max_rate is not None:
        raise BenchError(f"--max-rate: {scenario} runs closed loop ([load] concurrency); use --max-concurrency")
    if mode == "rate" and max_concurrency is not None:
        raise BenchError(f"--max-concurrency: {scenario} runs open loop ([load] rate); use --max-rate")
    if mode == "concurrency" and start is not None and not float(start).is_integer():
        raise BenchError(f"--start {start:g}: concurrency is a whole number of streams")
    ceiling = max_concurrency if mode == "concurrency" else max_rate
    from bench.cli.run import warn_deprecated

    warn_deprecated(loaded)
    options = SweepOptions(
        out=out, emulate=emulate, client=client, targets=target, requests=requests, start=start,
        max_level=float(ceiling) if ceiling is not None else None, precision=precision,
        stop_signals=StopSignals(lambda message: typer.echo(f"bench: warning: {message}", err=True)).install(),
    )  # fmt: skip

    def on_target(done: TargetSweep) -> None:
        typer.echo(f"{done.target}: {done.answer()}")

    from bench.campaigns.sweep import check_sweepable, settings_for

    names = check_sweepable(loaded, target, client)
    settings = settings_for(loaded, options)
    emulated = emulate or loaded.scenario.emulate
    typer.echo(
        f"capacity search of {loaded.name!r}{' on the emulator' if emulated else ''}: {len(names)} target"
        f"{'' if len(names) == 1 else 's'}; {settings.describe()}"
    )
    result = run_sweep(
        loaded, options, on_probe=lambda p: typer.echo(_probe_line(p)), on_target=on_target, write_report=write_outputs
    )
    typer.echo(f"sweep: {result.sweep_dir} (sweep.md, sweep.json, sweep.png; one run per probe under runs/)")
    if result.interrupted:
        typer.echo("bench: interrupted: the search stopped; what finished is written", err=True)
        raise typer.Exit(130)
