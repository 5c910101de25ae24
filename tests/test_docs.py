import importlib.util
from pathlib import Path

import pytest

import neuroart

ROOT = Path(__file__).resolve().parents[1]


def _reference():
    spec = importlib.util.spec_from_file_location("make_reference", ROOT / "docs" / "make_reference.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_cli_reference_is_complete_and_current():
    mod = _reference()
    from neuroart.cli import main

    text = (ROOT / "docs" / "cli.md").read_text()
    for path in mod.commands(main):
        assert f"## neuroart {' '.join(path)}\n" in text, f"docs/cli.md lacks `neuroart {' '.join(path)}`"
    assert text == mod.render_cli(), "docs/cli.md is stale: run `python docs/make_reference.py`"


def test_api_reference_covers_the_public_api():
    text = (ROOT / "docs" / "api.md").read_text()
    assert text == _reference().render_api(), "docs/api.md is stale: run `python docs/make_reference.py`"
    missing = [name for name in neuroart.__all__ if not name.startswith("_") and f"`{name}" not in text]
    assert not missing, f"docs/api.md does not document: {missing}"
    import inspect

    for name in neuroart.__all__:  # every public name resolves to a neuroart function, class or module
        obj = getattr(neuroart, name)
        if name not in ("CMAPS", "__version__"):
            assert inspect.ismodule(obj) or obj.__module__.startswith("neuroart."), (name, obj)


def test_readme_gives_the_commands_that_ci_runs():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    install = "python3 -m venv .venv && .venv/bin/pip install -e '.[dev]' && .venv/bin/neuroart dream"
    assert install in readme and install in ci
    assert ".venv/bin/python -m pytest" in readme and ".venv/bin/python -m pytest" in ci


@pytest.mark.slow
def test_readme_python_tour_runs(tmp_path, monkeypatch, digit_png):
    """The README's API tour is real code: run it (with two drawings standing in for the user's)."""
    import shutil

    monkeypatch.chdir(tmp_path)
    shutil.copy(digit_png("seven.png"), tmp_path / "my_seven.jpg")
    shutil.copy(digit_png("two.png"), tmp_path / "my_two.png")
    readme = (ROOT / "README.md").read_text()
    code = readme.split("## A tour of the Python API")[1].split("```python")[1].split("```")[0]
    exec(compile(code, "README.md", "exec"), {})
    for name in ("dreams.png", "morph.gif"):
        assert (tmp_path / name).is_file(), name
