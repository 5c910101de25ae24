import os

import numpy as np
import pytest
from PIL import Image

from neuroart import imaging, outputs
from neuroart._util import NeuroartError


def test_grid_layout_and_scale(tmp_path):
    imgs = np.zeros((6, 28, 28), np.float32)
    imgs[:, 10:18, 10:18] = 1.0
    path = outputs.save_grid(imgs, tmp_path / "g.png", ncols=3, scale=2, pad=1)
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
    a = outputs.save_grid(imgs, tmp_path / "a.png", recipe=recipe, captions=["1", "2", "3"])
    b = outputs.save_grid(imgs, tmp_path / "b.png", recipe=recipe, captions=["1", "2", "3"])
    assert a.read_bytes() == b.read_bytes()
    assert outputs.read_recipe(a) == recipe
    outputs.save_image(imgs[0], tmp_path / "plain.png")
    assert outputs.read_recipe(tmp_path / "plain.png") is None


def test_gif_frames_and_loop(tmp_path):
    frames = [np.full((28, 28), v, np.float32) for v in np.linspace(0, 1, 5)]
    path = outputs.save_gif(frames, tmp_path / "a.gif", duration_ms=50, bounce=True)
    with Image.open(path) as im:
        assert im.n_frames == 8 and im.info.get("loop") == 0


def test_nan_images_and_wrong_suffix_write_nothing(tmp_path):
    bad = np.full((1, 28, 28), np.nan, np.float32)
    with pytest.raises(NeuroartError, match="NaN"):
        outputs.save_grid(bad, tmp_path / "x.png")
    with pytest.raises(NeuroartError, match=".png"):
        outputs.save_grid(np.zeros((1, 28, 28)), tmp_path / "x.jpg")
    assert list(tmp_path.iterdir()) == []


def test_imaging_encodes_and_never_writes(tmp_path, monkeypatch):
    """imaging is pure encoders (pixels -> bytes); outputs owns every file and every recipe."""
    import ast
    from pathlib import Path

    tree = ast.parse(Path(imaging.__file__).read_text())
    calls = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert "open" not in calls
    assert not any(hasattr(imaging, name) for name in ("write_png", "save_grid", "save_gif", "save_npz", "read_recipe"))
    rgb = imaging.make_grid(np.zeros((2, 28, 28), np.float32), scale=1)
    png = imaging.encode_png(rgb, recipe={"seed": 1})
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert imaging.encode_gif([rgb, rgb])[:6] == b"GIF89a"
    assert imaging.encode_npz({"a": np.zeros(2)})[:2] == b"PK"
    (tmp_path / "x.png").write_bytes(png)
    assert outputs.read_recipe(tmp_path / "x.png") == {"seed": 1}
    assert os.listdir(tmp_path) == ["x.png"]


def test_gif_bounce_is_the_sheets(tmp_path):
    """save_gif's bounce is `outputs.animation`'s: forward, then back without repeating the ends."""
    frames = [np.full((4, 4), v, np.float32) for v in (0.0, 0.5, 1.0)]
    path = outputs.save_gif(frames, tmp_path / "b.gif", bounce=True)
    with Image.open(path) as im:
        assert im.n_frames == 4
