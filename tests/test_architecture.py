"""The layout's rules (docs/architecture.md), checked: arrows point down, imports stay lazy."""

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "neuroart"
FRONT_ENDS = ("cli", "studio")


def _imports(path: Path, text: str | None = None) -> set[str]:
    """Absolute names of the neuroart modules a file imports (relative imports resolved)."""
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text() if text is None else text)):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return {n for n in names if n.startswith("neuroart")}


def test_the_library_never_imports_a_front_end():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).parts
        if rel[0] in FRONT_ENDS or rel == ("__main__.py",):  # `python -m neuroart` is the CLI
            continue
        for name in _imports(path):
            if any(name == f"neuroart.{f}" or name.startswith(f"neuroart.{f}.") for f in FRONT_ENDS):
                offenders.append(f"{path.relative_to(PACKAGE.parent)} imports {name}")
    assert not offenders, offenders


def test_the_checker_sees_relative_imports():
    """The rule above can fail: a library module importing the CLI relatively is caught."""
    assert "neuroart.cli" in _imports(PACKAGE / "dream" / "x.py", "from ..cli import main\n")
    assert "neuroart.cli.gallery" in _imports(PACKAGE / "gallery.py", "from .cli import gallery\n")


def test_import_neuroart_loads_no_tensorflow_and_no_click():
    code = ("import sys, neuroart, neuroart.classify, neuroart.generate, neuroart.dream.dreams, neuroart.outputs; "
            "print(sorted(m for m in ('tensorflow', 'keras', 'click', 'starlette') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", out.stdout
