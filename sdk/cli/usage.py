"""Usage mistakes (a misspelt command or option, a missing option, a value of the wrong kind) as one paragraph.

typer parses the command line with its own copy of click and raises that copy's exceptions, all subclasses of
the public :class:`typer.TyperException`. This module turns one into a :class:`UsageMistake`: what is wrong,
in the words the user typed, and how to fix it. It reads only what those exceptions carry (``format_message``,
``ctx``, ``param``, ``possibilities``), never the private module that defines them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

import typer

__all__ = ["UsageMistake", "describe_usage_error", "no_command_mistake"]

_DID_YOU_MEAN = re.compile(r"\.?\s*Did you mean (?P<what>[^?]+)\?$")


@dataclass(frozen=True)
class UsageMistake:
    """A command-line mistake, ready to print: ``what`` went wrong and the ``remedy``."""

    what: str
    remedy: str


def _command_path(exc: Exception, command: str | None) -> str:
    ctx = getattr(exc, "ctx", None)
    path = getattr(ctx, "command_path", None)
    if path and " " in str(path):
        return "mutualsense " + str(path).split(" ", 1)[1]
    return f"mutualsense {command}" if command else "mutualsense"


def _help_hint(path: str) -> str:
    return f"`{path} --help` lists every option with its default"


def _option_name(param: Any) -> str:
    opts = [o for o in (getattr(param, "opts", None) or []) if o.startswith("--")]
    if opts:
        return str(opts[0])
    name = getattr(param, "human_readable_name", None) or getattr(param, "name", "") or "value"
    return str(name).upper()


def _number(value: float) -> str:
    return f"{value:g}"


def _bad_value(exc: Exception, param: Any) -> UsageMistake:
    """A value that is not of the option's kind (a word for a number) or out of its range."""
    name = _option_name(param)
    cause = exc.__cause__
    errors = cause.errors() if cause is not None and hasattr(cause, "errors") else []
    typed = errors[0].get("input") if errors else None
    shown = f" {typed!r}" if isinstance(typed, str | int | float) else ""
    descriptor = getattr(param, "type_descriptor", None)
    annotation = getattr(descriptor, "annotation", None)
    choices = getattr(descriptor, "choices", None)
    if choices:
        names = [str(getattr(c, "value", c)) for c in choices]
        listed = ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else names[0]
        return UsageMistake(f"{name} takes {listed}; got{shown or ' something else'}.", f"give {name} {listed}.")
    lo, hi = getattr(param, "min", None), getattr(param, "max", None)
    number = "a whole number" if annotation is int else "a number"
    if lo is not None and hi is not None:
        need = f"{number} from {_number(lo)} to {_number(hi)}"
    elif lo is not None:
        need = f"{number} ≥ {_number(lo)}"
    elif hi is not None:
        need = f"{number} ≤ {_number(hi)}"
    elif annotation is int:
        need = "a whole number"
    elif annotation is float:
        need = "a number (e.g. 0.5 or 2e-3)"
    else:
        detail = str(getattr(exc, "message", "")).rstrip(".")
        if annotation is not None and isinstance(annotation, type) and issubclass(annotation, PurePath):
            # typer's own path checks, e.g. "path 'x.pt' is not readable"
            said = re.match(r"^[Pp]ath '(?P<path>[^']*)' (?P<what>.*)$", detail)
            path, detail = (said.group("path"), said.group("what")) if said else (str(typed or ""), detail)
            return UsageMistake(
                f"{name} {path} {detail}.", "check its permissions (`ls -l`), or copy it somewhere readable."
            )
        return UsageMistake(f"bad value{shown} for {name}: {detail}.", f"check the value of {name}.")
    return UsageMistake(f"{name} takes {need}; got{shown or ' something else'}.", f"give {name} {need}.")


def describe_usage_error(exc: typer.TyperException, command: str | None = None) -> UsageMistake:
    """One paragraph for a typer (click) usage exception, naming the options the user typed.

    Args:
        exc: the exception typer raised while parsing the command line.
        command: the subcommand the user typed, if any (typer does not attach it to every exception).
    """
    path = _command_path(exc, command)
    message = exc.format_message().strip()
    param = getattr(exc, "param", None)
    option = getattr(exc, "option_name", None)
    if option is not None and hasattr(exc, "possibilities"):  # an unknown option
        possibilities = getattr(exc, "possibilities", None) or []
        what = f"`{path}` has no option {option}."
        if possibilities:
            return UsageMistake(what, f"did you mean {' or '.join(sorted(possibilities))}? {_help_hint(path)}.")
        return UsageMistake(what, f"check the spelling; {_help_hint(path)}.")
    if option is not None:  # an option without its value(s), or a flag given a value
        if "does not take a value" in message:
            return UsageMistake(f"{option} is a flag and takes no value.", f"write just {option}.")
        count = re.search(r"requires (\d+) arguments", message)
        n = int(count.group(1)) if count else 1
        values = " ".join(["VALUE"] * n)
        need = f"{n} values" if n > 1 else "a value"
        return UsageMistake(f"{option} needs {need} after it.", f"write {option} {values}; {_help_hint(path)}.")
    if message.startswith("No such command"):
        typo = re.search(r"'([^']*)'", message)
        what = f"mutualsense has no command {typo.group(1)!r}." if typo else message
        guess = _DID_YOU_MEAN.search(message)
        if guess:
            return UsageMistake(what, f"did you mean {guess.group('what')}? `mutualsense --help` lists the commands.")
        return UsageMistake(what, "`mutualsense --help` lists the commands.")
    if message.startswith("Missing") and param is not None:
        wanted = _option_name(param)
        if wanted.startswith("--"):
            metavar = getattr(param, "metavar", None) or "VALUE"
            return UsageMistake(f"`{path}` needs {wanted}.", f"add {wanted} {metavar}; {_help_hint(path)}.")
        return UsageMistake(f"`{path}` needs its {wanted} argument.", f"write `{path} {wanted}`; {_help_hint(path)}.")
    if param is not None:
        return _bad_value(exc, param)
    extra = re.match(r"Got unexpected extra argument\S* \((?P<args>.*)\)", message)
    if extra:
        return UsageMistake(
            f"`{path}` does not take {extra.group('args')!r} here.",
            f"remove it, or put it after the option it belongs to; {_help_hint(path)}.",
        )
    return UsageMistake(message.rstrip(".") + ".", f"{_help_hint(path)}.")


def no_command_mistake(commands: list[str]) -> UsageMistake:
    """The paragraph for ``mutualsense`` run with no command at all."""
    return UsageMistake(
        "no command given.",
        f"run one of: {', '.join(sorted(commands))} (`mutualsense --help` says what each does; "
        "`mutualsense doctor` checks this machine).",
    )
