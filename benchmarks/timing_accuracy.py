"""How far the harness's TTFT and inter-token times are from the truth, per client path: ``bench calibrate`` as a script.

The measurement lives in :mod:`bench.campaigns.calibrate` (its docstring defines each error exactly):
the harness runs against the emulator with jitter 0, one token per chunk and ``ignore_eos``,
and every measured request is joined to the emulator's chunk log (CLOCK_MONOTONIC, the
harness's clock too):

    TTFT error       = harness ttft_ms − (first content chunk written − request read)   p50, p99
    inter-token err. = mean(harness itl_ms) ÷ mean(server gap between content chunks) − 1   mean %
    TPOT error       = harness tpot_ms ÷ mean server gap − 1                               mean %

Printed per provider × client path × streams × tokens/s, with ``sdk_prep_ms`` (the client's own
request-building cost, kept out of TTFT by stamping t0 at the transport) beside it, then each
client path's highest load within 1 ms / 1 %.

    python benchmarks/timing_accuracy.py                  # full grid, every provider and client path
    python benchmarks/timing_accuracy.py --quick          # one small grid
    python benchmarks/timing_accuracy.py --client sdk --providers groq
"""

from __future__ import annotations

import argparse
import sys

from bench.campaigns import calibrate as cal
from bench.errors import BenchError
from bench.report.calibration import HEADER, cell_row, verdict_lines
from bench.results.calibration import DEFAULT_CLIENTS, DEFAULT_PROVIDERS, CalibrationGrid


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--quick", action="store_true", help="one small grid (1,8 streams × 800 tokens/s, 8 requests of 60 tokens)"
    )
    parser.add_argument("--providers", default=",".join(DEFAULT_PROVIDERS))
    parser.add_argument("--client", default=",".join(DEFAULT_CLIENTS), help="sdk, fast or sdk,fast")
    args = parser.parse_args(argv)
    grid = CalibrationGrid.default(args.quick)
    grid.providers, grid.clients = args.providers.split(","), args.client.split(",")
    try:
        grid.check()
        print(HEADER, flush=True)
        result = cal.calibrate(
            grid,
            on_cell=lambda cell: print(cell_row(cell), flush=True),
            note=lambda message: print(f"note: {message}", file=sys.stderr, flush=True),
        )
    except BenchError as exc:
        print(f"timing_accuracy: error: {exc}", file=sys.stderr)
        return 2
    print()
    for line in verdict_lines(result):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
