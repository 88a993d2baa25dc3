"""The application: registers every command function and turns every error into one line.

The command modules (`upscale`, `eval`, `train`, `models`, `bench`, `zoo`) define functions marked
with `srzoo.cli.common.command`; this module adds them to the typer application in help order.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

import typer

from srzoo import __version__
from srzoo.cli import bench, eval, models, train, upscale, zoo
from srzoo.cli.common import Command, fail
from srzoo.cli.signals import INTERRUPTED, leave, stop_reason, stopped
from srzoo.constants import debug
from srzoo.errors import SrzooError

COMMANDS: tuple[Callable[..., Any], ...] = (
    upscale.upscale_command, eval.eval_command, train.train_command, train.export_command,
    models.models_command, models.download_command, bench.bench_command,
)
ZOO_COMMANDS: tuple[Callable[..., Any], ...] = (zoo.import_command, zoo.publish_command)
_SETTINGS = {"help_option_names": ["-h", "--help"]}

app = typer.Typer(
    name="srzoo",
    help="Super-resolution from the command line, with a zoo of lightweight networks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings=_SETTINGS,
)
zoo_app = typer.Typer(help="Manage zoo weights: import official checkpoints, publish.",
                      no_args_is_help=True, context_settings=_SETTINGS)


def _register(target: typer.Typer, functions: tuple[Callable[..., Any], ...]) -> None:
    for function in functions:
        spec = function.cli_spec  # type: ignore[attr-defined]
        target.command(spec.name, cls=Command, **spec.options)(function)


_register(app, COMMANDS)
_register(zoo_app, ZOO_COMMANDS)
app.add_typer(zoo_app, name="zoo")


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


def _usage_line(exc: typer.TyperException) -> str:
    """One line for a command-line usage error, pointing at the command's --help."""
    context = getattr(exc, "ctx", None)  # usage errors know their command; other errors do not
    hint = f" (see '{context.command_path} --help')" if context is not None else ""
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    return f"{message}{hint}"


class _StderrNotes(logging.Handler):
    """Writes each record as `srzoo: message` to whatever `sys.stderr` is at that moment; INFO
    records (what a download is waiting for) only on a terminal, so that scripts see one line."""

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno < logging.WARNING and not sys.stderr.isatty():
            return
        sys.stderr.write(f"srzoo: {record.getMessage()}\n")
        sys.stderr.flush()


def _show_library_notes() -> None:
    """The library's one-line notes (warnings on the "srzoo" logger) go to stderr."""
    logger = logging.getLogger("srzoo")
    if not any(isinstance(h, _StderrNotes) for h in logger.handlers):
        logger.addHandler(_StderrNotes())
        logger.setLevel(logging.INFO)  # info: what a download is waiting for
        logger.propagate = False


def run(argv: list[str] | None = None) -> None:
    """Run the CLI, turning every error into one line and an exit code (`srzoo.cli.main` calls it)."""
    _show_library_notes()
    try:
        command = typer.main.get_command(app)
        result = command.main(args=argv, prog_name="srzoo", standalone_mode=False)
        code = result if isinstance(result, int) else 0
    except SrzooError as exc:
        code = fail(str(exc), exc.exit_code)
    except typer.Exit as exc:
        code = exc.exit_code
    except typer.TyperException as exc:  # typer's usage errors: unknown option, missing or bad parameter
        if type(exc).__name__ == "NoArgsIsHelpError":  # `srzoo`, `srzoo zoo`: the help, not an error
            typer.echo(exc.format_message())  # type: ignore[attr-defined]
            code = 0
        else:
            code = fail(_usage_line(exc), getattr(exc, "exit_code", 2))
    except (KeyboardInterrupt, typer.Abort):
        code = INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - last line of defence: one line, never a traceback
        if debug():
            raise
        code = fail(f"internal error: {type(exc).__name__}: {exc} (set SRZOO_DEBUG=1 for a traceback)", 1)
    if code == INTERRUPTED or stopped():  # typer returns a Ctrl-C inside a command as a silent 130
        code = fail(*stop_reason())
        if stopped():  # a real signal (not a KeyboardInterrupt raised in-process, as by a test)
            leave(code)
    sys.exit(code)
