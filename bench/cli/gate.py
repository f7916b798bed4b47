"""``bench compare``, ``bench check`` and ``bench baseline save|list``: the CI gate's commands.

Exit status (docs/scenarios.md): 0 no regression / every SLO met, 1 regression / an SLO failed,
2 bad input (unreadable run, nothing in common, unknown metric, runs not comparable,
too few samples under ``--strict``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer

from bench.cli.app import app, fail
from bench.fmt import parse_fraction

if TYPE_CHECKING:  # pragma: no cover - typing only
    from bench.gate.render import Format

baseline_app = typer.Typer(help="Save and list baselines (small, meant to be committed).", no_args_is_help=True)
app.add_typer(baseline_app, name="baseline")

#: Bootstrap seeds are 32-bit, as numpy's legacy seeding and most tools take them.
MAX_SEED = 2**32 - 1

BaselinesOption = Annotated[Path, typer.Option("--baselines", help="Where saved baselines live.", envvar="BENCH_BASELINES")]
FormatOption = Annotated[str, typer.Option("--format", "-f", help="text | md | json")]
OutputOption = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write the report to FILE (the verdict line still prints).")
]
TargetOption = Annotated[
    list[str] | None, typer.Option("--target", "-T", help="Only this target label (repeatable). Default: every target.")
]
StrictOption = Annotated[
    bool,
    typer.Option("--strict", help="Exit 2 when the result is inconclusive (too few samples, a group missing, a run unfinished)."),
]


def _check_format(fmt: str) -> Format:
    from bench.gate.render import FORMATS

    if fmt not in FORMATS:
        raise fail(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return cast("Format", fmt)


def _emit(text: str, output: Path | None, summary: str) -> None:
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise fail(f"{output}: cannot write ({exc.strerror})") from None
    typer.echo(summary)


@app.command()
def compare(
    baseline: Annotated[str, typer.Argument(help="Run directory, results root (newest run) or saved baseline name.")],
    candidate: Annotated[str, typer.Argument(help="Run directory, results root (newest run) or saved baseline name.")],
    metric: Annotated[
        list[str] | None,
        typer.Option("--metric", "-m", help="Metric column to compare (repeatable). Default: ttft_ms and output_tps."),
    ] = None,
    threshold: Annotated[
        str, typer.Option("--threshold", "-t", help="Smallest change of a median that counts, e.g. 10%.")
    ] = "10%",
    min_samples: Annotated[
        int | None, typer.Option("--min-samples", help="Successful requests a side needed for a verdict.")
    ] = None,
    fmt: FormatOption = "text",
    output: OutputOption = None,
    target: TargetOption = None,
    force: Annotated[bool, typer.Option("--force", help="Compare runs even when they are not comparable (and say so).")] = False,
    strict: StrictOption = False,
    baselines: BaselinesOption = Path("baselines"),
    seed: Annotated[int, typer.Option("--seed", help="Bootstrap seed (verdicts are reproducible).")] = 0,
) -> None:
    """Compare a candidate run with a baseline: exit 1 on a regression that is large and real."""
    from bench.gate.baseline import load_side
    from bench.gate.compare import DEFAULT_METRICS, DEFAULT_MIN_SAMPLES, CompareSettings, compare_sides
    from bench.gate.render import render

    checked = _check_format(fmt)
    if not 0 <= seed <= MAX_SEED:  # numpy's generators take no negative seed
        raise fail(f"--seed {seed}: must be a whole number from 0 to {MAX_SEED}")
    settings = CompareSettings(
        metrics=tuple(metric) if metric else DEFAULT_METRICS,
        threshold=parse_fraction(threshold),
        min_samples=DEFAULT_MIN_SAMPLES if min_samples is None else min_samples,
        seed=seed,
        targets=tuple(target) if target else None,
    )
    base_side = load_side(baseline, root=baselines)
    cand_side = load_side(candidate, root=baselines)
    comparison = compare_sides(base_side, cand_side, settings, force=force)
    _emit(render(comparison, checked), output, comparison.headline)
    code = comparison.exit_code(strict=strict)
    if code == 2:
        raise fail("inconclusive, and --strict asks for a verdict on everything: " + "; ".join(comparison.warnings))
    for warning in comparison.warnings:
        typer.echo(f"bench: warning: {warning}", err=True)
    if code:
        raise typer.Exit(code)


# --------------------------------------------------------------------------- check


@app.command()
def check(
    run: Annotated[str, typer.Argument(help="Run directory, results root (newest run) or saved baseline name.")],
    scenario: Annotated[
        Path | None, typer.Option("--scenario", "-s", help="Take the SLOs from this scenario file instead of the run's own.")
    ] = None,
    target: TargetOption = None,
    fmt: FormatOption = "text",
    output: OutputOption = None,
    strict: StrictOption = False,
    baselines: BaselinesOption = Path("baselines"),
) -> None:
    """Evaluate the scenario's SLOs (its slo table) on a run: exit 1 when any SLO fails."""
    from bench.analysis.metrics import judge_slos
    from bench.gate.baseline import load_side
    from bench.gate.render import render_check
    from bench.scenario.slo import slo_for_scenario

    _check_format(fmt)
    side = load_side(run, root=baselines)
    if scenario is not None:
        from bench.scenario.model import load_scenario

        spec = load_scenario(scenario).slo_spec
        source = str(scenario)
    else:
        spec = slo_for_scenario(side.meta.scenario)
        source = f"{side.info.label}'s scenario"
    if not spec.has_checks:
        raise fail(f"no SLOs to check in {source}: add an [slo] table, or give --scenario FILE")
    frame = side.frame
    if target:
        known = set(frame["target"].dropna().astype(str))
        unknown = [t for t in target if t not in known]
        if unknown:
            raise fail(f"unknown target {unknown[0]!r} (the run has: {', '.join(sorted(known))})")
        frame = frame[frame["target"].isin(target)]
    outcome = judge_slos(frame, spec)
    if not outcome.verdicts:
        raise fail(f"{side.info.label}: no measured requests to check")
    text, headline = render_check(side.info.label, outcome, fmt)
    _emit(text, output, headline)
    if outcome.failed:
        raise typer.Exit(1)
    if outcome.no_data:
        if strict:
            raise fail(f"{len(outcome.no_data)} SLO check(s) had no data to judge (--strict): {outcome.no_data_text()}")
        typer.echo(
            f"bench: warning: {len(outcome.no_data)} SLO check(s) had no data, so the SLOs are not shown to be met "
            f"({outcome.no_data_text()}); --strict makes this exit 2",
            err=True,
        )


# --------------------------------------------------------------------------- baselines


@baseline_app.command("save")
def baseline_save(
    name: Annotated[str, typer.Argument(help="Baseline name (letters, digits, . _ -).")],
    run: Annotated[Path, typer.Argument(help="Run directory, or a results root (its newest run).")],
    baselines: BaselinesOption = Path("baselines"),
    force: Annotated[bool, typer.Option("--force", help="Replace an existing baseline of that name.")] = False,
) -> None:
    """Save a run as a baseline: aggregates plus the per-request samples the gate needs."""
    from bench.gate.baseline import save_baseline

    info = save_baseline(name, run, root=baselines, overwrite=force)
    size = sum(p.stat().st_size for p in info.path.iterdir())
    typer.echo(
        f"saved baseline {info.name!r} from run {info.run_id} ({info.requests} requests, {size / 1024:.1f} KiB) in {info.path}"
    )


@baseline_app.command("list")
def baseline_list(baselines: BaselinesOption = Path("baselines")) -> None:
    """List saved baselines."""
    from tabulate import tabulate

    from bench.gate.baseline import list_baselines

    infos = list_baselines(baselines)
    if not infos:
        typer.echo(f"no baselines in {baselines}")
        return
    rows = [
        {
            "name": b.name,
            "scenario": b.scenario_name or "—",
            "run": b.run_id,
            "requests": b.requests,
            "emulated": {True: "yes", False: "no", None: "?"}[b.emulated],
            "saved": b.saved_at or "—",
        }
        for b in infos
    ]
    typer.echo(tabulate(rows, headers="keys", tablefmt="simple", disable_numparse=True))
