"""The gallery's pictures are what their recipes say (issue 25): each recipe names the bundled
weights and the input pictures beside it, and each command under a picture in the README makes
that picture (tests/test_gallery.py checks that each piece's picture is its command's). No TensorFlow: recipes, cards and click parsing only.

A stale picture fails with its file name and the command that makes it again."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from neuroart.outputs import read_recipe

ROOT = Path(__file__).resolve().parent.parent
GALLERY = ROOT / "gallery"
#: Options a caption may leave out: they change how a picture looks or how big it is, not what it shows.
COSMETIC = ("seed", "scale", "cmap", "per_digit", "out", "gif", "npz", "svg")


def _recipes() -> list[tuple[Path, dict]]:
    found = [(png, read_recipe(png)) for png in sorted(GALLERY.glob("*.png"))]
    return [(png, r) for png, r in found if r and "argv" in r]


def _remake(name: str) -> str:
    return f"neuroart gallery --only {name}"


def test_every_gallery_recipe_names_the_bundled_weights():
    from neuroart.cli.replay_checks import model_differences

    stale = [f"{png.name}: {line.removeprefix('replay: ')} (remake: {_remake(png.stem)})"
             for png, recipe in _recipes() for line in model_differences(recipe, {})]
    assert not stale, "gallery pictures made with other weights than the bundled ones:\n" + "\n".join(stale)


def test_every_gallery_recipe_names_the_input_pictures_beside_it(monkeypatch):
    from neuroart.cli.replay_checks import input_differences
    from neuroart.recipe import input_hashes

    monkeypatch.chdir(ROOT)  # the recipes name gallery/... from the repository's root
    stale = [f"{png.name}: {line.removeprefix('replay: ')} (remake: {_remake(png.stem)})"
             for png, recipe in _recipes() if "inputs_sha256" in recipe
             for line in input_differences(recipe, input_hashes(_params(recipe["argv"])))]
    assert not stale, "gallery pictures made from other input pictures:\n" + "\n".join(stale)
    assert any("inputs_sha256" in recipe for _, recipe in _recipes())  # deepdream-landscape's source picture


# --------------------------------------------------------------------------- README captions


def _captions() -> list[tuple[str, str]]:
    """(gallery picture, caption command) for each README table column that shows a gallery
    picture with a `neuroart ...` command in the row below it."""
    pairs = []
    rows = [line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("|")]
    for above, below in zip(rows, rows[1:], strict=False):
        for cell, caption in zip(above.split("|")[1:-1], below.split("|")[1:-1], strict=False):
            pictures = re.findall(r"\(gallery/([\w.-]+)\.(?:png|gif)\)", cell)
            command = re.search(r"`(neuroart [^`]+)`", caption)
            if pictures and command:
                pairs += [(picture, command.group(1)) for picture in pictures]
    return pairs


def _params(argv: list[str]) -> dict:
    from neuroart.cli import main

    cmd = main.get_command(None, argv[0])
    return cmd.make_context(argv[0], list(argv[1:]), resilient_parsing=True).params


def _placeholder(value) -> bool:
    """A caption's stand-in for the reader's own file (`my_digit.png`, `picture.png`)."""
    values = value if isinstance(value, (list, tuple)) else [value]
    return any(str(v).lower().endswith((".png", ".jpg", ".jpeg")) and not (ROOT / str(v)).exists() for v in values)


def _caption_mismatch(picture: str, command: str) -> str | None:
    recipe = read_recipe(GALLERY / f"{picture}.png")
    caption = command.split()[1:]
    if caption[0] != recipe["argv"][0]:
        return f"a `{caption[0]}` command under {picture}.png, made by `{recipe['command']}`"
    made, says = _params(recipe["argv"]), _params(caption)
    differ = [key for key in sorted(set(made) | set(says)) if key not in COSMETIC
              and not _placeholder(says.get(key)) and made.get(key) != says.get(key)]
    if differ:
        shown = ", ".join(f"{k}: {says.get(k)!r} in the caption, {made.get(k)!r} in the recipe" for k in differ)
        return f"`{command}` does not make {picture}.png ({shown}); it was made by `{recipe['command']}`"
    return None


def test_readme_finds_its_captions():
    pictures = {picture for picture, _ in _captions()}
    assert {"flow-digits", "flow-neurons", "dream-digits", "deepdream-landscape", "explain-digits"} <= pictures


@pytest.mark.parametrize(("picture", "command"), _captions(), ids=[p for p, _ in _captions()])
def test_every_readme_caption_makes_its_picture(picture, command):
    problem = _caption_mismatch(picture, command)
    assert problem is None, problem


def test_a_caption_without_the_options_that_made_the_picture_is_caught():
    assert "steer: 1.0 in the caption, 2.0 in the recipe" in (_caption_mismatch(
        "flow-neurons", "neuroart dream --prior flow --objective neuron --unit 0-9") or "")
    assert _caption_mismatch("cvae-grid", "neuroart generate") is None  # seed, per-digit, scale: cosmetic
