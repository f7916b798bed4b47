"""pytest plugin (entry point ``pytest11: bench``): benchmark a provider inside your own tests.

Installing bench enables it. A test asks for the ``bench_run`` fixture, runs a scenario (or a
slice of one), and asserts on the result::

    from bench.pytest_plugin import assert_no_regression, assert_slo

    def test_groq_is_fast(bench_run):
        result = bench_run("scenarios/quickstart.toml", targets=["groq/gpt-oss-120b"], requests=50)
        assert_slo(result)                                  # the scenario's [slo] table
        assert_no_regression(result, baseline="quickstart", metrics=["ttft_ms"], threshold="10%")

Options (command line, or ini keys in ``pytest.ini``/``pyproject.toml``):

``--bench-emulate`` / ``bench_emulate = true``
    run against the built-in emulator (no keys, no network); a call's ``emulate=`` wins.
``--bench-results DIR`` / ``bench_results``
    where runs are written (default: a session temporary directory).
``--bench-baselines DIR`` / ``bench_baselines``
    where ``assert_no_regression`` finds saved baselines (default ``baselines``, relative to
    the rootdir).

Helpers:

``assert_slo(result, slo=None)``
    fails the test when an SLO fails *or has no data* (a check that could not be judged is
    not a pass); the message starts with the same sentence ``bench check`` prints.
``assert_no_regression(result, baseline, *, metrics=None, threshold=None, strict=False)``
    fails the test on a regression, with ``bench compare``'s statistics. Comparisons that
    could not be judged (too few samples, a load level missing on one side, an unfinished
    run) do not fail it by default: they raise a :class:`BenchGateWarning`, which pytest
    lists in its warnings summary. ``strict=True`` fails the test on them instead, as
    ``bench compare --strict`` exits 2 — use it once the suite sends enough requests.

Failures point at your test, not at this module: the helpers hide their own frames from the
traceback (``__tracebackhide__``).

Runs are cached for the session: two tests asking for the same scenario slice share one run.
This module imports nothing heavy at import time, since pytest loads it in every session.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.analysis.loaded import LoadedRun

try:
    import pytest
except ImportError as exc:  # pragma: no cover - exercised in a subprocess without pytest
    raise ImportError(
        "bench.pytest_plugin needs pytest, which is not installed in this environment: "
        "pip install pytest (the rest of bench works without it)"
    ) from exc

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas as pd

    from bench.gate.compare import Comparison
    from bench.scenario.slo import SloSpec


class BenchGateWarning(UserWarning):
    """A regression gate that passed without judging everything (too few samples, a missing group)."""


#: Where baselines are looked up when a helper is called without ``baselines=``; set from the
#: ini/option at configure time so helpers work outside fixtures too.
_settings: dict[str, Any] = {"baselines": Path("baselines")}


@dataclass
class BenchResult(LoadedRun):
    """One finished run (``bench.analysis.loaded.LoadedRun``), with its aggregates computed on first use."""

    _aggregates: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def aggregates(self) -> pd.DataFrame:
        """One row per (target, load level): n, error rate, percentiles, CIs, goodput."""
        if self._aggregates is None:
            from bench.analysis.metrics import aggregate

            self._aggregates = aggregate(self.frame, self.slo)
        return self._aggregates


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("bench", "bench: LLM inference benchmarks")
    group.addoption(
        "--bench-emulate",
        action="store_true",
        default=None,
        help="bench_run: run scenarios against the built-in emulator (no keys, no network).",
    )
    group.addoption(
        "--bench-results", default=None, metavar="DIR", help="bench_run: results root (default: a temporary directory)."
    )
    group.addoption("--bench-baselines", default=None, metavar="DIR", help="assert_no_regression: where saved baselines live.")
    parser.addini("bench_emulate", type="bool", default=False, help="bench_run: run scenarios against the built-in emulator.")
    parser.addini("bench_results", default="", help="bench_run: results root (default: a temporary directory).")
    parser.addini("bench_baselines", default="baselines", help="assert_no_regression: baselines directory (relative to rootdir).")


def _option(config: pytest.Config, name: str) -> Any:
    value = config.getoption(f"--bench-{name}")
    return value if value is not None else config.getini(f"bench_{name}")


def pytest_configure(config: pytest.Config) -> None:
    baselines = Path(str(_option(config, "baselines") or "baselines"))
    _settings["baselines"] = baselines if baselines.is_absolute() else config.rootpath / baselines


RunFactory = Callable[..., BenchResult]


@pytest.fixture(scope="session")
def bench_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> RunFactory:
    """Factory: ``bench_run(scenario, *, targets=None, requests=None, concurrency=None, rate=None,
    emulate=None) -> BenchResult``. Runs once per distinct arguments per session."""
    config = request.config
    cache: dict[tuple[Any, ...], BenchResult] = {}
    results = str(_option(config, "results") or "")
    root = Path(results) if results else tmp_path_factory.mktemp("bench-results")
    if not root.is_absolute():
        root = config.rootpath / root

    def run(
        scenario: str | os.PathLike[str],
        *,
        targets: Iterable[str] | None = None,
        requests: int | None = None,
        concurrency: Iterable[int] | None = None,
        rate: Iterable[float] | None = None,
        emulate: bool | None = None,
    ) -> BenchResult:
        from bench.run.runner import run_scenario

        path = Path(scenario)
        if not path.is_absolute() and not path.exists():
            path = config.rootpath / path
        use_emulator = bool(_option(config, "emulate")) if emulate is None else emulate
        key = (
            str(path.resolve()),
            tuple(targets) if targets is not None else None,
            requests,
            tuple(concurrency) if concurrency is not None else None,
            tuple(rate) if rate is not None else None,
            use_emulator,
        )
        if key not in cache:
            outcome = run_scenario(
                path,
                out=root,
                emulate=use_emulator,
                targets=list(targets) if targets is not None else None,
                requests=requests,
                concurrency=list(concurrency) if concurrency is not None else None,
                rate=list(rate) if rate is not None else None,
                quiet=True,
            )
            cache[key] = BenchResult(Path(outcome.run_dir), outcome.meta)
        return cache[key]

    return run


def _as_result(result: Any) -> BenchResult:
    if isinstance(result, BenchResult):
        return result
    if isinstance(result, LoadedRun):  # bench.run.runner.RunResult
        return BenchResult(result.run_dir, result.meta, result._frame, result._measured)
    run_dir = getattr(result, "run_dir", None)
    if run_dir is not None:  # anything shaped like a run
        meta = getattr(result, "meta", None)
        return BenchResult(Path(run_dir), meta) if meta is not None else BenchResult.from_run_dir(run_dir)
    if isinstance(result, (str, os.PathLike)):
        return BenchResult.from_run_dir(result)
    raise TypeError(f"expected a BenchResult, a RunResult or a run directory, got {type(result).__name__}")


def assert_slo(result: Any, slo: SloSpec | dict[str, float] | None = None, *, seed: int = 0) -> None:
    """Fail the test when an SLO fails (or has no data), listing every verdict that did.

    ``result``: a BenchResult/RunResult, a run directory, or a per-request DataFrame.
    ``slo``: an SloSpec, a raw ``[slo]`` table, or None for the run's own scenario's.
    """
    from bench.analysis.metrics import judge_slos
    from bench.scenario.slo import SloSpec, slo_from_table

    __tracebackhide__ = True
    if hasattr(result, "columns") and hasattr(result, "iloc"):  # a DataFrame
        frame, own = result, None
    else:
        bench_result = _as_result(result)
        frame, own = bench_result.frame, bench_result.slo
    spec = slo if isinstance(slo, SloSpec) else (slo_from_table(slo) if slo is not None else own)
    if spec is None or not spec.has_checks:
        raise AssertionError("no SLOs to assert: the scenario has no [slo] table and none was given")
    outcome = judge_slos(frame, spec, seed=seed)
    if not outcome.verdicts:
        raise AssertionError("no SLO checks: no measured requests")
    bad = [v for v in outcome.verdicts if v.passed is not True]
    if bad:
        lines = [
            f"{v.group.label}: {v.key} measured {v.measured:.4g} "
            f"({'≥' if v.at_least else '≤'} {v.threshold:g} required)" + (f" — no data: {v.reason}" if v.passed is None else "")
            for v in bad
        ]
        counts = f"{len(outcome.failed)} of {len(outcome.verdicts)} SLO checks failed"
        if outcome.no_data:
            counts += f", {len(outcome.no_data)} without data"
        raise AssertionError(f"{counts} ({outcome.headline}):\n  " + "\n  ".join(lines))


def assert_no_regression(
    result: Any,
    baseline: str,
    *,
    metrics: Iterable[str] | None = None,
    threshold: float | str | None = None,
    baselines: str | os.PathLike[str] | None = None,
    strict: bool = False,
    force: bool = False,
) -> Comparison:
    """Fail the test on a regression against saved baseline ``baseline`` (name or path).

    Same statistics and defaults as ``bench compare``; ``threshold`` is a fraction (0.1) or a
    percentage ("10%"). A comparison that could not be judged (too few samples, a group on
    one side only, an unfinished run) gives a :class:`BenchGateWarning`; ``strict=True``
    fails the test on it instead. Returns the Comparison for further assertions.
    """
    __tracebackhide__ = True
    from bench.fmt import parse_fraction
    from bench.gate.baseline import load_side
    from bench.gate.compare import DEFAULT_METRICS, DEFAULT_THRESHOLD, CompareSettings, Side, SideInfo, compare_sides
    from bench.gate.render import render_text

    bench_result = _as_result(result)
    if isinstance(threshold, str):
        value = parse_fraction(threshold)
    else:
        value = DEFAULT_THRESHOLD if threshold is None else float(threshold)
    settings = CompareSettings(metrics=tuple(metrics) if metrics else DEFAULT_METRICS, threshold=value)
    root = Path(baselines) if baselines is not None else _settings["baselines"]
    base = load_side(baseline, root=root)
    info = SideInfo.from_meta(str(bench_result.run_dir), "run", str(bench_result.run_dir), bench_result.meta)
    comparison = compare_sides(base, Side(info, bench_result), settings, force=force)
    code = comparison.exit_code(strict=strict)
    if code:
        raise AssertionError(render_text(comparison))
    if comparison.inconclusive:
        warnings.warn(
            BenchGateWarning(
                f"{comparison.headline} — the gate passed without judging everything: "
                + "; ".join(comparison.warnings)
                + " (strict=True fails the test instead)"
            ),
            stacklevel=2,
        )
    return comparison
