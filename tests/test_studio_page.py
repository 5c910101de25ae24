"""The studio's page, read as files (no server, no browser; tests/test_studio_browser.py drives it
in chromium): what the page hides stays hidden, and the docs describe what the studio does."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / "neuroart" / "studio" / "static"


def _rules(css: str) -> list[tuple[str, str]]:
    """(selector list, declarations) of every rule (no nesting in this stylesheet)."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    return re.findall(r"([^{}]+)\{([^{}]*)\}", css)


def test_what_the_page_hides_stays_hidden():
    """An element the page marks `hidden` (the GIF link before there is a GIF) whose class sets a
    `display` would be shown anyway: the stylesheet must let `[hidden]` win (issue 25)."""
    html, rules = (STATIC / "index.html").read_text(), _rules((STATIC / "studio.css").read_text())
    hidden = [tag for tag in re.findall(r"<\w+[^>]*>", html) if re.search(r"\shidden[\s>/]", tag)]
    assert any('id="gif"' in tag for tag in hidden), hidden
    shown = [(tag, sel) for tag in hidden for cls in re.findall(r'class="([^"]*)"', tag)[0:1] for name in cls.split()
             for sel, body in rules if re.search(rf"\.{re.escape(name)}\b", sel) and "display" in body]
    wins = any("[hidden]" in sel and re.search(r"display:\s*none\s*!important", body) for sel, body in rules)
    assert wins or not shown, f"shown despite `hidden`: {shown}"


def test_the_docs_describe_the_dream_the_studio_makes():
    """The studio dreams through the flow (issue 25: docs/studio.md and the README still told of
    the pixel dream's gradient ascent)."""
    from neuroart.studio.settings import DREAM_OPTIONS

    assert DREAM_OPTIONS["prior"] == "flow"
    for doc in (ROOT / "docs" / "studio.md", ROOT / "README.md"):
        text = " ".join(doc.read_text().split())
        sentence = re.search(r"\*\*Dream it into…\*\*[^;]*", text).group(0)
        assert "through the flow model" in sentence and "ascent" not in sentence, (doc.name, sentence)


def test_no_import_circle_inside_the_studio():
    """resources.py and saving.py imported each other (issue 25); lazy imports count."""
    from test_architecture import PACKAGE, _cycles, _imports, _module_name

    files = sorted((PACKAGE / "studio").glob("*.py"))
    names = {_module_name(p) for p in files}
    graph = {_module_name(p): {n for n in _imports(p) if n in names and n != _module_name(p)} for p in files}
    assert "neuroart.studio.saving" in graph["neuroart.studio.resources"]  # the graph sees the studio's imports
    cycles = _cycles(graph)
    assert not cycles, "studio modules that import each other: " + "; ".join(" <-> ".join(c) for c in cycles)
