"""The ``bench`` command line. Each command group lives in its own module and registers on ``app``."""

from __future__ import annotations

from bench.cli import calibrate as _calibrate  # noqa: F401,E402
from bench.cli import gate as _gate  # noqa: F401,E402
from bench.cli import init as _init  # noqa: F401,E402
from bench.cli import report as _report  # noqa: F401,E402

# Importing a command module registers its commands on ``app``; help lists them in this order.
from bench.cli import run as _run  # noqa: F401,E402
from bench.cli import sweep as _sweep  # noqa: F401,E402
from bench.cli.app import app, run_app

__all__ = ["app", "run_app"]
