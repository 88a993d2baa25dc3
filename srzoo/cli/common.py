"""What the command modules share: the help style, the error console and the `command` marker.

Command modules define plain functions marked with `@command(name, ...)`; `srzoo.cli.app`
registers them. No command module imports the application. Only typer's public names are used
(typer vendors its own click, so the public `click` package is not the one typer runs on; the
overridden methods receive that vendored click's context and formatter, typed `Any` here).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from rich.console import Console
from rich.markup import escape
from typer.core import TyperArgument, TyperCommand, TyperOption

err_console = Console(stderr=True, highlight=False, soft_wrap=True)
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class CommandSpec:
    """How `srzoo.cli.app` registers a command function: its name and typer's keyword arguments."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)


def command(name: str, **options: Any) -> Callable[[F], F]:
    """Mark a function as the command `name` (`options`: typer's `short_help`, `epilog`, ...)."""

    def mark(function: F) -> F:
        function.cli_spec = CommandSpec(name, options)  # type: ignore[attr-defined]
        return function

    return mark


def fail(message: str, code: int) -> int:
    """Print a one-line error to stderr and return the exit code."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", markup=True, highlight=False)
    return code


class Command(TyperCommand):
    """Help in the usual style: arguments by their metavar (`INPUT...`), without type tags."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        return pieces + [self._arg_name(p) for p in self.get_params(ctx) if isinstance(p, TyperArgument)]

    def format_options(self, ctx: Any, formatter: Any) -> None:
        params = self.get_params(ctx)
        arguments = [(self._arg_name(p), p.help or "") for p in params if isinstance(p, TyperArgument)]
        options = [(self._option_name(p), rv[1]) for p in params
                   if isinstance(p, TyperOption) and (rv := p.get_help_record(ctx))]
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)

    @staticmethod
    def _option_name(param: TyperOption) -> str:
        """`-m, --model NAME`: short names first, then the metavar (the option's name by default)."""
        names = ", ".join(sorted(param.opts, key=len))
        if param.secondary_opts:
            return f"{names} / {', '.join(param.secondary_opts)}"
        if param.is_flag:
            return names
        return f"{names} {param.metavar or param.name.upper()}"

    @staticmethod
    def _arg_name(param: TyperArgument) -> str:
        name = param.metavar or param.name.upper()
        return name if param.nargs == 1 or name.endswith("...") else f"{name}..."
