"""The typer application objects and the error-handling entry point."""

from __future__ import annotations

import os
import sys

import typer
from rich.console import Console
from typer._click import Context, HelpFormatter
from typer._click.exceptions import NoArgsIsHelpError
from typer.core import TyperCommand

from srzoo import __version__
from srzoo.cli.signals import INTERRUPTED, leave, stop_reason, stopped
from srzoo.errors import SrzooError

class Command(TyperCommand):
    """Help in the usual style: arguments by their metavar (`INPUT...`), without type tags."""

    def collect_usage_pieces(self, ctx: Context) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        return pieces + [self._arg_name(p) for p in self.get_params(ctx) if p.param_type_name == "argument"]

    def format_options(self, ctx: Context, formatter: HelpFormatter) -> None:
        params = self.get_params(ctx)
        arguments = [(self._arg_name(p), p.help or "") for p in params if p.param_type_name == "argument"]
        options = [(self._option_name(p), rv[1]) for p in params
                   if p.param_type_name == "option" and (rv := p.get_help_record(ctx))]
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)

    @staticmethod
    def _option_name(param: typer.core.TyperOption) -> str:
        """`-m, --model NAME`: short names first, then the metavar (the option's name by default)."""
        names = ", ".join(sorted(param.opts, key=len))
        if param.secondary_opts:
            return f"{names} / {', '.join(param.secondary_opts)}"
        if param.is_flag:
            return names
        return f"{names} {param.metavar or param.name.upper()}"

    @staticmethod
    def _arg_name(param: typer.core.TyperArgument) -> str:
        name = param.metavar or param.name.upper()
        return name if param.nargs == 1 or name.endswith("...") else f"{name}..."


app = typer.Typer(
    name="srzoo",
    help="Super-resolution from the command line, with a zoo of lightweight networks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
zoo_app = typer.Typer(help="Manage zoo weights: import official checkpoints, publish.",
                      no_args_is_help=True, context_settings={"help_option_names": ["-h", "--help"]})
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


def run(argv: list[str] | None = None) -> None:
    """Run the CLI, turning every error into one line and an exit code (`srzoo.cli.main` calls it)."""
    try:
        from srzoo.cli import upscale, eval, train, models, bench, zoo  # noqa: F401, I001  (help lists this order)

        command = typer.main.get_command(app)
        result = command.main(args=argv, prog_name="srzoo", standalone_mode=False)
        code = result if isinstance(result, int) else 0
    except NoArgsIsHelpError as exc:  # `srzoo`, `srzoo zoo`: the help, and not an error
        typer.echo(exc.format_message())
        code = 0
    except SrzooError as exc:
        code = fail(str(exc), exc.exit_code)
    except typer.Exit as exc:
        code = exc.exit_code
    except typer.TyperException as exc:  # typer's usage errors: unknown option, missing or bad parameter
        code = fail(_usage_line(exc), exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        code = INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - last line of defence: one line, never a traceback
        if os.environ.get("SRZOO_DEBUG"):
            raise
        code = fail(f"internal error: {type(exc).__name__}: {exc} (set SRZOO_DEBUG=1 for a traceback)", 1)
    if code == INTERRUPTED or stopped():  # typer returns a Ctrl-C inside a command as a silent 130
        code = fail(*stop_reason())
        if stopped():  # a real signal (not a KeyboardInterrupt raised in-process, as by a test)
            leave(code)
    sys.exit(code)
