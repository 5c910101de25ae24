"""Pen strokes (neuroart.pen) and --svg: centre lines a plotter can draw, read back by vpype."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("skimage")

from neuroart import pen  # noqa: E402
from neuroart._util import NeuroartError  # noqa: E402


def _closed(stroke) -> bool:
    return len(stroke) > 3 and np.allclose(stroke[0], stroke[-1])


def test_real_digits_become_a_few_centre_lines(pick_test_digits):
    x, y = pick_test_digits(200, seed=3)
    found = pen.strokes(x)
    assert len(found) == len(x)
    counts = np.array([len(s) for s in found])
    lengths = np.array([sum(pen._length(k) for k in s) for s in found])
    assert counts.min() >= 1 and counts.max() <= 6, np.bincount(counts)
    assert np.mean(counts <= 2) > 0.8  # most digits are one or two strokes, as written
    # centre lines, not outlines: an outline of the ink would be about twice as long
    assert 10 < np.median(lengths) < 60, np.median(lengths)
    for s in found:
        for k in s:
            assert k.ndim == 2 and k.shape[1] == 2 and np.all((k >= 0) & (k <= 28))
    zeros = [s for s, d in zip(found, y, strict=True) if d == 0]
    ones = [s for s, d in zip(found, y, strict=True) if d == 1]
    assert np.mean([any(_closed(k) for k in s) for s in zeros]) > 0.6  # a 0 is a closed loop
    assert not any(_closed(k) for s in ones for k in s)  # a 1 is an open line


def test_an_o_is_one_closed_loop_and_a_cross_is_two_straight_strokes():
    from PIL import Image, ImageDraw

    def drawn(shape):
        img = Image.new("L", (28, 28), 0)
        shape(ImageDraw.Draw(img))
        return np.asarray(img, np.float32) / 255

    ring = drawn(lambda d: d.ellipse((6, 4, 21, 23), outline=255, width=3))
    cross = drawn(lambda d: (d.line((5, 5, 22, 22), fill=255, width=3), d.line((5, 22, 22, 5), fill=255, width=3)))
    (loop,), strokes = pen.strokes(ring)[0], pen.strokes(cross)[0]
    assert _closed(loop) and 35 < pen._length(loop) < 55  # the ring's centre line: pi x ~16 px
    assert len(strokes) == 2, [len(s) for s in strokes]  # the junction joins the lines that go straight on
    for s in strokes:
        span = np.linalg.norm(s[-1] - s[0])
        assert span > 18 and pen._length(s) < 1.15 * span  # corner to corner, nearly straight
    assert pen.strokes(np.zeros((28, 28))) == [[]]  # a blank digit has no strokes


def test_pages_margins_and_layouts():
    assert pen.parse_page("a4") == (210.0, 297.0) and pen.parse_page("297x210") == (297.0, 210.0)
    lay = pen.layout(10, 8, page="A4", margin=15)
    assert lay.cell == pytest.approx(180 / 8) and lay.x0 == pytest.approx(15)
    assert lay.y0 == pytest.approx((297 - 10 * 180 / 8) / 2)
    for page, margin, rows, cols, words in [("A9", 15, 1, 1, "page must be"), ("A4", 120, 1, 1, "leaves nothing"),
                                            ("A5", 15, 10, 100, "too small"), ("A4", -1, 1, 1, "margin")]:
        with pytest.raises(NeuroartError, match=words):
            pen.layout(rows, cols, page=page, margin=margin)


def _svg_of(tmp_path, images, **layout):
    path = tmp_path / "page.svg"
    path.write_bytes(pen.encode_svg(images, ncols=4, labels=list(range(len(images))), **layout))
    return path


def test_vpype_reads_one_layer_per_digit_of_plausible_strokes(tmp_path, pick_test_digits):
    vpype = pytest.importorskip("vpype", reason="vpype (the dev extra) reads the page back")

    x, _ = pick_test_digits(8, seed=5)
    path = _svg_of(tmp_path, x, page="A5", margin=10)
    stat = subprocess.run([str(Path(sys.executable).parent / "vpype"), "read", str(path), "stat"], capture_output=True, text=True, timeout=120)
    assert stat.returncode == 0, stat.stderr
    assert stat.stdout.count("\nLayer ") == 8  # one group per digit, each its own vpype layer

    doc = vpype.read_multilayer_svg(str(path), quantization=0.1)
    assert sorted(doc.layers) == list(range(1, 9))
    mm = 96 / 25.4  # vpype works in CSS pixels
    cell = (148 - 20) / 4  # A5 inside 10 mm margins, 4 columns
    for k in range(1, 9):
        layer = doc.layers[k]
        assert 1 <= len(layer) <= 6
        length_in_cells = layer.length() / mm / cell  # a digit's pen path, in digit heights
        assert 0.3 < length_in_cells < 3.0, length_in_cells
        assert doc.layers[k].bounds()[0] / mm >= 10 - 1e-6  # inside the margin
    assert doc.page_size[0] / mm == pytest.approx(148, abs=0.01)


def test_the_page_has_groups_labels_and_pen_widths_from_the_ink(tmp_path, pick_test_digits):
    import xml.etree.ElementTree as ET

    x, _ = pick_test_digits(4, seed=1)
    bold = np.clip(x * 3, 0, 1)  # the same digits, with more ink
    root = ET.fromstring(pen.encode_svg(np.concatenate([x, bold]), ncols=4, recipe={"seed": 1}))
    ns = {"svg": "http://www.w3.org/2000/svg"}
    groups = root.findall("svg:g", ns)
    assert [g.get("id") for g in groups] == [f"digit-{k}" for k in range(1, 9)]
    widths = [float(g.get("stroke-width")) for g in groups]
    assert all(b > t for t, b in zip(widths[:4], widths[4:], strict=True))  # bolder digits, broader pens
    px = 180 / 4 / 28  # mm per MNIST pixel: A4 inside 15 mm margins, 4 columns
    assert all(1 < w / px < 5 for w in widths[:4])  # MNIST strokes are 1-5 pixels wide
    assert '"seed": 1' in root.find("svg:metadata", ns).text
    picture = pen.rasterize(pen.encode_svg(x, ncols=2, page="60x60", margin=5), px_per_mm=4)
    assert picture.shape == (240, 240, 3) and (picture.mean(axis=2) < 128).mean() > 0.01  # ink on paper


def test_generate_svg_writes_a_page_beside_the_grid(invoke, tmp_path):
    result = invoke("generate", "3", "8", "--per-digit", "3", "--svg", "page.svg", "--page", "A5")
    assert result.exit_code == 0, result.output
    assert "wrote page.svg" in result.output
    root_text = (tmp_path / "page.svg").read_text()
    assert root_text.count("<g id=") == 6 and 'inkscape:label="6: 8"' in root_text
    assert '"argv": ["generate", "3", "8"' in root_text  # the recipe travels with the page


@pytest.mark.parametrize("args, words", [
    (["--svg", "missing/page.svg"], ["--svg", "folder does not exist"]),
    (["--svg", "page.png"], ["--svg must be a .svg file"]),
    (["--svg", "page.svg", "--per-digit", "60", "--page", "A5"], ["--page A5 is too small", "60 digits"]),
    (["--svg", "page.svg", "--page", "B7"], ["--page must be"]),
    (["--svg", "page.svg", "--margin", "200"], ["--margin 200 mm leaves nothing"]),
])
def test_bad_svg_options_are_one_line_before_any_work(invoke, tmp_path, monkeypatch, assert_clean_error, files_in,
                                                      args, words):
    from neuroart.generate import sample

    monkeypatch.setattr(sample, "generate_sheet", lambda *a, **k: pytest.fail("the work started"))
    assert_clean_error(invoke("generate", "3", *args), *words)
    assert files_in(tmp_path) == []


def test_without_scikit_image_svg_says_how_to_install_it(invoke, tmp_path, monkeypatch, assert_clean_error):
    monkeypatch.setitem(sys.modules, "skimage.morphology", None)
    assert_clean_error(invoke("morph", "1", "7", "--svg", "m.svg"), "--svg needs scikit-image", "neuroart[plotter]")


def test_a_page_too_small_at_saving_writes_nothing_at_all(tmp_path, pick_test_digits):
    from neuroart.outputs import Sheet, save

    x, y = pick_test_digits(40, seed=2)
    with pytest.raises(NeuroartError, match="too small"):
        save(Sheet(x, labels=y, ncols=40), out=tmp_path / "a.png", svg=tmp_path / "a.svg",
             svg_layout={"page": "A5", "margin": 15})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_replay_never_writes_the_svg_a_recipe_names(invoke, tmp_path, files_in):
    assert invoke("generate", "7", "--per-digit", "2", "--out", "a.png", "--svg", "a.svg").exit_code == 0
    (tmp_path / "a.svg").unlink()
    result = invoke("replay", "a.png", "--out", "again.png")
    assert result.exit_code == 0, result.stderr
    assert "--svg" not in result.stderr  # the command it shows has no --svg
    assert files_in(tmp_path) == ["a.png", "again.png"]
    assert (tmp_path / "again.png").read_bytes() == (tmp_path / "a.png").read_bytes()


def test_the_gallery_draws_a_pen_piece_from_its_svg(tmp_path, pick_test_digits):
    from neuroart import gallery
    from neuroart.outputs import read_recipe

    (piece,) = [p for p in gallery.PIECES if p.svg]
    assert piece.argv(tmp_path)[-2:] == ["--svg", (tmp_path / f"{piece.name}.svg").as_posix()]
    x, _ = pick_test_digits(6, seed=4)
    (tmp_path / f"{piece.name}.svg").write_bytes(pen.encode_svg(x, ncols=3, page="100x80", margin=5))
    drawn = gallery.draw_svg(tmp_path, piece)
    assert drawn.name == f"{piece.name}-drawn.png"
    recipe = read_recipe(drawn)
    assert recipe["drawn_from"] == f"{piece.name}.svg" and "argv" not in recipe  # replay makes pixels, not drawings
    from PIL import Image

    with Image.open(drawn) as im:
        assert im.size == (400, 320)  # 4 pixels per mm
