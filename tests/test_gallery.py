import shlex
from pathlib import Path

import pytest

from neuroart import gallery, outputs

ROOT = Path(__file__).resolve().parents[1]


def test_list_shows_every_piece(invoke):
    result = invoke("gallery", "--list")
    assert result.exit_code == 0
    for piece in gallery.PIECES:
        assert piece.name in result.output


def test_committed_gallery_pictures_carry_their_commands():
    for piece in gallery.PIECES:
        png = ROOT / "gallery" / f"{piece.name}.png"
        assert png.is_file(), f"gallery/{png.name} missing: run `neuroart gallery`"
        recipe = outputs.read_recipe(png)
        assert recipe is not None, png
        assert recipe["argv"] == piece.argv(Path("gallery")), png
        assert recipe["command"] == "neuroart " + shlex.join(recipe["argv"])
        if piece.gif:
            assert (ROOT / "gallery" / f"{piece.name}.gif").is_file()
    index = (ROOT / "gallery" / "index.html").read_text()
    for piece in gallery.PIECES:
        assert f'src="{piece.name}.png"' in index


@pytest.mark.slow
@pytest.mark.parametrize("name", ["dream-3-to-8", "morph-1-to-7", "cvae-grid", "neuron-atlas"])
def test_gallery_piece_replays_byte_identically(invoke, tmp_path, name):
    result = invoke("gallery", "--only", name, "--out", "g")
    assert result.exit_code == 0, result.output + result.stderr
    original = tmp_path / "g" / f"{name}.png"
    assert (tmp_path / "g" / "index.html").read_text().count("<figure") == 1
    piece = gallery.PIECES[[p.name for p in gallery.PIECES].index(name)]
    gif = ["--gif", "again.gif"] if piece.gif else []
    result = invoke("replay", original, "--out", "again.png", *gif)
    assert result.exit_code == 0, result.stderr
    assert "replaying: neuroart " + shlex.join(piece.argv(Path("g"))[:-2 - 2 * piece.gif]) in result.stderr
    assert (tmp_path / "again.png").read_bytes() == original.read_bytes()
    if piece.gif:
        assert (tmp_path / "again.gif").read_bytes() == (tmp_path / "g" / f"{name}.gif").read_bytes()


def test_replay_refuses_images_without_recipe(invoke, tmp_path, assert_clean_error):
    import numpy as np

    outputs.save_image(np.zeros((28, 28), np.float32), tmp_path / "plain.png")
    assert_clean_error(invoke("replay", "plain.png", "--out", "x.png"), "no neuroart recipe")
    (tmp_path / "junk.png").write_text("not a png")
    assert_clean_error(invoke("replay", "junk.png", "--out", "x.png"), "junk.png")
    assert_clean_error(invoke("gallery", "--only", "nope", "--out", "newdir"), "unknown gallery piece")
    assert not (tmp_path / "newdir").exists()
    outputs.save_image(np.zeros((28, 28), np.float32), tmp_path / "r.png", recipe={"argv": ["info"]})
    outputs.save_image(np.zeros((28, 28), np.float32), tmp_path / "d.png", recipe={"argv": ["dream", "3"]})
    assert_clean_error(invoke("replay", "d.png", "--out", "again.jpg"), ".png")


def test_gallery_tells_on_stderr_which_piece_it_is_making(invoke, tmp_path):
    result = invoke("gallery", "--only", "latent-map", "--out", "g")
    assert result.exit_code == 0, result.stderr
    assert "gallery [1/1] latent-map: neuroart latent-map --out g/latent-map.png" in result.stderr
    assert "wrote g/latent-map.png" in result.output
