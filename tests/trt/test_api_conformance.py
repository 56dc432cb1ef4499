"""Our TensorRT-facing Python checked against the real bindings of every TensorRT we support (on a CPU).

TensorRT's libraries cannot be installed here, but its Python bindings can (``tensorrt-cu12-bindings``).
They import over three stub libraries built here with the system C compiler (``libnvinfer.so.N``,
``libnvonnxparser.so.N``, ``libnvinfer_plugin.so.N`` defining the nine C entry points the bindings link
to). Nothing can run, but every class, enum member and method signature of that release is there.

Our uses are found by walking the TensorRT wing's source (``mutualsense.tensorrt``) with :mod:`ast`:
every ``trt.`` chain, the methods called on the variables that hold TensorRT objects (``VAR_TYPES``),
and the methods of our subclasses of TensorRT classes. A use behind ``hasattr(x, "name")`` may be absent
("guarded"). The table goes to ``docs/tensorrt-api.md``, rewritten by the slow test.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import mutualsense.tensorrt

ROOT = Path(__file__).resolve().parents[2]
WING = Path(mutualsense.tensorrt.__file__).parent
PROBE = Path(__file__).with_name("trt_api_probe.py")
TABLE = ROOT / "docs" / "tensorrt-api.md"
CACHE = Path(os.environ.get("MUTUALSENSE_CACHE", Path.home() / ".cache" / "mutualsense")) / "trt-bindings"
PACKAGE = "tensorrt-cu12-bindings"  # every release from 10.0 to 11.x ships a cu12 build
# the releases we support: JetPack 6 (10.3), JetPack 7 (10.13+), the newest 10.x line we know, and 11.x
SUPPORTED = ("10.3", "10.13", "10.16", "11")

# our variables → the TensorRT class of the object they hold (the wing names them consistently)
VAR_TYPES = {
    "builder": "Builder",
    "network": "INetworkDefinition",
    "parser": "OnnxParser",
    "config": "IBuilderConfig",
    "cache": "ITimingCache",
    "registry": "IPluginRegistry",
    "self._runtime": "Runtime",
    "self._engine": "ICudaEngine",
    "self._context": "IExecutionContext",
}

# the nine C entry points of the three libraries the bindings link to (design notes, "measured" section)
STUBS = {
    "libnvinfer": [
        "void* createInferBuilder_INTERNAL(void* l, int v)",
        "void* createInferRuntime_INTERNAL(void* l, int v)",
        "void* createInferRefitter_INTERNAL(void* e, void* l, int v)",
        "void* getPluginRegistry(void)",
        "void* getBuilderPluginRegistry(int v)",
    ],
    "libnvonnxparser": [
        "void* createNvOnnxParser_INTERNAL(void* n, void* l, int v)",
        "void* createNvOnnxParserRefitter_INTERNAL(void* r, void* l, int v)",
        "int getNvOnnxParserVersion(void)",
    ],
    "libnvinfer_plugin": ["int initLibNvInferPlugins(void* l, const char* n)"],
}


@dataclass(frozen=True)
class Use:
    """One TensorRT name we use: a chain of attribute steps from the module or a typed variable."""

    root: str  # "trt" or a TensorRT class name
    steps: tuple[tuple[str, int | None, tuple[str, ...]], ...]  # (name, positional args or None, keywords)
    override: tuple[str, ...] | None  # our parameter names, for a method we override in a subclass
    guarded: bool
    where: str

    @property
    def key(self) -> str:
        text = self.root
        for name, npos, kws in self.steps:
            text += f".{name}"
            if npos is not None:
                text += "(" + ", ".join(["_"] * npos + [f"{k}=" for k in kws]) + ")"
        if self.override is not None:
            text = f"override {text}({', '.join(self.override)})"
        return text

    def payload(self) -> dict[str, Any]:
        steps = [{"name": n, "call": None if p is None else {"npos": p, "kws": list(k)}} for n, p, k in self.steps]
        return {"key": self.key, "root": self.root, "steps": steps, "override": self.override}


def _root(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return "trt" if node.id == "trt" else VAR_TYPES.get(node.id)
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
        return VAR_TYPES.get(f"self.{node.attr}")
    return None


def _chain(node: ast.expr) -> tuple[str, str, list[tuple[str, int | None, tuple[str, ...]]]] | None:
    """(root, root source text, steps) of an attribute/call chain on a TensorRT object, else None."""
    steps: list[tuple[str, int | None, tuple[str, ...]]] = []
    call: ast.Call | None = None
    while True:
        if _root(node) is not None and not steps and call is None:
            return None  # a bare variable is no use of an API
        if _root(node) is not None:
            break
        if isinstance(node, ast.Call):
            call, node = node, node.func
        elif isinstance(node, ast.Attribute):
            if call is not None and any(isinstance(a, ast.Starred) for a in call.args):
                return None
            shape = (len(call.args), tuple(k.arg or "**" for k in call.keywords)) if call else (None, ())
            steps.append((node.attr, *shape))
            call, node = None, node.value
        else:
            return None
    if call is not None:
        return None  # calling the variable itself
    return _root(node) or "", ast.unparse(node), steps[::-1]


def _guards(tree: ast.Module) -> list[tuple[str, str, int, int]]:
    """(object source, attribute name, first line, last line) of code that runs only where the name exists."""
    found = []
    parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
    for node in ast.walk(tree):
        if not isinstance(node, ast.If):
            continue
        for call in ast.walk(node.test):
            is_hasattr = isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "hasattr"
            if not is_hasattr or not isinstance(call.args[1], ast.Constant):
                continue
            obj, name = ast.unparse(call.args[0]), str(call.args[1].value)
            negated = isinstance(node.test, ast.UnaryOp) and isinstance(node.test.op, ast.Not)
            if not negated:
                found.append((obj, name, node.body[0].lineno, node.body[-1].end_lineno or node.lineno))
            elif isinstance(node.body[-1], ast.Return | ast.Raise):  # `if not hasattr(...): return`: the rest
                scope = parents.get(node)
                found.append((obj, name, node.end_lineno or node.lineno, getattr(scope, "end_lineno", 10**9)))
    return found


def collect_uses(folder: Path = WING) -> list[Use]:
    """Every TensorRT attribute, enum member, method call and override in the wing's source."""
    uses: dict[str, Use] = {}
    for path in sorted(folder.glob("*.py")):
        tree = ast.parse(path.read_text())
        guards = _guards(tree)
        parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
        for node in ast.walk(tree):
            parent = parents.get(node)
            if isinstance(parent, ast.Attribute) or (isinstance(parent, ast.Call) and parent.func is node):
                continue  # only whole chains
            if isinstance(node, ast.Attribute | ast.Call):
                found = _chain(node)
                if found:
                    root, source, steps = found
                    guarded = False
                    for i in range(len(steps)):
                        prefix = source + "".join(f".{s[0]}" for s in steps[:i])
                        guarded |= any(
                            g[0] == prefix and g[1] == steps[i][0] and g[2] <= node.lineno <= g[3] for g in guards
                        )
                    use = Use(root, tuple(steps), None, guarded, f"{path.name}:{node.lineno}")
                    seen = uses.setdefault(use.key, use)
                    if seen.guarded and not guarded:  # guarded only where every use of it is
                        uses[use.key] = use
            if isinstance(node, ast.ClassDef):
                for base in node.bases:
                    found = _chain(base)
                    if not found or found[0] != "trt":
                        continue
                    for fn in node.body:
                        if isinstance(fn, ast.FunctionDef) and fn.name != "__init__":
                            params = tuple(a.arg for a in fn.args.args[1:])
                            guarded = any(g[1] == found[2][-1][0] and g[2] <= fn.lineno <= g[3] for g in guards)
                            steps = (*found[2], (fn.name, None, ()))
                            use = Use("trt", steps, params, guarded, f"{path.name}:{fn.lineno}")
                            uses.setdefault(use.key, use)
    return sorted(uses.values(), key=lambda u: u.key)


# --- fast tests of the collector and the signature check (no network, no bindings) ---------------------


def test_the_collector_finds_our_uses_and_their_guards() -> None:
    uses = {u.key: u for u in collect_uses()}
    assert "IPluginRegistry.load_library(_)" in uses and "IPluginRegistry.get_creator(_, _, _)" in uses
    assert "trt.Builder(_)" in uses and "IBuilderConfig.get_timing_cache().serialize()" in uses
    assert "IBuilderConfig.set_timing_cache(_, ignore_mismatch=)" in uses
    assert "OnnxParser.get_error(_).desc()" in uses and "ICudaEngine.num_io_tensors" in uses
    assert "override trt.ILogger.log(severity, msg)" in uses
    assert uses["trt.BuilderFlag.FP16"].guarded and uses["trt.BuilderFlag.INT8"].guarded
    assert (
        uses["trt.IProgressMonitor"].guarded
        and uses["override trt.IProgressMonitor.phase_start(phase_name, parent_phase, num_steps)"].guarded
    )
    assert not uses["trt.Builder(_)"].guarded and not uses["IBuilderConfig.set_flag(_)"].guarded
    assert len(uses) >= 30


def test_the_signature_check_rejects_what_pybind_would() -> None:
    sys.path.insert(0, str(PROBE.parent))
    try:
        import trt_api_probe as probe
    finally:
        sys.path.remove(str(PROBE.parent))

    def method(doc: str) -> Any:
        return type("M", (), {"__doc__": doc})()

    sig = probe.signatures(
        method(
            "set_timing_cache(self: tensorrt.tensorrt.IBuilderConfig, cache: ITimingCache, ignore_mismatch: bool)"
            " -> bool\n\nDocs."
        ),
        "set_timing_cache",
    )
    ((params, ret),) = sig
    assert params == [("self", False), ("cache", False), ("ignore_mismatch", False)] and ret == "bool"
    assert probe.fits(params[1:], 1, ["ignore_mismatch"]) is None
    assert "missing argument(s) ignore_mismatch" in (probe.fits(params[1:], 1, []) or "")
    assert "no parameter ignore" in (probe.fits(params[1:], 1, ["ignore"]) or "")
    assert "3 positional" in (probe.fits(params[1:], 3, []) or "")
    over = probe.signatures(
        method(
            "f(*args, **kwargs)\nOverloaded function.\n\n1. f(self: X, a: int) -> None\n\n"
            "2. f(self: X, a: int, b: List[Tuple[int, int]] = []) -> int\n"
        ),
        "f",
    )
    assert [len(p) for p, _ in over] == [2, 3] and over[1][0][2] == ("b", True)


# --- the slow test over the real bindings ------------------------------------------------------------------


def _pip(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def _py_tag() -> str:
    return f"cp{sys.version_info.major}{sys.version_info.minor}"


def _cached(version: str) -> Path:
    return CACHE / _py_tag() / version


def _releases() -> dict[str, str]:
    """Supported line → newest release of it: from the index, else from the cache; skip when neither has it."""
    out = _pip("index", "versions", PACKAGE, timeout=120)
    m = re.search(r"Available versions:\s*(.+)", out.stdout)
    known = [v.strip() for v in m.group(1).split(",")] if m else []
    if not known and (CACHE / _py_tag()).is_dir():
        known = [p.name for p in (CACHE / _py_tag()).iterdir() if (p / "tensorrt_bindings").is_dir()]
    chosen = {}
    for line in SUPPORTED:
        matching = [v for v in known if v == line or v.startswith(line + ".")]
        if not matching:
            pytest.skip(
                f"the package index cannot be reached and no {PACKAGE} {line}.x is cached in {CACHE}: "
                f"{(out.stderr or out.stdout).strip()[-300:]}"
            )
        chosen[line] = max(matching, key=lambda v: [int(p) for p in re.findall(r"\d+", v)])
    return chosen


def _install(version: str) -> Path:
    target = _cached(version)
    if (target / "tensorrt_bindings").is_dir():
        return target
    tmp = target.with_name(target.name + f".tmp-{os.getpid()}")
    out = _pip("install", "--quiet", "--no-deps", "--only-binary=:all:", "--target", str(tmp), f"{PACKAGE}=={version}")
    if out.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        pytest.skip(f"cannot install {PACKAGE}=={version} from the index: {out.stderr.strip()[-300:]}")
    tmp.replace(target)
    return target


def _stubs(major: str) -> Path:
    folder = CACHE / "stubs" / major
    if all((folder / f"{lib}.so.{major}").is_file() for lib in STUBS):
        return folder
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler (cc/gcc) to build the stub TensorRT libraries")
    folder.mkdir(parents=True, exist_ok=True)
    for lib, functions in STUBS.items():
        src = folder / f"{lib}.c"
        src.write_text("".join(f"{f} {{ return 0; }}\n" for f in functions))
        name = f"{lib}.so.{major}"
        subprocess.run([cc, "-shared", "-fPIC", f"-Wl,-soname,{name}", str(src), "-o", str(folder / name)], check=True)
    return folder


def _probe(version: str, uses: list[Use], tmp: Path) -> dict[str, Any]:
    bindings, stubs = _install(version), _stubs(version.split(".")[0])
    request = tmp / f"uses-{version}.json"
    request.write_text(json.dumps([u.payload() for u in uses]))
    env = {**os.environ, "PYTHONPATH": str(bindings), "LD_LIBRARY_PATH": str(stubs)}
    out = subprocess.run(
        [sys.executable, str(PROBE), str(request)], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert out.returncode == 0, f"TensorRT {version} bindings did not import over the stubs:\n{out.stderr[-2000:]}"
    return json.loads(out.stdout)


def _cell(use: Use, result: dict[str, str]) -> str:
    if result["status"] == "present":
        return "present"
    if use.guarded and result["status"] == "missing":
        return "guarded (absent)"
    return f"**{result['status']}**: {result['detail']}"


def _write_table(uses: list[Use], found: dict[str, dict[str, Any]]) -> None:
    versions = list(found)
    lines = [
        "# The TensorRT Python API we use, per TensorRT release",
        "",
        "Generated by `tests/trt/test_api_conformance.py` (marked slow) from the real `tensorrt-cu12-bindings` of each",
        "release, imported over stub libraries on a CPU. Rows: every TensorRT name the TensorRT wing",
        "(`mutualsense.tensorrt`) uses, found by walking its source; `_` is a positional argument, `name=` a",
        "keyword. *present*: the name exists and our arguments fit its signature; *guarded (absent)*: absent,",
        "and our code only uses it behind a `hasattr` check; anything else fails the test.",
        "",
        "| API we use | where | " + " | ".join(f"TensorRT {v}" for v in versions) + " |",
        "| --- | --- | " + " | ".join("---" for _ in versions) + " |",
    ]
    for use in uses:
        cells = [_cell(use, found[v]["results"][use.key]) for v in versions]
        lines.append(f"| `{use.key}` | {use.where} | " + " | ".join(cells) + " |")
    lines += ["", "Counts per release (present / guarded / failing):", ""]
    for v in versions:
        cells = [_cell(u, found[v]["results"][u.key]) for u in uses]
        present, guarded = cells.count("present"), cells.count("guarded (absent)")
        lines.append(f"- TensorRT {v}: {present} / {guarded} / {len(cells) - present - guarded} of {len(cells)}")
    TABLE.write_text("\n".join(lines) + "\n")


@pytest.mark.slow
def test_every_tensorrt_name_we_use_exists_in_every_supported_release(tmp_path: Path) -> None:
    uses = collect_uses()
    found = {}
    for line, version in _releases().items():
        probed = _probe(version, uses, tmp_path)
        assert probed["version"].startswith(line)
        found[version] = probed
    _write_table(uses, found)
    failures = [
        f"TensorRT {v}: {u.key} ({u.where}): {found[v]['results'][u.key]['detail']}"
        for v in found
        for u in uses
        if _cell(u, found[v]["results"][u.key]) not in ("present", "guarded (absent)")
    ]
    assert not failures, "\n".join(failures)
