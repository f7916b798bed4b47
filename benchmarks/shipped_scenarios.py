"""Run shipped scenarios as a new user would (``bench run SCENARIO --emulate``, default client)
and say, per scenario, whether the client kept within its health budget and whether the SLOs
held — the two things a first run must not get wrong on a small machine.

    python benchmarks/shipped_scenarios.py                          # groq-vs-peers and quickstart
    python benchmarks/shipped_scenarios.py scenarios/open-loop.toml --client sdk

Prints one line per scenario: wall time, levels within budget, the saturation findings and
the SLO headline. Exit status 1 when any scenario saturated its client or failed an SLO.
groq-vs-peers takes ~8 minutes (OpenAI- and Anthropic-speed targets at one stream).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from bench.analysis.metrics import judge_slos
from bench.analysis.saturation import saturation
from bench.run.runner import run_scenario
from bench.scenario.slo import slo_for_scenario

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = (ROOT / "scenarios" / "groq-vs-peers.toml", ROOT / "scenarios" / "quickstart.toml")


def check(path: Path, client: str | None) -> bool:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        result = run_scenario(path, out=Path(tmp), emulate=True, client=client, warn=lambda m: print(f"  warning: {m}"))
        elapsed = time.perf_counter() - start
        health = result.meta.client_health
        levels = health.levels if health else []
        findings = saturation(levels)
        spec = slo_for_scenario(result.meta.scenario)
        outcome = judge_slos(result.frame, spec) if spec.has_checks else None
        print(
            f"{path.name} (client {result.meta.client}): {elapsed:.0f} s; {len(levels) - len(findings)} of {len(levels)} "
            f"levels within the client's budget; {outcome.headline if outcome else 'no SLOs'}"
        )
        for finding in findings:
            print(f"  saturated: {finding.message}")
        if outcome is not None and outcome.failed:
            print(f"  failing: {outcome.failed_text(limit=10)}")
        return not findings and (outcome is None or outcome.status == "met")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenarios", nargs="*", type=Path, default=list(DEFAULT))
    parser.add_argument("--client", default=None, help="fast, sdk or fast,sdk (default: each scenario's own)")
    args = parser.parse_args(argv)
    ok = [check(path, args.client) for path in args.scenarios]
    return 0 if all(ok) else 1


if __name__ == "__main__":
    sys.exit(main())
