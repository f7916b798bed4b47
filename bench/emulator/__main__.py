"""``python -m bench.emulator``: run the emulator until SIGINT or SIGTERM.

It prints ``bench emulator listening on http://HOST:PORT`` once it accepts connections, and
with ``--port-file`` also writes the port there (atomically) for a parent process to read.
``--parent-pid PID`` makes it exit once its parent is no longer PID (the parent died and it was
re-parented), so a harness killed with SIGKILL does not leave an orphan server behind. The pid
comes from the parent because a parent that dies during our start-up would otherwise go unseen.
Every option is described in docs/emulator.md.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from bench.emulator.handle import base_url
from bench.emulator.profiles import OverrideError, parse_settings
from bench.emulator.server import EmulatorServer, ServerConfig
from bench.event_loop import run
from bench.schema import FAULT_KINDS

_PARENT_POLL_S = 0.5


def _seconds(text: str) -> float:
    """A timeout: a finite number of seconds above 0 (at most a day)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not (math.isfinite(value) and 0 < value <= 86_400):
        raise argparse.ArgumentTypeError(f"{text!r}: expected seconds above 0 and at most 86400")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.emulator",
        description="Emulate the Groq, OpenAI and Anthropic APIs on loopback for bench.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    parser.add_argument("--port", type=int, default=0, help="port (0: any free port)")
    parser.add_argument("--seed", type=int, default=0, help="seed for requests that bring none")
    parser.add_argument("--chunk-log", type=Path, help="append one JSON line per request here")
    parser.add_argument("--port-file", type=Path, help="write the bound port here once listening")
    parser.add_argument(
        "--strict-models",
        action="store_true",
        help="answer retired models 400 model_decommissioned and unknown ones 404, as the real APIs",
    )
    parser.add_argument("--parent-pid", type=int, help="exit when the parent process is no longer this one")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a profile key for every request, over its own x-bench-emulator (repeatable), e.g. ttft_ms=400",
    )
    parser.add_argument("--seed-salt", type=int, help="mixed into every request's seed: fresh draws, still reproducible")
    parser.add_argument("--header-timeout", type=_seconds, default=5.0, help="seconds to receive a request head (default 5)")
    parser.add_argument(
        "--body-timeout", type=_seconds, default=5.0, help="seconds to receive a request body; short ones get 400 (default 5)"
    )
    parser.add_argument(
        "--idle-timeout", type=_seconds, default=60.0, help="seconds a kept-alive connection may sit idle (default 60)"
    )
    return parser


async def serve(args: argparse.Namespace, settings: dict[str, object]) -> None:
    config = ServerConfig(
        host=args.host,
        port=args.port,
        seed=args.seed,
        chunk_log=args.chunk_log,
        strict_models=args.strict_models,
        header_timeout_s=args.header_timeout,
        body_timeout_s=args.body_timeout,
        idle_timeout_s=args.idle_timeout,
        settings=settings,
        seed_salt=args.seed_salt,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):  # before anyone can know we are up
        loop.add_signal_handler(signum, stop.set)
    server = EmulatorServer(config)
    port = await server.start()
    print(f"bench emulator listening on {base_url(args.host, port)}", flush=True)
    if args.port_file is not None:
        partial = args.port_file.with_name(args.port_file.name + ".part")
        partial.write_text(str(port), encoding="utf-8")
        partial.replace(args.port_file)
    watcher = asyncio.create_task(_watch_parent(args.parent_pid, stop)) if args.parent_pid else None
    try:
        await stop.wait()
    finally:
        if watcher is not None:
            watcher.cancel()
        await server.close()


async def _watch_parent(parent: int, stop: asyncio.Event) -> None:
    """An orphan is re-parented (to init or a subreaper), so its parent id changes."""
    while os.getppid() == parent:
        await asyncio.sleep(_PARENT_POLL_S)
    stop.set()


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = parse_settings(args.set, FAULT_KINDS)
    except OverrideError as exc:
        parser.error(f"--set {exc}")  # exits 2
    try:
        run(serve(args, settings))  # on uvloop where installed: see bench.event_loop
    except OSError as exc:  # e.g. the port is taken
        print(f"bench emulator: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C before the signal handlers were installed
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
