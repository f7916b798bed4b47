"""``bench calibrate``: how accurate this machine's measurements are, against an emulator with exact timing."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bench.cli.app import app
from bench.errors import BenchError
from bench.scenario.load import MAX_CONCURRENCY_LEVEL

if TYPE_CHECKING:  # the command imports bench.campaigns.calibrate (numpy, pandas) only when it runs; the grid is a results record
    from bench.results.calibration import CalibrationGrid

DEFAULT_SAVE = Path("results") / "calibration.json"
#: A cell's requests and tokens at most as a scenario's [load] requests and [request] max_tokens.
MAX_REQUESTS = 10_000_000
MAX_TOKENS = 1_000_000


def _ints(value: str, option: str) -> list[int]:
    try:
        out = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise BenchError(f"{option} {value!r}: expected whole numbers separated by commas, e.g. 1,8,16") from None
    if not out or any(v < 1 for v in out):
        raise BenchError(f"{option} {value!r}: streams must be 1 or more")
    if any(v > MAX_CONCURRENCY_LEVEL for v in out):
        raise BenchError(f"{option} {value!r}: streams must be at most {MAX_CONCURRENCY_LEVEL}")
    return sorted(set(out))


def _floats(value: str, option: str) -> list[float]:
    try:
        out = [float(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise BenchError(f"{option} {value!r}: expected numbers separated by commas, e.g. 100,800") from None
    if not out or any(not (0 < v <= 100_000) for v in out):
        raise BenchError(f"{option} {value!r}: rates must be greater than 0 and at most 100000")
    return sorted(set(out))


def _names(value: str, option: str, known: tuple[str, ...] | list[str]) -> list[str]:
    out = list(dict.fromkeys(part.strip() for part in value.split(",") if part.strip()))
    unknown = [name for name in out if name not in known]
    if not out or unknown:
        what = repr(unknown[0]) if unknown else "nothing"
        raise BenchError(f"{option} {value!r}: {what} is not one of {', '.join(known)}")
    return out


def _estimate_s(grid: CalibrationGrid) -> float:
    """Rough wall time: each cell runs (requests + warm-up) / streams waves of TTFT + tokens / speed."""
    per_provider_client = 0.0
    for streams in grid.concurrency:
        for tps in grid.tokens_per_s:
            waves = math.ceil((grid.requests + streams) / streams)
            per_provider_client += waves * (grid.ttft_ms / 1000 + grid.tokens / tps) + 0.5
    return per_provider_client * len(grid.providers) * len(grid.clients)


_HELP = """Measure the harness's own timing error on this machine, per client path and load.

    Runs the harness against the built-in emulator with exact timing (TTFT 50 ms, jitter 0, one
    token per chunk, ignore_eos) and compares each request with the emulator's own chunk log.
    Per cell (provider × client × streams × tokens/s) it prints the TTFT error p50 / p99 (ms), the
    mean inter-token error and TPOT error (%), and the client's sdk_prep p50; then, per client
    path, the highest load (streams × tokens/s) within 1 ms (TTFT p50 and p99 error) and 1 % (mean
    inter-token error). Run it once on a new load-generator machine. A client path this install
    does not have is skipped with a note.

    The default grid (3 providers × 6 loads, 30 requests of 120 tokens per cell) takes about 3
    minutes per client path on 2 cores; --quick about 10 s. --save writes the verdict as JSON to
    results/calibration.json (or --save PATH), where bench looks for it to show in reports.
    """


@app.command(help="\n\n".join(" ".join(part.split()) for part in _HELP.split("\n\n")))
def calibrate(
    concurrency: Annotated[
        str | None, typer.Option("--concurrency", "-c", help="Streams per cell, e.g. 1,8,16 (default 1,8,16).")
    ] = None,
    tokens_per_s: Annotated[
        str | None, typer.Option("--tokens-per-s", help="Emulated output speeds per stream, e.g. 100,800 (default 100,800).")
    ] = None,
    client: Annotated[str, typer.Option("--client", help="Client paths to calibrate: sdk, fast or sdk,fast.")] = "sdk,fast",
    providers: Annotated[
        str, typer.Option("--providers", help="Wire formats / SDKs to drive: groq, openai, anthropic (comma-separated).")
    ] = "groq,openai,anthropic",
    requests: Annotated[
        int | None, typer.Option("--requests", "-n", help="Measured requests per cell (default 30; warm-up = streams).")
    ] = None,
    tokens: Annotated[
        int | None, typer.Option("--tokens", help="Output tokens per request, one per chunk (default 120).")
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", "-w", min=1, max=256, help="Processes sharing each cell's load.")
    ] = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="One small grid: 1,8 streams × 800 tokens/s, 8 requests of 60 tokens.")
    ] = False,
    save: Annotated[
        bool,
        typer.Option(
            "--save",
            help=f"Save the result as JSON: to PATH when given (--save PATH), else to {DEFAULT_SAVE}, where runs and reports look for it.",
        ),
    ] = False,
    path: Annotated[
        Path | None,
        typer.Argument(metavar="PATH", help=f"With --save: the JSON file to write (default {DEFAULT_SAVE}).", show_default=False),
    ] = None,
) -> None:
    from bench.campaigns import calibrate as cal
    from bench.report.calibration import HEADER, cell_row, verdict_lines
    from bench.results.calibration import MODELS, CalibrationGrid
    from bench.scenario.model import CLIENTS

    if requests is not None and requests < 1:
        raise BenchError(f"--requests {requests}: must be 1 or more")
    if tokens is not None and tokens < 2:
        raise BenchError(f"--tokens {tokens}: must be 2 or more (inter-token error needs two chunks)")
    if tokens is not None and tokens > MAX_TOKENS:
        raise BenchError(f"--tokens {tokens}: at most {MAX_TOKENS} (a request's max_tokens)")
    if requests is not None and requests > MAX_REQUESTS:
        raise BenchError(f"--requests {requests}: at most {MAX_REQUESTS} per cell")
    grid = CalibrationGrid.default(quick)
    grid.providers = _names(providers, "--providers", list(MODELS))
    grid.clients = _names(client, "--client", CLIENTS)
    if concurrency:
        grid.concurrency = _ints(concurrency, "--concurrency")
    if tokens_per_s:
        grid.tokens_per_s = _floats(tokens_per_s, "--tokens-per-s")
    if requests is not None:
        grid.requests = requests
    if tokens is not None:
        grid.tokens = tokens
    grid.workers = workers
    grid.check()
    if path is not None and not save:
        raise BenchError(f"{path}: a path is only taken with --save (bench calibrate --save {path})")
    target = (path or DEFAULT_SAVE) if save else None
    if target is not None and target.is_dir():
        raise BenchError(f"--save {target}: is a directory; give a file path (e.g. {target / 'calibration.json'})")

    from bench.results import provenance

    here = provenance.host()
    cells = len(grid.providers) * len(grid.clients) * len(grid.concurrency) * len(grid.tokens_per_s)
    seconds = _estimate_s(grid)
    about = f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"
    typer.echo(
        f"calibrating {here.get('hostname')} ({here.get('cpu_count')} cores): {cells} cells of {grid.requests} requests × "
        f"{grid.tokens} tokens against the emulator (TTFT {grid.ttft_ms:g} ms, jitter 0); about {about}"
    )
    typer.echo(HEADER)
    result = cal.calibrate(
        grid,
        on_cell=lambda cell: typer.echo(cell_row(cell)),
        note=lambda message: typer.echo(f"bench: note: {message}", err=True),
    )
    if not result.cells:
        reasons = "; ".join(v.skipped or "" for v in result.verdicts.values())
        raise BenchError(f"--client {client}: nothing to calibrate ({reasons})")
    typer.echo("")
    for line in verdict_lines(result):
        typer.echo(line)
    if target is not None:
        typer.echo(f"saved: {result.save(target)}")
