"""The layout's rules (docs/architecture.md), checked: arrows point down through the whole library,
imports stay lazy, modules and functions stay small, and no two library modules import each other.

Every import counts, the ones inside functions too (a lazy import is still a dependency).
"""

import ast
import subprocess
import sys
from functools import cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "neuroart"
FRONT_ENDS = ("cli", "studio")

#: docs/architecture.md's layers, top first: a module imports only from its own layer or below.
LAYERS = (
    ("front ends", ("__main__", "cli", "studio")),
    ("pipelines", ("dream", "generate", "explain", "classify")),
    ("shared layers", ("outputs", "credentials", "recipe", "gallery", "metrics", "copies")),
    ("foundations", ("models", "data", "imaging", "display", "distribute", "validate", "_util", "_version",
                     "weights", "pen")),
)
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 80


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def _known_modules() -> frozenset:
    return frozenset(_module_name(p) for p in PACKAGE.rglob("*.py"))


def _imports(path: Path, text: str | None = None) -> set[str]:
    """Absolute names of the neuroart modules a file imports (relative and lazy imports included).

    ``from X import y`` counts as importing ``X.y`` when that is a module, else ``X``.
    """
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    known = _known_modules()
    names = set()
    for node in ast.walk(ast.parse(path.read_text() if text is None else text)):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            subs = {f"{base}.{a.name}" for a in node.names}
            found = {s for s in subs if s in known}
            names.update(found)
            if found != subs or not found:
                names.add(base)
            names.update(s for s in subs if s.startswith("neuroart.cli") or s.startswith("neuroart.studio"))
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return {n for n in names if n == "neuroart" or n.startswith("neuroart.")}


def _library_files():
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path, path.relative_to(PACKAGE).parts


def _layer(name: str) -> int | None:
    """The layer index of a module name (0 = top), None for the package itself (the public API)."""
    parts = name.split(".")
    if len(parts) < 2:
        return None
    for i, (_, members) in enumerate(LAYERS):
        if parts[1] in members:
            return i
    raise AssertionError(f"{name} is in no layer of docs/architecture.md: add it to LAYERS")


def test_the_library_never_imports_a_front_end():
    offenders = []
    for path, rel in _library_files():
        if rel[0] in FRONT_ENDS or rel == ("__main__.py",):  # `python -m neuroart` is the CLI
            continue
        for name in _imports(path):
            if any(name == f"neuroart.{f}" or name.startswith(f"neuroart.{f}.") for f in FRONT_ENDS):
                offenders.append(f"{path.relative_to(PACKAGE.parent)} imports {name}")
    assert not offenders, offenders


def test_arrows_point_down_through_every_layer():
    """front ends > pipelines > shared layers > foundations: nothing imports a layer above its own."""
    offenders = []
    for path, _ in _library_files():
        here = _layer(_module_name(path))
        if here is None:  # neuroart/__init__.py: the public API over every layer
            continue
        for name in _imports(path):
            there = _layer(name)
            if there is None:
                offenders.append(f"{path.relative_to(PACKAGE.parent)} imports the package root")
            elif there < here:
                offenders.append(f"{path.relative_to(PACKAGE.parent)} ({LAYERS[here][0]}) imports "
                                 f"{name} ({LAYERS[there][0]})")
    assert not offenders, "\n".join(offenders)


def _graph() -> dict[str, set[str]]:
    known = _known_modules()
    graph = {}
    for path, rel in _library_files():
        me = _module_name(path)
        if rel[0] in FRONT_ENDS or rel == ("__main__.py",) or me == "neuroart":
            continue
        graph[me] = {n for n in _imports(path) if n in known and n != me and n.split(".")[1] not in FRONT_ENDS}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_circle_between_library_modules():
    cycles = _cycles(_graph())
    assert not cycles, "modules that import each other (lazy imports count): " + "; ".join(
        " <-> ".join(c) for c in cycles)


def test_no_module_is_too_long():
    long = [f"{p.relative_to(PACKAGE.parent)}: {n} lines" for p, _ in _library_files()
            if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES]
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


def test_no_function_is_too_long():
    long = []
    for path, _ in _library_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name}: {n} lines")
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"


def test_the_checkers_can_fail():
    """The rules above catch what they are about: relative, lazy and upward imports, and circles."""
    assert "neuroart.cli" in _imports(PACKAGE / "dream" / "x.py", "from ..cli import main\n")
    assert "neuroart.cli.gallery" in _imports(PACKAGE / "gallery.py", "from .cli import gallery\n")
    lazy = "def f():\n    from ..generate.model import Generator\n"
    assert "neuroart.generate.model" in _imports(PACKAGE / "models" / "__init__.py", lazy)
    assert "neuroart.validate" in _imports(PACKAGE / "dream" / "x.py", "from .. import validate as V\n")
    assert _layer("neuroart.generate.model") < _layer("neuroart.models")
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_import_neuroart_loads_no_tensorflow_and_no_click():
    code = ("import sys, neuroart, neuroart.classify, neuroart.generate, neuroart.dream.dreams, neuroart.outputs; "
            "print(sorted(m for m in ('tensorflow', 'keras', 'click', 'starlette') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", out.stdout
