"""The typer application objects and the error-handling entry point."""

from __future__ import annotations

import os
import sys

import typer
from rich.console import Console

from srzoo import __version__
from srzoo.errors import SrzooError

app = typer.Typer(
    name="srzoo",
    help="Super-resolution from the command line, with a zoo of lightweight networks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
zoo_app = typer.Typer(help="Manage zoo weights: import official checkpoints, publish.",
                      no_args_is_help=True)
app.add_typer(zoo_app, name="zoo")

err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"srzoo {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Super-resolution from the command line, with a zoo of lightweight networks."""


def fail(message: str, code: int) -> int:
    """Print a one-line error to stderr and return the exit code."""
    err_console.print(f"[bold red]error:[/] {message}", markup=True, highlight=False)
    return code


def _usage_line(exc: typer.TyperException) -> str:
    """One line for a command-line usage error, pointing at the command's --help."""
    context = getattr(exc, "ctx", None)  # usage errors know their command; other errors do not
    hint = f" (see '{context.command_path} --help')" if context is not None else ""
    return f"{exc.format_message()}{hint}"


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the CLI, turning every error into one line and an exit code."""
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="srzoo", standalone_mode=False)
        code = result if isinstance(result, int) else 0
    except SrzooError as exc:
        code = fail(str(exc), exc.exit_code)
    except typer.Exit as exc:
        code = exc.exit_code
    except typer.TyperException as exc:  # typer's usage errors: unknown option, missing or bad parameter
        code = fail(_usage_line(exc), exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        code = fail("interrupted", 130)
    except Exception as exc:  # noqa: BLE001 - last line of defence: one line, never a traceback
        if os.environ.get("SRZOO_DEBUG"):
            raise
        code = fail(f"internal error: {type(exc).__name__}: {exc} (set SRZOO_DEBUG=1 for a traceback)", 1)
    sys.exit(code)
