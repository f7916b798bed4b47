"""``bench init``: a commented scenario file to start from.

The template is a working scenario (``bench validate`` accepts it, ``bench run FILE --emulate``
runs it offline), with every table a user is likely to want shown and explained.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bench.cli.app import app
from bench.errors import BenchError

TEMPLATE = """\
# A bench scenario: what to run (targets x load levels x requests) and how.
# Check it:  bench validate {name}
# Run it:    bench run {name} --emulate     (offline, against the built-in emulator)
#            bench run {name}               (live: needs each target's API key)

[scenario]
name = "my-benchmark"              # letters, digits, . _ - ; names the run directory
description = "Short chat turns, streaming"
# emulate = true                   # always run against the emulator (same as --emulate)

[[target]]
provider = "groq"                  # groq | openai | anthropic | openai-compatible
model = "openai/gpt-oss-120b"      # `bench models groq` lists the known models
# label = "groq-120b"              # default "provider/model"; must be unique
# api_key_env = "GROQ_API_KEY"     # the variable holding the key (this is the default)
# client = "sdk"                   # measure through the official SDK instead of bench's lean client
#                                  # (the default); ["fast", "sdk"] measures both and reports what the SDK costs

# A second target, e.g. your own vLLM / llama.cpp / Ollama server:
# [[target]]
# provider = "openai-compatible"
# model = "my-model"
# base_url = "http://127.0.0.1:8000/v1"   # required for openai-compatible
# api_key_env = "MY_SERVER_KEY"           # optional: no key is sent without it

[request]
stream = true                      # false: whole responses (end-to-end figures only)
max_tokens = 256
temperature = 0.0
max_retries = 0                    # no retries, so every failure is seen (both client paths retry alike when set)

[prompts]
source = "synthetic"               # or "file", with path = "prompts.jsonl" (one JSON list of messages per line)
input_tokens = 128                 # approximate prompt length
seed = 42

[load]
concurrency = [1, 4]               # closed loop: requests in flight; or rate = [2.0, 8.0] (open loop, requests/s)
requests = 20                      # measured requests per level (or duration_s = 60)
warmup = 2                         # extra requests per level, sent first and left out of the statistics
timeout_s = 60                     # per request
# order = "sequential"             # with several targets, each level is run by all of them side by side
#                                  # ("interleaved", the default: network drift hits every target alike);
#                                  # "sequential" runs every level of one target, then the next's

# [slo]                            # checked by `bench check`; latencies at most, speeds at least
# ttft_p50_ms = 500                # median time to first token
# output_tps_p50 = 100             # median output tokens/s
# error_rate_max = 0.01
"""


@app.command()
def init(
    file: Annotated[Path, typer.Argument(help="Where to write the scenario.", show_default=True)] = Path("scenario.toml"),
) -> None:
    """Write a commented scenario file to start from (never over an existing file)."""
    if file.exists():
        raise BenchError(f"{file}: already exists; give another file name (bench init NEW.toml) or edit it")
    try:
        with file.open("x", encoding="utf-8") as handle:  # "x": never replace a file created meanwhile
            handle.write(TEMPLATE.format(name=file))
    except OSError as exc:
        raise BenchError(f"{file}: cannot write ({exc.strerror})") from None
    typer.echo(f"wrote {file}: check it with `bench validate {file}`, run it with `bench run {file} --emulate`")
