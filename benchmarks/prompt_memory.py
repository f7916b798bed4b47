"""What a long prompt costs the client in memory, per concurrent stream. Prints figures.

Runs the emulator closed-loop at ``--streams`` streams with synthetic prompts of 128 tokens,
then of 32,000, per client path, each run in a fresh process (so one run's freed heap cannot
hide the next one's growth), and reads the client's own health from ``run.json``
(``client_health``: ``kb_per_stream`` = (RSS peak − RSS at the level's start) ÷ streams).
Then, per stream: memory at each length, the difference, the prompt's own bytes (the encoded
request body the lean client sends, ``len``) and the ratio difference ÷ prompt bytes.

The target (docs/scale.md, "Memory of a long prompt"): a long prompt costs the client no more
than the short one's memory per stream plus the prompt's own bytes — a ratio of at most 1.

    python benchmarks/prompt_memory.py                        # lean and SDK paths, 16 streams
    python benchmarks/prompt_memory.py --client fast --streams 8 --long 64000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

from bench.providers.base import ClientSettings, ProviderRequest
from bench.providers.fast import FastChatProvider
from bench.results.run_file import read_run_meta
from bench.run.runner import run_scenario
from bench.scenario.prompts import synthetic

#: The emulator's profile: prefill fast enough that a 32,000-token prompt does not make the
#: run long, and answers long enough (64 tokens at 400/s) that every stream is in flight at
#: the 50 ms health samples.
SCENARIO = """
[[target]]
provider = "groq"
model = "openai/gpt-oss-120b"
[target.emulator]
prefill_tokens_per_s = 1000000
tokens_per_s = 400

[request]
max_tokens = 64

[prompts]
source = "synthetic"
input_tokens = {tokens}

[load]
concurrency = [{streams}]
requests = {requests}
warmup = {streams}
timeout_s = 120
"""


def body_bytes(tokens: int) -> int:
    """Length of the request body the lean client sends for one such prompt (what the emulator run
    sends, request index 0): the prompt's own bytes on the wire."""
    messages = synthetic(tokens, seed=0).for_request("run:0:16:0")
    provider = FastChatProvider("groq", ClientSettings("http://127.0.0.1:9", "k", 1, 60.0, 0))
    request = ProviderRequest(model="openai/gpt-oss-120b", messages=messages, max_tokens=64)
    return len(provider._body(request))


def measure(client: str, tokens: int, streams: int, requests: int) -> dict[str, Any]:
    """One run in this process: the level's client health as run.json keeps it."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        scenario = folder / "memory.toml"
        text = SCENARIO.format(tokens=tokens, streams=streams, requests=requests)
        scenario.write_text(textwrap.dedent(text), encoding="utf-8")
        result = run_scenario(scenario, out=folder / "results", emulate=True, client=client)
        health = read_run_meta(Path(result.run_dir)).client_health
        errors = int(result.frame["error_kind"].notna().sum())
    assert health is not None and health.levels, "run.json has no client_health"
    level = health.levels[0]
    return {
        "kb_per_stream": level.kb_per_stream,
        "rss_start_mb": level.rss_start_mb,
        "rss_peak_mb": level.rss_peak_mb,
        "errors": errors,
    }


def in_fresh_process(client: str, tokens: int, streams: int, requests: int) -> dict[str, Any]:
    command = [sys.executable, __file__, "--one", client, str(tokens), str(streams), str(requests)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"prompt_memory: the {client} run at {tokens} tokens failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def median_run(client: str, tokens: int, args: argparse.Namespace) -> dict[str, Any]:
    """``--repeat`` runs, each in a fresh process; the one with the median memory per stream (RSS
    moves by tens of KiB a stream from run to run: the allocator, the 50 ms samples)."""
    runs = sorted(
        (in_fresh_process(client, tokens, args.streams, args.requests) for _ in range(args.repeat)),
        key=lambda run: float(run["kb_per_stream"]),
    )
    middle = dict(runs[len(runs) // 2])
    middle["all"] = [run["kb_per_stream"] for run in runs]
    middle["errors"] = sum(run["errors"] for run in runs)
    return middle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--client", default="fast,sdk", help="client paths, comma-separated (default: fast,sdk)")
    parser.add_argument("--streams", type=int, default=16)
    parser.add_argument("--requests", type=int, default=64, help="measured requests per run")
    parser.add_argument("--short", type=int, default=128, help="input tokens of the reference prompt")
    parser.add_argument("--long", type=int, default=32000, help="input tokens of the long prompt")
    parser.add_argument("--repeat", type=int, default=3, help="runs per client and length (the median is shown)")
    parser.add_argument("--one", nargs=4, metavar=("CLIENT", "TOKENS", "STREAMS", "REQUESTS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        client, tokens, streams, requests = args.one
        print(json.dumps(measure(client, int(tokens), int(streams), int(requests))))
        return
    prompt = body_bytes(args.long)
    prompt_kb = prompt / 1024
    print(f"{args.streams} streams closed-loop on the emulator, {args.requests} requests a run, median of {args.repeat} runs")
    print(f"the {args.long}-token prompt's own bytes (its request body): {prompt:,} B = {prompt_kb:.1f} KiB")
    print(
        f"{'client':6} {f'KiB/stream @{args.short}':>16} {f'@{args.long}':>10} {'difference':>11} {'ratio':>6}  runs @{args.long}"
    )
    verdicts = []
    for client in args.client.split(","):
        short, long = median_run(client, args.short, args), median_run(client, args.long, args)
        if short["errors"] or long["errors"]:
            print(f"{client}: {short['errors']} + {long['errors']} failed requests: the figures are not comparable")
        diff = long["kb_per_stream"] - short["kb_per_stream"]
        ratio = diff / prompt_kb
        runs = ", ".join(f"{kb:.0f}" for kb in long["all"])
        print(f"{client:6} {short['kb_per_stream']:16.1f} {long['kb_per_stream']:10.1f} {diff:11.1f} {ratio:6.2f}  {runs}")
        verdicts.append(
            f"{client}: a {args.long}-token prompt costs {diff:.0f} KiB a stream, {ratio:.2f}x its own bytes: "
            + ("the target (at most 1x) holds" if ratio <= 1.0 else "the target (at most 1x) does NOT hold")
        )
    print("\n".join(verdicts))
    print("load average (1, 5, 15 min) at the end: " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
