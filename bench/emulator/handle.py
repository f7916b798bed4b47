"""Start and stop the emulator from Python, in its own process.

A separate process, not a thread: the emulator must not share the measuring process's event
loop, GIL or CPU time, or its own work would be billed to the provider being "measured".
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from bench.emulator.profiles import format_setting
from bench.errors import BenchError

_POLL_S: Final = 0.01
_PROVIDER_PATHS: Final = {"groq": "", "openai": "/v1", "openai-compatible": "/v1", "anthropic": ""}


class EmulatorError(BenchError):
    """The emulator did not start (its stderr is in the message)."""


def base_url(host: str, port: int) -> str:
    """``http://host:port``, with brackets for an IPv6 address."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _terminate(process: subprocess.Popen[bytes], timeout_s: float = 5.0) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _cleanup(process: subprocess.Popen[bytes], workdir: str) -> None:
    """Stop the process; anything it wrote to stderr (a bug's traceback) is passed on, not lost."""
    _terminate(process)
    errors = _stderr(workdir)
    if errors:
        print(f"bench emulator (pid {process.pid}) wrote to stderr:\n{errors}", file=sys.stderr)
    shutil.rmtree(workdir, ignore_errors=True)


def _stderr(workdir: str) -> str:
    try:
        return (Path(workdir) / "stderr").read_text(errors="replace").strip()
    except OSError:
        return ""


class EmulatorHandle:
    """A running emulator process. Use as a context manager, or call :meth:`stop`.

    ``base_url`` is the server root (``http://127.0.0.1:PORT``); :meth:`provider_base_url` is
    what each SDK's ``base_url`` should be.
    """

    def __init__(self, process: subprocess.Popen[bytes], host: str, port: int, workdir: str, chunk_log: Path | None) -> None:
        self.process = process
        self.host = host
        self.port = port
        self.base_url = base_url(host, port)
        self.chunk_log = chunk_log
        # Stops the process even if the handle is dropped or the interpreter exits first.
        self._finalizer = weakref.finalize(self, _cleanup, process, workdir)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def provider_base_url(self, provider: str) -> str:
        """groq and anthropic: the root (their SDKs add /openai/v1 and /v1); openai: root + /v1."""
        try:
            return self.base_url + _PROVIDER_PATHS[provider]
        except KeyError:
            raise ValueError(f"unknown provider {provider!r}; expected one of {', '.join(_PROVIDER_PATHS)}") from None

    def stop(self) -> None:
        """SIGTERM (a clean exit), then SIGKILL after 5 s. Safe to call twice."""
        self._finalizer()

    def __enter__(self) -> EmulatorHandle:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def start_emulator(
    *,
    seed: int = 0,
    chunk_log: Path | None = None,
    port: int = 0,
    host: str = "127.0.0.1",
    strict_models: bool = False,
    startup_timeout_s: float = 10.0,
    settings: Mapping[str, Any] | None = None,
    seed_salt: int | None = None,
    timeouts_s: Mapping[str, float] | None = None,
) -> EmulatorHandle:
    """Start ``python -m bench.emulator`` and return once it accepts connections.

    ``settings``: profile keys for every request (``--set``; checked by the child, which
    refuses bad ones, so check them first with ``profiles.parse_settings``). ``seed_salt``:
    ``--seed-salt``. ``timeouts_s``: ``{"header": s, "body": s, "idle": s}``, any of them.
    """
    workdir = tempfile.mkdtemp(prefix="bench-emulator-")
    port_file = Path(workdir) / "port"
    command = [sys.executable, "-m", "bench.emulator", "--host", host, "--port", str(port), "--seed", str(seed),
               "--port-file", str(port_file), "--parent-pid", str(os.getpid())]  # fmt: skip
    if chunk_log is not None:
        command += ["--chunk-log", str(Path(chunk_log).resolve())]
    if strict_models:
        command.append("--strict-models")
    for key, value in (settings or {}).items():
        command += ["--set", format_setting(key, value)]
    if seed_salt is not None:
        command += ["--seed-salt", str(seed_salt)]
    for name, seconds in (timeouts_s or {}).items():
        command += [f"--{name}-timeout", repr(float(seconds))]
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[2])  # the folder that holds bench/
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    with open(Path(workdir) / "stderr", "wb") as stderr:
        # Its own session: the terminal's Ctrl-C reaches the harness, which then stops it.
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, env=env, start_new_session=True)
    deadline = time.monotonic() + startup_timeout_s
    while not port_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            _terminate(process)
            message = _stderr(workdir) or "no output"
            shutil.rmtree(workdir, ignore_errors=True)
            raise EmulatorError(f"the emulator did not start within {startup_timeout_s:g} s: {message}")
        time.sleep(_POLL_S)
    bound = int(port_file.read_text())
    with socket.create_connection((host, bound), timeout=startup_timeout_s):
        pass  # it listens before it writes the port file; this only proves it
    return EmulatorHandle(process, host, bound, workdir, chunk_log)
