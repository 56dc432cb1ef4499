"""Run in a subprocess over TensorRT's real Python bindings (and stub libraries): which of our uses exist.

Input (argv[1]): JSON list of uses, each ``{"key", "root", "steps": [{"name", "call": null | {"npos", "kws"}}],
"override": null | [parameter names]}``; ``root`` is ``"trt"`` (the module) or a TensorRT class name (an
instance of it). Output (stdout): ``{"version": ..., "results": {key: {"status", "detail"}}}`` with status
``present``, ``missing`` (a name is absent), ``signature`` (our arguments do not fit) or ``unresolved``.
pybind11 puts each method's signature(s) in the first line(s) of its docstring; pure-Python functions are
read with :mod:`inspect`.
"""

from __future__ import annotations

import importlib
import inspect
import json
import re
import sys
from pathlib import Path
from typing import Any

# C++ return types pybind11 leaves unnamed in a docstring → the Python class that wraps them
CPP_TYPES = {"nvonnxparser::IParserError": "ParserError"}


def split_params(text: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch in "([{<":
            depth += 1
        elif ch in ")]}>":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


def signatures(fn: Any, name: str) -> list[tuple[list[tuple[str, bool]], str]]:
    """Every overload of ``fn`` as ([(parameter, has_default)], return type); [] when unknown."""
    doc = getattr(fn, "__doc__", None) or ""
    found = []
    for line in doc.splitlines():
        m = re.match(rf"^\s*(?:\d+\.\s*)?{re.escape(name)}\((.*)\)\s*->\s*(\S.*?)\s*$", line)
        if m:
            params = [(p.split(":")[0].split("=")[0].strip(), "=" in p) for p in split_params(m.group(1))]
            found.append((params, m.group(2)))
    if found:
        return found
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return []
    params = []
    for p in sig.parameters.values():
        label = {p.VAR_POSITIONAL: "*" + p.name, p.VAR_KEYWORD: "**" + p.name}.get(p.kind, p.name)
        params.append((label, p.default is not p.empty))
    return [(params, "object")]


def fits(params: list[tuple[str, bool]], npos: int, kws: list[str]) -> str | None:
    """None when a call with ``npos`` positional arguments and keywords ``kws`` fits, else why not."""
    names = [n for n, _ in params]
    if any(n.startswith("*") and not n.startswith("**") for n in names):
        return None
    plain = [(n, d) for n, d in params if not n.startswith("*")]
    if npos > len(plain):
        return f"{npos} positional arguments, it takes {len(plain)} ({', '.join(n for n, _ in plain)})"
    rest = [n for n, _ in plain[npos:]]
    unknown = [k for k in kws if k not in rest]
    if unknown and not any(n.startswith("**") for n in names):
        return f"no parameter {', '.join(unknown)} (it takes {', '.join(n for n, _ in plain)})"
    required = [n for n, d in plain[npos:] if not d and n not in kws]
    if required:
        return f"missing argument(s) {', '.join(required)} (it takes {', '.join(n for n, _ in plain)})"
    return None


def result_type(trt: Any, ret: str) -> Any:
    name = CPP_TYPES.get(ret, re.sub(r"^.*\btensorrt\.", "", ret))
    obj = trt
    for part in name.split("."):
        obj = getattr(obj, part, None)
    return obj if inspect.isclass(obj) else None


def check(trt: Any, use: dict[str, Any]) -> dict[str, str]:
    kind, obj = ("module", trt) if use["root"] == "trt" else ("instance", getattr(trt, use["root"], None))
    if obj is None:
        return {"status": "missing", "detail": f"no class {use['root']}"}
    path = use["root"]
    for step in use["steps"]:
        name, call = step["name"], step["call"]
        path += f".{name}"
        if kind == "value":
            return {"status": "unresolved", "detail": f"cannot follow {path}: the previous value's type is unknown"}
        owner = obj
        if not hasattr(owner, name):
            return {"status": "missing", "detail": f"{path} does not exist"}
        member = getattr(owner, name)
        if use.get("override") is not None and step is use["steps"][-1]:
            sigs = signatures(member, name)
            ours = ["self", *use["override"]]
            if sigs and all([n for n, _ in p] != ours for p, _ in sigs):
                theirs = "; ".join(", ".join(n for n, _ in p) for p, _ in sigs)
                return {"status": "signature", "detail": f"we override ({', '.join(ours)}), TensorRT has ({theirs})"}
            return {"status": "present", "detail": ""}
        if call is None:
            kind, obj = ("class", member) if inspect.isclass(member) else ("value", None)
            continue
        constructing = inspect.isclass(member)
        fn, label = (member.__init__, "__init__") if constructing else (member, name)
        sigs = signatures(fn, label)
        if not sigs:
            return {"status": "unresolved", "detail": f"no signature for {path}"}
        drop_self = constructing or kind == "instance"
        why = None
        for params, ret in sigs:
            usable = params[1:] if drop_self and params and params[0][0] == "self" else params
            why = fits(usable, call["npos"], call["kws"])
            if why is None:
                returned = member if constructing else result_type(trt, ret)
                kind, obj = ("instance", returned) if returned is not None else ("value", None)
                break
        if why is not None:
            return {"status": "signature", "detail": f"{path}: {why}"}
    return {"status": "present", "detail": ""}


def main() -> None:
    uses = json.loads(Path(sys.argv[1]).read_text())
    trt = importlib.import_module("tensorrt_bindings")
    results = {u["key"]: check(trt, u) for u in uses}
    print(json.dumps({"version": trt.__version__, "results": results}))


if __name__ == "__main__":
    main()
