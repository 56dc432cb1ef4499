"""The ``mutualsense`` command line: one binary, one subcommand per user story.

Subcommands import their heavy dependencies (torch, pyrealsense2, TensorRT) inside the command,
so every other subcommand keeps working where one's dependency is missing.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape

from mutualsense import __version__
from mutualsense.errors import MutualSenseError

__all__ = ["app", "main"]

app = typer.Typer(
    name="mutualsense",
    help="MutualFormer RGB-D salient-object detection for robots: train, export, stream, profile.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    add_completion=False,
)
err_console = Console(stderr=True)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"mutualsense {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """MutualFormer RGB-D salient-object detection for robots."""


def report_error(exc: MutualSenseError) -> None:
    """Print an expected failure as one red paragraph (what, then how to fix it)."""
    text = exc.what if exc.remedy is None else f"{exc.what}\nFix: {exc.remedy}"
    err_console.print(f"[bold red]error:[/] {escape(text)}", highlight=False, soft_wrap=True)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script: expected failures exit 2 without a traceback."""
    from mutualsense.cli import commands  # noqa: F401  (registers the subcommands)

    try:
        # Without standalone mode, typer *returns* the code of a `typer.Exit` raised by a command, and turns
        # Ctrl-C into Exit(130), which is returned the same way: exit with it.
        code = app(args=argv, standalone_mode=False)
        if code == 130:
            raise KeyboardInterrupt
        if isinstance(code, int) and not isinstance(code, bool) and code:
            sys.exit(code)
    except MutualSenseError as exc:
        report_error(exc)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]")
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:
        import click

        if isinstance(exc, click.exceptions.Abort):
            err_console.print("[yellow]aborted[/]")
            sys.exit(130)
        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
