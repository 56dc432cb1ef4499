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
    no_args_is_help=False,
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


def _usage_error(exc: typer.TyperException, args: list[str]) -> MutualSenseError:
    from mutualsense.cli.usage import describe_usage_error

    command = next((a for a in args if not a.startswith("-")), None)
    mistake = describe_usage_error(exc, command)
    return MutualSenseError(mistake.what, mistake.remedy)


def _no_command() -> MutualSenseError:
    from mutualsense.cli.usage import no_command_mistake

    names = [c.name for c in app.registered_commands if c.name] + [
        c.callback.__name__.replace("_", "-") for c in app.registered_commands if not c.name and c.callback
    ]
    mistake = no_command_mistake(names)
    return MutualSenseError(mistake.what, mistake.remedy)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script: expected failures exit 2 without a traceback."""
    from mutualsense.cli import commands  # noqa: F401  (registers the subcommands)

    args = sys.argv[1:] if argv is None else argv
    try:
        if not args:
            raise _no_command()
        # Without standalone mode, typer *returns* the code of a `typer.Exit` raised by a command, and turns
        # Ctrl-C into Exit(130), which is returned the same way: exit with it.
        from mutualsense.cli.help import tidy_help

        command = tidy_help(typer.main.get_command(app))
        code = command.main(args=args, prog_name="mutualsense", standalone_mode=False)
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
    except typer.Abort:
        err_console.print("[yellow]aborted[/]")
        sys.exit(130)
    except typer.TyperException as exc:  # typer's own click: a usage mistake on the command line
        report_error(_usage_error(exc, args))
        sys.exit(2)
