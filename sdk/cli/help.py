"""``--help`` that reads like a tool's: placeholders in capitals (PATH, INTEGER), nothing after a flag.

typer labels each option with its Python type (``<bool>``, ``<list[str]>``, ``<int,int>...``); this
module gives every parameter without an explicit ``metavar`` a plain one, once, on the built command
tree, so the command modules only declare their options.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, get_args, get_origin

__all__ = ["METAVARS", "tidy_help", "with_appendix"]

#: Placeholder per Python type; choices keep typer's ``a|b|c`` and flags get none.
METAVARS: dict[Any, str] = {str: "TEXT", int: "INTEGER", float: "NUMBER", Path: "PATH"}


def _metavar(param: Any) -> str | None:
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is None or getattr(descriptor, "choices", None):
        return None
    if getattr(param, "is_flag", False):
        return ""
    annotation = descriptor.annotation
    if get_origin(annotation) in (list, tuple):
        parts = [METAVARS.get(a, "VALUE") for a in get_args(annotation) if a is not Ellipsis]
        return " ".join(parts) if get_origin(annotation) is tuple else parts[0] if parts else "VALUE"
    return METAVARS.get(annotation, "VALUE")


def tidy_help(group: Any) -> Any:
    """Give every parameter of ``group``'s commands (typer's click objects) a plain placeholder; returns ``group``."""
    import typer

    for command in [group, *getattr(group, "commands", {}).values()]:
        help_option = command.get_help_option(typer.Context(command))
        if help_option is not None:
            help_option.metavar = ""  # a flag: no placeholder
        for param in command.params:
            if param.metavar is not None:
                continue
            if getattr(param, "param_type_name", "") == "argument":
                param.metavar = str(param.name).upper()
            elif (metavar := _metavar(param)) is not None:
                param.metavar = metavar
    return group


def with_appendix(doc: str | None, title: str, appendix: str) -> str:
    """A command's docstring with a section added, dedented first so the help shows no stray indentation."""
    return f"{inspect.cleandoc(doc or '')}\n\n{title}\n\n{appendix}"
