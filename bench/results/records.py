"""RequestRecord and the results directory: written as requests finish, read back as one frame.

Layout (README.md, "Results")::

    <root>/<run-id>/run.json         run metadata (``bench.results.run_file.RunMeta``), rewritten at start and at the end
    <root>/<run-id>/requests.jsonl   one line per finished request, appended and flushed at once
    <root>/<run-id>/requests.parquet columnar copy written when the run ends (fast loading)

The JSONL is the source of truth: a SIGKILL loses only requests in flight. The Parquet copy is
used only when it holds exactly as many rows as the JSONL has lines.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import io
import json
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

from bench.errors import BenchError
from bench.results import row_checks
from bench.results.provenance import new_run_id
from bench.results.run_file import RUN_FILE
from bench.schema import COLUMNS

REQUESTS_FILE = "requests.jsonl"
PARQUET_FILE = "requests.parquet"


@dataclass(slots=True)
class RequestRecord:
    """One request's outcome and timings. Field names and meanings are the columns of docs/metrics.md."""

    run_id: str
    target: str
    provider: str
    model: str
    load_mode: str
    load_level: float
    request_index: int
    warmup: bool
    stream: bool
    client: str = "fast"
    #: The request shape's group (bench/scenario/shapes.py): "input 2000, warm"; "" when the
    #: scenario has no ladder, cache list or bins.
    shape: str = ""
    status: str = "ok"
    error_kind: str | None = None
    error_message: str | None = None
    http_status: int | None = None
    retries: int = 0
    started_at_ns: int = 0
    sdk_prep_ms: float | None = None
    ttfb_ms: float | None = None
    ttft_ms: float | None = None
    ttfa_ms: float | None = None
    e2e_ms: float | None = None
    output_tokens: int | None = None
    reasoning_tokens: int | None = None
    input_tokens: int | None = None
    #: Parts of ``input_tokens`` the provider served from its prompt cache / wrote to it.
    cached_input_tokens: int | None = None
    cache_write_input_tokens: int | None = None
    token_source: str = "none"
    content_chunks: int = 0
    #: Content events that were a tool call's text (its name, its arguments' fragments).
    tool_call_chunks: int = 0
    itl_ms: list[float] = field(default_factory=list)
    output_tps: float | None = None
    tpot_ms: float | None = None
    response_100_ms: float | None = None
    finish_reason: str | None = None
    request_id: str | None = None
    queue_ms: float | None = None
    prompt_ms: float | None = None
    completion_ms: float | None = None
    server_output_tps: float | None = None
    scheduled_ms: float | None = None
    start_lag_ms: float | None = None
    #: The prompt length and the response cap this request asked for (a scenario's lengths
    #: may be drawn per request); ``input_tokens`` is the provider's own count of the prompt.
    input_tokens_asked: int | None = None
    max_tokens_asked: int | None = None
    #: A conversation's number in its level (its first request's slot) and this request's
    #: turn in it, from 1; empty for single-turn requests.
    conversation: int | None = None
    turn: int | None = None
    #: Which process measured it (0 without --workers): with workers, the client's own state
    #: (health, clock) is per process.
    worker: int = 0

    @classmethod
    def from_json(cls, line: str) -> RequestRecord:
        """A record as ``to_json`` wrote it (workers and Ray actors send records this way)."""
        return cls(**json.loads(line))

    def to_json(self) -> str:
        """One compact JSON line; NaN and infinities become null (orjson: ~10x ``asdict`` + json)."""
        return orjson.dumps(self).decode()


assert [f.name for f in fields(RequestRecord)] == list(COLUMNS), "RequestRecord and schema.COLUMNS drifted"


class ResultsWriter:
    """Appends records to ``requests.jsonl``, flushing each so it survives a crash of this process."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.path = run_dir / REQUESTS_FILE
        run_dir.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self.count = 0

    def write(self, record: RequestRecord) -> None:
        """Append one line, flushed; an OSError (a full disk) leaves at most that line cut short,
        which loading drops with a warning."""
        self._file.write(record.to_json() + "\n")
        self._file.flush()
        self.count += 1

    def close(self) -> None:
        """Close the file. After a failed write the line that did not fit is still buffered:
        closing tries it once more and raises again, but the descriptor is released either way."""
        self._file.close()


class BackgroundResultsWriter(ResultsWriter):
    """A :class:`ResultsWriter` for the measuring event loop: ``write`` only appends the record
    to a queue; a thread of its own serialises, writes and flushes what is queued, every few
    milliseconds.

    Inline, that took 40-90 µs a request (more on a busy disk), and with N streams of equal
    length the streams end together: N records written back to back while the other streams'
    last chunks waited to be stamped — the inter-token and TTFT tail. The thread is never
    woken by the loop (a wake-up can cost the waking thread its core on a busy machine); it
    takes the GIL for one record at a time (~20 µs) and lets go between records and at each
    write.

    The contract is the inline writer's: a record is counted — ``count``, and ``on_written``,
    which runs in the loop's thread — only once it is on disk (written and flushed), in the
    order written; :meth:`drain` and :meth:`close` return once every record handed over is on
    disk and counted. A crash of this process loses only requests not yet counted (in flight,
    or finished in the last few milliseconds). A write that fails (a full disk) is raised by
    the next :meth:`write`, or by :meth:`close`, as the inline writer would have raised it.
    """

    #: How often the thread writes what is queued: a record is on disk (and counted) this long
    #: after its request ended, at most, on an idle machine.
    INTERVAL_S = 0.005

    def __init__(self, run_dir: Path, on_written: Callable[[RequestRecord], None] | None = None) -> None:
        super().__init__(run_dir)
        self.on_written = on_written
        self._pending: collections.deque[RequestRecord] = collections.deque()
        self._written: collections.deque[RequestRecord] = collections.deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._error: OSError | None = None
        self._raised = False
        self._handed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._write_lines, name="bench-results-writer", daemon=True)
        self._thread.start()

    def write(self, record: RequestRecord) -> None:
        if self._error is not None:
            self._raised = True
            raise self._error
        self._handed += 1
        if self._loop is None:
            try:
                self._loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop (a plain caller): counted by drain or close
                pass
        self._pending.append(record)

    def _write_lines(self) -> None:
        """The writer thread: every ``INTERVAL_S``, what is queued, then once more at close."""
        while not self._stop.wait(self.INTERVAL_S):
            self._write_pending()
        self._write_pending()

    def _write_pending(self) -> None:
        pending, done = self._pending, []
        while pending:
            record = pending.popleft()
            if self._error is not None:
                continue  # the disk failed: the rest is not written, as after an inline failure
            try:
                self._file.write(record.to_json() + "\n")
            except OSError as exc:
                self._error = exc
                continue
            done.append(record)
            time.sleep(0)  # the GIL back to the loop's thread between records
        if not done:
            return
        try:
            self._file.flush()
        except OSError as exc:
            self._error = exc
            return  # not on disk: not counted
        self._written.extend(done)
        loop = self._loop
        if loop is not None:
            try:
                loop.call_soon_threadsafe(self._count_written)
            except RuntimeError:  # the loop closed: close() counts the rest
                pass

    def _count_written(self) -> None:
        while self._written:
            record = self._written.popleft()
            self.count += 1
            if self.on_written is not None:
                self.on_written(record)

    async def drain(self) -> None:
        """Until every record handed over is on disk and counted (between levels, so each
        level's display counts its own records)."""
        while True:
            self._count_written()
            if self.count >= self._handed or self._error is not None or not self._thread.is_alive():
                return
            await asyncio.sleep(self.INTERVAL_S / 2)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._count_written()
        self._file.close()
        if self._error is not None and not self._raised:
            self._raised = True
            raise self._error


def claim_run_dir(out: Path, scenario_name: str, run_id: str | None = None) -> tuple[str, Path]:
    """A run id (``run_id`` if its directory is free) and its directory under ``out``, created;
    never shared with a run started in the same instant (the id is re-drawn until the directory is new)."""

    while True:
        run_id = run_id or new_run_id(scenario_name)
        run_dir = out / run_id
        try:
            run_dir.mkdir(parents=True, exist_ok=False)
            return run_id, run_dir
        except FileExistsError:
            time.sleep(0.001)
            run_id = None


def write_parquet(run_dir: Path) -> None:
    """The columnar copy that makes loading a million rows fast."""
    frame = _frame_from_jsonl(run_dir / REQUESTS_FILE)
    # Under a temporary name, then renamed: a disk that fills half-way leaves no half a copy
    # (loading would skip it anyway, but it would hold the space the JSONL may need).
    tmp = run_dir / f".{PARQUET_FILE}.tmp"
    try:
        frame.to_parquet(tmp, index=False)
        os.replace(tmp, run_dir / PARQUET_FILE)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def is_run_dir(path: Path) -> bool:
    return (path / RUN_FILE).is_file() or (path / REQUESTS_FILE).is_file()


def run_dirs_under(path: str | os.PathLike[str]) -> list[Path]:
    """Every run of a results root, oldest first (run ids sort by time); a run directory alone."""
    p = Path(path)
    if not p.is_dir():
        raise BenchError(f"{p}: no such run directory or results root")
    if is_run_dir(p):
        return [p]
    runs = sorted(child for child in p.iterdir() if child.is_dir() and is_run_dir(child))
    if not runs:
        raise BenchError(f"{p}: no runs found (expected {RUN_FILE} and {REQUESTS_FILE})")
    return runs


def resolve_run_dir(path: str | os.PathLike[str]) -> Path:
    """A run directory as given, or the newest run (greatest run id) under a results root."""
    p = Path(path)
    if not p.exists():
        raise BenchError(f"{p}: no such run directory or results root")
    if not p.is_dir():
        raise BenchError(f"{p}: not a directory (expected a run directory or a results root)")
    if is_run_dir(p):
        return p
    runs = sorted(child for child in p.iterdir() if child.is_dir() and is_run_dir(child))
    if not runs:
        raise BenchError(f"{p}: no runs found (expected {RUN_FILE} and {REQUESTS_FILE})")
    return runs[-1]


def _count_lines(path: Path) -> int:
    with open(path, "rb") as fh:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))


def _warn(message: str) -> None:
    """Reading goes on, but the reader must know (the CLI's warning format, on stderr)."""
    print(f"bench: warning: {message}", file=sys.stderr)


def _parse_line(raw: bytes, path: Path, lineno: int) -> dict[str, Any]:
    """One JSONL line as a record, or BenchError naming the file, the line and what is wrong."""
    try:
        row = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if "UTF-8" in str(exc):
            raise BenchError(f"{path}:{lineno}: not UTF-8 text (binary data, not a bench requests file)") from None
        try:  # Python's own JSON also reads NaN/Infinity, as files written by other tools may hold
            row = json.loads(raw)
        except ValueError:
            raise BenchError(f"{path}:{lineno}: not valid JSON") from None
    if not isinstance(row, dict):
        raise BenchError(f"{path}:{lineno}: not a request record (expected a JSON object)")
    return row


def _frame_from_jsonl(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    """Every complete line of ``requests.jsonl`` as a frame.

    Lines are appended whole and flushed, so only the *last* line can be cut short (SIGKILL,
    a full disk, power loss mid-write): such a line is dropped with a warning that says so.
    A bad line anywhere else means the file is not what bench wrote, which is an error.
    A killed run has no Parquet copy and a million rows must still load in seconds, so the
    file is parsed by Arrow's JSON reader (C++, against the schema's types) straight from disk
    (only the last line is read first, to check it is whole), and the frame is built from
    Arrow's buffers: within 2x of the Arrow reader alone (``benchmarks/load_speed.py``). A
    file Arrow refuses is read again line by line, which names the bad line.
    """
    if not path.is_file():
        return frame_from_records([])
    problems: dict[int, str] = {}
    try:
        complete, dropped = _complete_length(path)
        if complete == 0:
            frame = _arrow_frame(None)
        else:
            try:
                frame = _arrow_frame(path if not dropped else _head(path, complete), columns)
            except Exception:  # noqa: BLE001 - Arrow refused something: the careful reader says what
                data = _head(path, complete)
                lines = enumerate(data.split(b"\n"), 1)
                frame = frame_from_records([_parse_line(raw, path, n) for n, raw in lines if raw.strip()], problems)
    except OSError as exc:
        raise BenchError(f"{path}: cannot read ({exc.strerror or exc})") from None
    frame = row_checks.drop_impossible(frame, problems, source=str(path))
    if dropped:
        _warn(
            f"{path}: dropped 1 line at the end that was cut short (a request being written when the run stopped); "
            f"read {len(frame)} complete request(s)"
        )
    return frame


def _head(path: Path, size: int) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(size)


#: How much of the file's end is read at a time to find its last line.
_TAIL_STEP = 1 << 16


def _complete_length(path: Path) -> tuple[int, bool]:
    """(bytes of the file that hold whole lines, whether a torn last line was left out).

    Reads the file's end only: the last line is the one a stopped run can have cut short.
    0 bytes means the file holds no record at all (empty, or blank lines).
    """
    with open(path, "rb") as fh:
        end = fh.seek(0, os.SEEK_END)
        tail = b""
        pos = end
        # Grow the tail until it holds a newline before the last non-blank line (or the whole file).
        while pos > 0:
            step = min(_TAIL_STEP, pos)
            pos -= step
            fh.seek(pos)
            tail = fh.read(step) + tail
            body = tail.rstrip()
            if body and b"\n" in body:
                break
        body = tail.rstrip()
        if not body:
            return 0, False
        start = body.rfind(b"\n") + 1
        last = body[start:]
    try:
        _parse_line(last, path, 0)
    except BenchError:
        return pos + start, True
    return end, False


_ARROW_TYPES = {"float64": "float64", "int64": "int64", "bool": "bool_", "string": "string"}


def _lists(column: Any) -> pd.Series:
    """A list<double> column as Python lists, built from Arrow's flat buffer and offsets.

    One ``tolist`` of the flat values and a slice per row: several times faster than Arrow's
    per-value ``to_pylist``, and a missing list is an empty one.
    """
    import pyarrow as pa  # noqa: PLC0415 - Arrow only when a frame is loaded

    chunk = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if chunk.null_count:
        chunk = chunk.fill_null(pa.scalar([], type=chunk.type))
    offsets = chunk.offsets.to_numpy()
    flat = chunk.values.to_numpy(zero_copy_only=False).tolist()
    bounds = offsets.tolist()
    return pd.Series([flat[bounds[i] : bounds[i + 1]] for i in range(len(chunk))], dtype="object")


def _empty(dtype: str, n: int) -> Any:
    """A column that was not asked for: NaN, 0, False, missing text or empty lists."""
    if dtype == "float64":
        return np.full(n, np.nan)
    if dtype == "int64":
        return np.zeros(n, dtype=np.int64)
    if dtype == "bool":
        return np.zeros(n, dtype=bool)
    if dtype == "string":
        return pd.array([None] * n, dtype="string")
    return pd.Series([[] for _ in range(n)], dtype="object")


def _arrow_frame(source: Path | bytes | None, columns: list[str] | None = None) -> pd.DataFrame:
    import pyarrow as pa  # noqa: PLC0415 - Arrow only when a frame is loaded
    import pyarrow.json as pj  # noqa: PLC0415 - as above

    if source is None or (isinstance(source, bytes) and not source.strip()):
        return pd.DataFrame({name: [] for name in COLUMNS})
    fields = [
        pa.field(name, pa.list_(pa.float64()) if dtype == "object" else getattr(pa, _ARROW_TYPES[dtype])())
        for name, dtype in COLUMNS.items()
        if columns is None or name in columns  # fields not asked for are skipped, not converted
    ]
    options = pj.ParseOptions(explicit_schema=pa.schema(fields), unexpected_field_behavior="ignore")
    table = pj.read_json(str(source) if isinstance(source, Path) else io.BytesIO(source), parse_options=options)
    out: dict[str, Any] = {}
    for name, dtype in COLUMNS.items():
        if columns is not None and name not in columns:
            out[name] = _empty(dtype, table.num_rows)
            continue
        column = table.column(name)
        if dtype == "float64":
            out[name] = column.to_numpy(zero_copy_only=False)  # nulls → NaN
        elif dtype in ("int64", "bool"):
            out[name] = column.fill_null(0 if dtype == "int64" else False).to_numpy(zero_copy_only=False)
        elif dtype == "string":
            out[name] = column.to_pandas(types_mapper={pa.string(): pd.StringDtype()}.get)
        else:  # lists: Python lists (a missing list is an empty one)
            out[name] = _lists(column)
    return pd.DataFrame(out)


def _as_list(value: Any) -> list[Any]:
    """JSON lists stay lists; Parquet's numpy arrays become lists (``tolist`` is 2× ``list``)."""
    if value is None or isinstance(value, float):
        return []
    return value.tolist() if hasattr(value, "tolist") else list(value)


def frame_from_records(rows: Iterable[dict[str, Any]] | pd.DataFrame, problems: dict[int, str] | None = None) -> pd.DataFrame:
    """Give any row source the schema's columns, order and dtypes.

    A value that is no number where the schema wants one reads as missing; with ``problems``
    given, each such row is also noted there (position -> what is wrong) so that loading can
    set it aside (:mod:`bench.results.row_checks`) instead of silently counting it as "no value".
    """
    if not isinstance(rows, pd.DataFrame):
        return _frame_from_dicts(list(rows), problems)
    frame = rows
    out: dict[str, Any] = {}
    n = len(frame)
    for name, dtype in COLUMNS.items():
        if name not in frame.columns:
            out[name] = _empty(dtype, n)  # built empty at once: no per-cell conversion
            continue
        col = frame[name]
        if dtype != "object" and str(col.dtype) == dtype:  # already the schema's type (a Parquet copy): as it is
            out[name] = col.reset_index(drop=True)
            continue
        col = col.reset_index(drop=True)
        if dtype in ("float64", "int64"):
            numbers = pd.to_numeric(col, errors="coerce") if col.dtype.kind not in "biuf" else col
            if problems is not None and col.dtype.kind not in "iuf":
                for row in np.flatnonzero((numbers.isna() & col.notna()).to_numpy() | (col.dtype.kind == "b")):
                    problems.setdefault(int(row), row_checks.numeric_problem(name, col.iloc[row]) or f"{name}: not a number")
            col = numbers.astype("float64") if dtype == "float64" else numbers.fillna(0).astype("int64")
        elif dtype == "bool":
            col = col.fillna(False).astype("bool")
        elif dtype == "string":
            col = col.astype("string")
        else:  # lists
            col = col.map(_as_list)
        out[name] = col
    return pd.DataFrame(out)


_INT64_MAX = 2**63 - 1


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _frame_from_dicts(rows: list[dict[str, Any]], problems: dict[int, str] | None = None) -> pd.DataFrame:
    """Rows as parsed from JSON → typed columns, one pass per column (no per-cell pandas work).

    Text, booleans or lists where a number belongs read as missing (0 for whole-number
    columns) and are noted in ``problems`` by row, when given."""
    out: dict[str, Any] = {}
    noted = problems if problems is not None else {}
    for name, dtype in COLUMNS.items():
        values = [row.get(name) for row in rows]
        if dtype in ("float64", "int64"):
            if not all(v is None or type(v) is float or type(v) is int for v in values):  # noqa: E721 - bool is no number here
                for row, v in enumerate(values):
                    if v is not None and not _is_number(v):
                        noted.setdefault(row, row_checks.numeric_problem(name, v) or f"{name}: not a number")
                values = [v if _is_number(v) else None for v in values]
            if dtype == "float64":
                out[name] = np.array(values, dtype="float64")  # None → NaN
            else:
                for row, v in enumerate(values):
                    if v is not None and not (math.isfinite(v) and abs(v) <= _INT64_MAX):
                        noted.setdefault(row, row_checks.numeric_problem(name, v) or f"{name}: out of range")
                out[name] = np.array(
                    [int(v) if v is not None and math.isfinite(v) and abs(v) <= _INT64_MAX else 0 for v in values], dtype="int64"
                )
        elif dtype == "bool":
            out[name] = np.array([bool(v) for v in values], dtype="bool")
        elif dtype == "string":
            out[name] = pd.array([v if isinstance(v, str) else (None if v is None else str(v)) for v in values], dtype="string")
        else:  # lists
            for row, v in enumerate(values):
                if v is not None and (not isinstance(v, list) or not all(_is_number(x) for x in v)):
                    noted.setdefault(row, f"{name} = {_short(v)}: not a list of numbers")
            out[name] = pd.Series(
                [v if isinstance(v, list) and all(_is_number(x) for x in v) else [] for v in values], dtype="object"
            )
    return pd.DataFrame(out)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


def load_results(path: str | os.PathLike[str], columns: Iterable[str] | None = None) -> pd.DataFrame:
    """One DataFrame, one row per request (warm-up rows included, flagged in ``warmup``).

    ``path`` is a run directory or a results root (then the newest run is loaded).
    ``columns`` (schema column names) loads only those: the frame still has every schema
    column, the others empty (what a trend over many runs needs is a few columns of each).
    """
    run_dir = resolve_run_dir(path)
    jsonl = run_dir / REQUESTS_FILE
    parquet = run_dir / PARQUET_FILE
    wanted = None if columns is None else [c for c in COLUMNS if c in set(columns)]
    if parquet.is_file() and jsonl.is_file():
        try:
            frame = pd.read_parquet(parquet, columns=wanted)
        except (OSError, ValueError):  # an unreadable copy: the JSONL is the source of truth
            frame = None
        if frame is not None and len(frame) == _count_lines(jsonl):
            problems: dict[int, str] = {}
            typed = frame_from_records(frame, problems)
            return row_checks.drop_impossible(typed, problems, source=str(jsonl))
    return _frame_from_jsonl(jsonl, wanted)
