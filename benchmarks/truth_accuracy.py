"""The harness against a server it did not write: TTFT and inter-token error per load, per client path.

``bench calibrate`` checks the harness against bench's own emulator; a bug shared by the two
(same clock helper, same SSE framing, same Python event loop habits) would cancel out there.
This script builds ``benchmarks/truth_server.c`` (C, one thread, epoll + an absolute-time
timerfd) from source, runs it as its own process, and points ``bench`` at it as an
openai-compatible target (or an Anthropic one, ``--provider anthropic``) through the library
API, once per client path and cell. The server logs the CLOCK_MONOTONIC time it read each
request and wrote each content chunk (the harness's ``perf_counter_ns`` is the same clock on
Linux); each measured request is joined to that log by the response id the client saw, with
the join and the error definitions of ``bench.campaigns.calibrate``:

    TTFT error       = harness ttft_ms − (first content chunk written − request read)   p50, p99
    inter-token err. = mean(harness itl_ms) ÷ mean(server gap between content chunks) − 1  mean %

Cells (streams × tokens/s, workers): 1 × 800, 16 × 800, 64 × 800 with ``--workers 2``, 400
measured requests each by default. The targets printed beside each row are the ones the
project holds the lean client to. The last cell needs the server on cores of its own
(``--server-cpus``/``--client-cpus``): on a 2-core machine the server, two workers and the
main process share two cores, and the figures say so.

    python benchmarks/truth_accuracy.py                          # every cell, both client paths
    python benchmarks/truth_accuracy.py --cells 16x800 --client fast --requests 100
    python benchmarks/truth_accuracy.py --server-cpus 4-7 --client-cpus 0-3   # a bigger machine
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.campaigns.calibrate import CalibrationCell, read_chunk_log, summarize_cell
from bench.results.records import load_results
from bench.run.runner import run_scenario
from bench.scenario.model import load_scenario

SOURCE = Path(__file__).with_name("truth_server.c")
KEY_ENV = "TRUTH_SERVER_KEY"


@dataclass(frozen=True)
class Cell:
    streams: int
    tokens_per_s: float
    workers: int = 1
    #: Targets (absolute): TTFT p50 error ms, TTFT p99 error ms, mean inter-token error %.
    targets: tuple[float, float, float] = (0.5, 1.0, 0.1)

    @property
    def name(self) -> str:
        return f"{self.streams}x{self.tokens_per_s:g}" + (f"/w{self.workers}" if self.workers > 1 else "")


DEFAULT_CELLS = (
    Cell(1, 800.0, 1, (0.3, 0.5, 0.1)),
    Cell(16, 800.0, 1, (0.5, 1.0, 0.1)),
    Cell(64, 800.0, 2, (0.5, 2.0, 0.5)),
)


def parse_cells(text: str) -> list[Cell]:
    """``16x800`` or ``64x800/w2``; a known cell keeps its targets."""
    known = {c.name: c for c in DEFAULT_CELLS}
    out = []
    for part in text.split(","):
        part = part.strip()
        if part in known:
            out.append(known[part])
            continue
        load, _, workers = part.partition("/w")
        streams, _, tps = load.partition("x")
        out.append(Cell(int(streams), float(tps), int(workers or 1)))
    return out


def build_server(work: Path) -> Path:
    """Compile the server from the committed source (no downloads)."""
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise SystemExit("truth_accuracy: no C compiler (cc or gcc) on PATH")
    binary = work / "truth_server"
    subprocess.run([cc, "-O2", "-Wall", "-o", str(binary), str(SOURCE)], check=True)
    return binary


def _cpus(spec: str | None) -> set[int] | None:
    if not spec:
        return None
    cpus: set[int] = set()
    for part in spec.split(","):
        low, _, high = part.partition("-")
        cpus.update(range(int(low), int(high or low) + 1))
    return cpus


class Server:
    """The truth server as a child process on an ephemeral loopback port."""

    def __init__(self, binary: Path, log: Path, ttft_ms: float, tokens_per_s: float, cpus: set[int] | None) -> None:
        args = [str(binary), "--port", "0", "--ttft-ms", f"{ttft_ms:g}", "--tokens-per-s", f"{tokens_per_s:g}", "--log", str(log)]
        self.process = subprocess.Popen(
            args, stdout=subprocess.PIPE, text=True, preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().split()
        if len(line) != 2 or line[0] != "listening":
            self.stop()
            raise SystemExit(f"truth_accuracy: the server did not start ({line!r})")
        self.port = int(line[1])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def scenario_text(provider: str, port: int, client: str, cell: Cell, requests: int, tokens: int) -> str:
    if provider == "anthropic":
        target = f'provider = "anthropic"\nbase_url = "http://127.0.0.1:{port}"\napi_key_env = "{KEY_ENV}"'
    else:
        target = f'provider = "openai-compatible"\nbase_url = "http://127.0.0.1:{port}/v1"'
    return textwrap.dedent(
        """
        [scenario]
        name = "truth"
        [[target]]
        {target}
        model = "truth"
        client = "{client}"
        [request]
        max_tokens = {tokens}
        [load]
        concurrency = [{streams}]
        requests = {requests}
        warmup = {streams}
        workers = {workers}
        """
    ).format(
        target=target.replace("\n", "\n        "),
        client=client,
        tokens=tokens,
        streams=cell.streams,
        requests=requests,
        workers=cell.workers,
    )


def measure(binary: Path, work: Path, provider: str, client: str, cell: Cell, args: argparse.Namespace) -> CalibrationCell:
    tag = f"{provider}-{client}-{cell.name.replace('/', '-')}"
    log = work / f"chunks-{tag}.jsonl"
    server = Server(binary, log, args.ttft_ms, cell.tokens_per_s, _cpus(args.server_cpus))
    try:
        path = work / f"scenario-{tag}.toml"
        path.write_text(scenario_text(provider, server.port, client, cell, args.requests, args.tokens), encoding="utf-8")
        result = run_scenario(load_scenario(path), out=work / "results", quiet=True)
    finally:
        server.stop()
    frame = load_results(result.run_dir)
    return summarize_cell(provider, client, cell.streams, cell.tokens_per_s, frame, read_chunk_log(log))


class _RawStream(asyncio.Protocol):
    """The reference client: one keep-alive connection, a stamp per read, nothing else."""

    def __init__(self) -> None:
        self.buf = b""
        self.stamps: list[int] = []
        self.response_id = ""
        self.done: asyncio.Future[None] | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter_ns()
        self.buf += data
        while (end := self.buf.find(b"\n\n")) >= 0:
            event, self.buf = self.buf[:end], self.buf[end + 2 :]
            if b'" tok"' in event:
                self.stamps.append(now)
            elif not self.response_id and (found := re.search(rb'"id":"([^"]+)"', event)):
                self.response_id = found[1].decode()
        if self.buf.endswith(b"0\r\n\r\n") and self.done is not None and not self.done.done():
            self.done.set_result(None)


async def _raw_client(port: int, provider: str, cell: Cell, requests: int, tokens: int) -> list[dict[str, Any]]:
    """``cell.streams`` closed-loop streams, warm-up first, as few lines as a client can be."""
    path = "/v1/messages" if provider == "anthropic" else "/v1/chat/completions"
    body = f'{{"model":"truth","max_tokens":{tokens},"stream":true}}'
    request = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}"
    ).encode()
    loop = asyncio.get_running_loop()
    rows: list[dict[str, Any]] = []

    async def stream(count: int, warmup: bool) -> None:
        _, conn = await loop.create_connection(_RawStream, "127.0.0.1", port)
        for _ in range(count):
            conn.stamps, conn.response_id, conn.buf = [], "", b""
            conn.done = loop.create_future()
            t0 = time.perf_counter_ns()
            assert conn.transport is not None
            conn.transport.write(request)
            await conn.done
            s = conn.stamps
            rows.append(
                {
                    "warmup": warmup,
                    "status": "ok",
                    "request_id": conn.response_id,
                    "ttft_ms": (s[0] - t0) / 1e6,
                    "itl_ms": [(b - a) / 1e6 for a, b in itertools.pairwise(s)],
                    "content_chunks": len(s),
                }  # fmt: skip
            )
        assert conn.transport is not None
        conn.transport.close()

    await asyncio.gather(*(stream(1, True) for _ in range(cell.streams)))
    share = [requests // cell.streams + (i < requests % cell.streams) for i in range(cell.streams)]
    await asyncio.gather(*(stream(n, False) for n in share if n))
    return rows


def measure_raw(binary: Path, work: Path, provider: str, cell: Cell, args: argparse.Namespace) -> CalibrationCell:
    import pandas as pd
    import uvloop

    log = work / f"chunks-{provider}-raw-{cell.name.replace('/', '-')}.jsonl"
    server = Server(binary, log, args.ttft_ms, cell.tokens_per_s, _cpus(args.server_cpus))
    try:
        rows = uvloop.run(_raw_client(server.port, provider, cell, args.requests, args.tokens))
    finally:
        server.stop()
    frame = pd.DataFrame(rows)
    return summarize_cell(provider, "raw", cell.streams, cell.tokens_per_s, frame, read_chunk_log(log))


def _mark(value: float, bound: float) -> str:
    if not math.isfinite(value):
        return "–"
    return f"{value:.3f}{'' if abs(value) <= bound else '*'}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", default=",".join(c.name for c in DEFAULT_CELLS), help="e.g. 1x800,16x800,64x800/w2")
    parser.add_argument(
        "--client", default="fast,sdk", help="client paths, comma-separated; raw = a minimal asyncio client on uvloop (the floor)"
    )
    parser.add_argument("--provider", default="openai-compatible", choices=["openai-compatible", "anthropic"])
    parser.add_argument("--requests", type=int, default=400, help="measured requests per cell")
    parser.add_argument("--tokens", type=int, default=120, help="content chunks per request (one token each)")
    parser.add_argument("--ttft-ms", type=float, default=50.0)
    parser.add_argument("--server-cpus", help="CPUs for the server, e.g. 2-3 (default: any)")
    parser.add_argument("--client-cpus", help="CPUs for the harness, e.g. 0-1 (default: any)")
    args = parser.parse_args(argv)
    cells = parse_cells(args.cells)
    clients = [c.strip() for c in args.client.split(",") if c.strip()]
    client_cpus = _cpus(args.client_cpus)
    if client_cpus:
        os.sched_setaffinity(0, client_cpus)  # worker processes inherit it
    os.environ.setdefault(KEY_ENV, "truth-server-no-key")
    print(f"cpus: {os.cpu_count()}, load average {' '.join(f'{v:.2f}' for v in os.getloadavg())} (before)", flush=True)
    header = (
        f"{'cell':12} {'client':6} {'n':>4} {'TTFT err p50 ms':>15} {'p99 ms':>8} {'ITL err %':>9}  targets (p50/p99 ms, ITL %)"
    )
    print(header, flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-truth-") as tmp:
        work = Path(tmp)
        binary = build_server(work)
        for cell in cells:
            for client in clients:  # load by load, each path in turn: background load hits both alike
                if client == "raw":
                    row = measure_raw(binary, work, args.provider, cell, args)
                else:
                    row = measure(binary, work, args.provider, client, cell, args)
                p50, p99, itl = cell.targets
                flags = []
                if row.n_failed:
                    flags.append(f"{row.n_failed} failed")
                if row.chunk_mismatch:
                    flags.append(f"{row.chunk_mismatch} chunk-count mismatches")
                print(
                    f"{cell.name:12} {client:6} {row.n:>4} {_mark(row.ttft_err_p50_ms, p50):>15} "
                    f"{_mark(row.ttft_err_p99_ms, p99):>8} {_mark(row.itl_err_mean_pct, itl):>9}  "
                    f"{p50:g}/{p99:g}/{itl:g}" + (f"  ({', '.join(flags)})" if flags else ""),
                    flush=True,
                )
    print(f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())} (after); * = outside the target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
