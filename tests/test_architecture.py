"""The shape of the code: one-way dependencies (calibration → export → runtime), no import cycles, no
private names imported across modules, small modules and functions, and design references that exist."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"sdk": "mutualsense", "export": "mutualsense.export", "calibration": "mutualsense.calibration"}
MAX_MODULE_LINES = 410  # "about 400": a file over it is usually two modules
MAX_FUNCTION_LINES = 80  # statements of a function body, docstring excluded
# Explicit and short: what may exceed the limits, and why.
LONG_FUNCTIONS = {
    "mutualsense.export.train.train": "the training loop (owned by the training work this round)",
}
LONG_MODULES = {
    "mutualsense.outputs.messages": "grew with the 3D object fields this round; its decoders are the part to move out",
}
# The runtime never imports the toolchain, except where it reports on it.
RUNTIME_TOOLCHAIN_IMPORTS = {
    "mutualsense.doctor.probes": "reports whether the INT8 quantiser's venv is ready (lazily, inside the check)",
}


def _modules() -> Iterator[tuple[str, Path]]:
    for folder, package in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            name = ".".join([package, *parts])
            if folder == "sdk" and parts[:1] in (["export"], ["calibration"]):
                continue  # not part of the runtime tree
            yield name, path


MODULES = dict(_modules())


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(module: str, path: Path, top_level_only: bool) -> Iterator[tuple[str, list[str], int]]:
    """(imported module, names, line) of every import; relative imports resolved."""
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]

    def walk(nodes: list[ast.stmt]) -> Iterator[ast.stmt]:
        for node in nodes:
            if isinstance(node, ast.If) and _is_type_checking(node):
                continue  # annotations only, never executed
            yield node
            if not top_level_only or isinstance(node, (ast.If, ast.Try, ast.With)):
                for child in ast.iter_child_nodes(node):
                    if isinstance(child, ast.stmt):
                        yield from walk([child])

    for node in walk(tree.body):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, [], node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            yield base, [a.name for a in node.names], node.lineno


def _layer(module: str) -> str:
    for layer in ("mutualsense.calibration", "mutualsense.export"):
        if module == layer or module.startswith(layer + "."):
            return layer
    return "mutualsense"


def test_dependencies_run_one_way_calibration_export_runtime() -> None:
    allowed = {
        "mutualsense": {"mutualsense"},
        "mutualsense.export": {"mutualsense", "mutualsense.export"},
        "mutualsense.calibration": {"mutualsense", "mutualsense.export", "mutualsense.calibration"},
    }
    wrong = []
    for module, path in MODULES.items():
        if module in RUNTIME_TOOLCHAIN_IMPORTS:
            continue
        # the CLI loads each subcommand's toolchain when that command runs (never at import)
        lazy_ok = module.startswith("mutualsense.cli")
        for target, _, line in _imports(module, path, top_level_only=lazy_ok):
            if target.startswith("mutualsense") and _layer(target) not in allowed[_layer(module)]:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    assert not wrong, "dependencies must run calibration → export → runtime:\n" + "\n".join(wrong)


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for module, path in MODULES.items():
        for target, names, _ in _imports(module, path, top_level_only=True):
            candidates = [target, *(f"{target}.{n}" for n in names)]
            for c in candidates:
                if c in MODULES and c != module:
                    graph[module].add(c)
            # importing a submodule runs its package's __init__ first
            parts = target.split(".")
            for i in range(1, len(parts)):
                parent = ".".join(parts[:i])
                if parent in MODULES and parent != module and not module.startswith(parent + "."):
                    graph[module].add(parent)
    return graph


def test_no_import_cycles_inside_the_package() -> None:
    graph = _graph()
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert not cycles, "import cycles (module-level imports):\n" + "\n".join(" → ".join(c) for c in cycles)


def test_the_cycle_check_finds_a_cycle(tmp_path: Path) -> None:
    # the checker itself: two modules importing each other at module level are a cycle
    (tmp_path / "a.py").write_text("from mutualsense.b import x\n")
    (tmp_path / "b.py").write_text("import mutualsense.a\nif TYPE_CHECKING:\n    import mutualsense.c\n")
    a = list(_imports("mutualsense.a", tmp_path / "a.py", True))
    b = list(_imports("mutualsense.b", tmp_path / "b.py", True))
    assert a == [("mutualsense.b", ["x"], 1)] and b == [("mutualsense.a", [], 1)]


def test_no_private_names_imported_across_modules() -> None:
    offenders = []
    for folder in ("sdk", "export", "calibration", "tests", "benchmarks", "examples", "docs"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mutualsense"):
                    private = [a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
                    if private:
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.module}: {private}")
    assert not offenders, "private names imported from another module:\n" + "\n".join(offenders)


def test_modules_and_functions_are_small() -> None:
    long_modules, long_functions = [], []
    for module, path in MODULES.items():
        text = path.read_text()
        if (n := len(text.splitlines())) > MAX_MODULE_LINES and module not in LONG_MODULES:
            long_modules.append(f"{path.relative_to(ROOT)}: {n} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body = node.body
                if len(body) > 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                    body = body[1:]
                n = (node.end_lineno or node.lineno) - body[0].lineno + 1
                if n > MAX_FUNCTION_LINES and f"{module}.{node.name}" not in LONG_FUNCTIONS:
                    long_functions.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}: {n} lines")
    assert not long_modules, f"modules over {MAX_MODULE_LINES} lines:\n" + "\n".join(long_modules)
    assert not long_functions, f"functions over {MAX_FUNCTION_LINES} lines:\n" + "\n".join(long_functions)


DESIGN = ROOT / "docs" / "design.md"
CITATION = re.compile(r"design(?:\.md)?\s*§\s*(\d+)|docs/design\.md#([a-z0-9-]+)")


def _sections() -> tuple[set[str], set[str]]:
    numbers, anchors = set(), set()
    for line in DESIGN.read_text().splitlines():
        if m := re.match(r"^##\s+(\d+)\.\s+(.*)$", line):
            numbers.add(m.group(1))
            anchors.add(re.sub(r"[^a-z0-9 -]", "", f"{m.group(1)}. {m.group(2)}".lower()).replace(" ", "-"))
    return numbers, anchors


def test_every_cited_design_section_exists() -> None:
    numbers, anchors = _sections()
    assert len(numbers) >= 6
    missing, stale = [], []
    files = [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]
    for folder in ("sdk", "export", "calibration", "tests", "benchmarks", "examples"):
        files += [p for p in (ROOT / folder).rglob("*") if p.suffix in (".py", ".cu", ".cpp", ".h", ".md")]
    for path in files:
        if path in (DESIGN, Path(__file__).resolve()):
            continue
        text = path.read_text(errors="replace")
        if "shared/design.md" in text or "../shared" in text:
            stale.append(f"{path.relative_to(ROOT)} cites the shared notes instead of docs/design.md")
        for m in CITATION.finditer(text):
            number, anchor = m.groups()
            if (number and number not in numbers) or (anchor and anchor not in anchors):
                missing.append(f"{path.relative_to(ROOT)}: {m.group(0)}")
    assert not stale, "\n".join(stale)
    assert not missing, "cited sections missing from docs/design.md:\n" + "\n".join(missing)


@pytest.mark.parametrize("module", ["mutualsense.pipeline.stream", "mutualsense.export.bundle_export"])
def test_the_module_map_sees_the_packages(module: str) -> None:
    assert module in MODULES


def test_the_citation_check_sees_a_missing_section() -> None:
    numbers, anchors = _sections()
    text = "as docs/design.md §99 and design §8 and docs/design.md#8-contracts"
    cited = [m.groups() for m in CITATION.finditer(text)]
    assert cited == [("99", None), ("8", None), (None, "8-contracts")]
    assert "99" not in numbers and "8" in numbers
