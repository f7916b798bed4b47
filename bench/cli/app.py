"""The Typer app and the one place that turns errors into exit codes.

Exit status: 0 success, 1 "the thing measured failed" (no successful request, SLO or
regression), 2 bad input or a place that cannot be written (one line, no traceback),
130 interrupted.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from typer.core import TyperOption
from typer.exceptions import Abort, Exit, TyperException

import bench
from bench.errors import BenchError, cannot_write, is_write_error


def _hide_flag_types() -> None:
    """Help shows ``--quiet``, not ``--quiet <bool>``: a flag takes no value, so it has no type.

    Typer labels every option with its type; for on/off flags that label reads as if the flag
    wanted a value. Options with a value (and choices, shown as ``<sdk|fast>``) keep theirs.
    """
    original = TyperOption.display_type_rich
    if getattr(original, "_bench_flags", False):
        return

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:
        if getattr(self, "is_bool_flag", False):
            return None
        return original(self, ctx)

    display_type_rich._bench_flags = True  # type: ignore[attr-defined]  # a marker on the function: patched once
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]  # typer has no hook for it


_hide_flag_types()

app = typer.Typer(
    name="bench",
    help="Benchmark LLM inference providers: first token, output speed, behaviour under load, regressions.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"bench {bench.__version__}")
        raise typer.Exit(0)


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", "-V", is_eager=True, callback=_print_version, help="Print the version and exit."),
    ] = False,
) -> None:
    """Benchmark LLM inference providers: first token, output speed, behaviour under load, regressions."""


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print one line to stderr and return the Exit to raise."""
    typer.echo(f"bench: error: {message}", err=True)
    return typer.Exit(code)


def run_app(application: typer.Typer, args: list[str] | None = None) -> int:
    """Run the app with bench's exit-code contract; returns the exit status."""
    try:
        # Without standalone mode click returns an Exit's code instead of raising it.
        result = application(args=args, standalone_mode=False)
    except BenchError as exc:
        typer.echo(f"bench: error: {exc}", err=True)
        return exc.exit_code
    except Exit as exc:
        return exc.exit_code
    except Abort:
        typer.echo("bench: interrupted", err=True)
        return 130
    except TyperException as exc:  # usage errors: bad options, missing arguments (exit 2)
        exc.show()  # type: ignore[attr-defined]  # every TyperException typer raises here is a click one with show()
        return int(getattr(exc, "exit_code", 2))
    except KeyboardInterrupt:
        typer.echo("bench: interrupted", err=True)
        return 130
    except OSError as exc:  # a write no command caught: still one line naming the path (exit 2)
        if not is_write_error(exc):
            raise
        typer.echo(f"bench: error: {cannot_write(exc)}", err=True)
        return 2
    return result if isinstance(result, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run_app(app))
