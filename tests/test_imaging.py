import numpy as np
import pytest
from PIL import Image

from neuroart import imaging
from neuroart._util import NeuroartError


def test_grid_layout_and_scale(tmp_path):
    imgs = np.zeros((6, 28, 28), np.float32)
    imgs[:, 10:18, 10:18] = 1.0
    path = imaging.save_grid(imgs, tmp_path / "g.png", ncols=3, scale=2, pad=1)
    with Image.open(path) as im:
        assert im.size == (1 + 3 * (56 + 1), 1 + 2 * (56 + 1))
        px = np.asarray(im.convert("RGB"))
    # the centre of the first cell is white ink, its corner black
    assert tuple(px[1 + 28, 1 + 28]) == (255, 255, 255) and tuple(px[1 + 2, 1 + 2]) == (0, 0, 0)


def test_captions_and_row_labels_add_space():
    imgs = np.random.default_rng(0).random((4, 28, 28), dtype=np.float32)
    plain = imaging.make_grid(imgs, ncols=2)
    labelled = imaging.make_grid(imgs, ncols=2, captions=list("abcd"), row_labels=["r0", "r1"])
    assert labelled.shape[0] > plain.shape[0] and labelled.shape[1] > plain.shape[1]
    with pytest.raises(NeuroartError, match="captions"):
        imaging.make_grid(imgs, captions=["a"])


@pytest.mark.parametrize("cmap", imaging.CMAPS)
def test_colour_maps_are_monotone_ramps(cmap):
    table = imaging.lut(cmap).astype(int)
    assert table.shape == (256, 3)
    lum = table @ np.array([299, 587, 114])
    direction = np.sign(lum[-1] - lum[0])
    assert np.all(np.diff(lum) * direction >= -300) and abs(lum[-1] - lum[0]) > 100_000
    if cmap == "inverted":
        assert tuple(table[0]) == (255, 255, 255)


def test_unknown_cmap():
    with pytest.raises(NeuroartError, match="unknown colour map"):
        imaging.lut("rainbow")


def test_recipe_roundtrip_and_deterministic_bytes(tmp_path):
    imgs = np.random.default_rng(1).random((3, 28, 28), dtype=np.float32)
    recipe = {"command": "neuroart dream 3", "seed": 7}
    a = imaging.save_grid(imgs, tmp_path / "a.png", recipe=recipe, captions=["1", "2", "3"])
    b = imaging.save_grid(imgs, tmp_path / "b.png", recipe=recipe, captions=["1", "2", "3"])
    assert a.read_bytes() == b.read_bytes()
    assert imaging.read_recipe(a) == recipe
    imaging.save_image(imgs[0], tmp_path / "plain.png")
    assert imaging.read_recipe(tmp_path / "plain.png") is None


def test_gif_frames_and_loop(tmp_path):
    frames = [np.full((28, 28), v, np.float32) for v in np.linspace(0, 1, 5)]
    path = imaging.save_gif(frames, tmp_path / "a.gif", duration_ms=50, bounce=True)
    with Image.open(path) as im:
        assert im.n_frames == 8 and im.info.get("loop") == 0


def test_nan_images_and_wrong_suffix_write_nothing(tmp_path):
    bad = np.full((1, 28, 28), np.nan, np.float32)
    with pytest.raises(NeuroartError, match="NaN"):
        imaging.save_grid(bad, tmp_path / "x.png")
    with pytest.raises(NeuroartError, match=".png"):
        imaging.save_grid(np.zeros((1, 28, 28)), tmp_path / "x.jpg")
    assert list(tmp_path.iterdir()) == []
