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
    for name in ("dreams.png", "three-eight.png", "morph.gif"):
        assert (tmp_path / name).is_file(), name


def test_readme_objective_is_the_example_script():
    """The README's custom objective is examples/two_class_objective.py's (which makes a picture)."""
    readme = (ROOT / "README.md").read_text()
    example = (ROOT / "examples" / "two_class_objective.py").read_text()
    for line in ("O.class_logprob(3, temperature=4)", "- 1.0 * O.l1() + 0.03 * ", 'O.denoise(na.load_generator("vae"))',
                 "T.Transforms([T.jitter(2), T.scale(0.15), T.rotate(15), T.blur(0.5)])", "(0, 1, 2, 5, 6, 9)"):
        assert line in readme and line in example, line
    assert "three-eight.png" in readme


def test_pictures_the_docs_show_exist():
    """Every local picture a README or docs page links to is in the repository."""
    import re

    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", page.read_text()):
            if "://" not in target:
                assert (page.parent / target).is_file(), f"{page.name} shows {target}, which does not exist"


def test_the_studios_save_folder_is_ignored_by_git():
    """`neuroart studio` saves into ./studio/ by default: never committed by accident, while the
    studio's own source (neuroart/studio/) stays visible to git."""
    import shutil
    import subprocess

    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    out = subprocess.run(["git", "check-ignore", "studio/picture.png", "neuroart/studio/new_module.py"], cwd=ROOT,
                         capture_output=True, text=True).stdout.split()
    assert out == ["studio/picture.png"]
