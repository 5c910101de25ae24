"""The default reader (issue 10): accuracy, robustness, preprocessing of people's images, augmentation."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from neuroart.classify import predict
from neuroart.classify.corrupt import CORRUPTIONS, benchmark, corrupt, draw_digit
from neuroart.data import load_digit_image
from neuroart.models import load_model


@pytest.fixture(scope="module")
def reader():
    return load_model("reader")


def test_reader_reads_the_mnist_test_set(reader, test_digits):
    x, y = test_digits
    acc = float((predict(reader, x).argmax(1) == y).mean())
    assert acc >= 0.995, acc


@pytest.mark.parametrize("name", ["lowres 8x8", "rotate 15-25", "inverted paper", "canvas strokes", "noise"])
def test_reader_under_corruptions(reader, test_digits, name):
    x, y = test_digits
    res = benchmark({"reader": reader}, x, y, n=300, seed=1, names=[name])
    assert res["models"]["reader"]["accuracy"][name] >= 0.90, res


def test_corruptions_are_seeded_and_change_the_digits(test_digits):
    x = test_digits[0][:16]
    for name in CORRUPTIONS:
        a, b = corrupt(x, name, seed=3), corrupt(x, name, seed=3)
        assert a.shape == x.shape and a.dtype == np.float32, name
        assert np.array_equal(a, b), name
        assert 0 <= a.min() and a.max() <= 1, name
        assert np.abs(a - x).mean() > 0.005, name


def test_augmentation_is_seeded_and_changes_images(test_digits):
    from neuroart.classify.augment import augment

    x = test_digits[0][:64]
    a, b, c = augment(x, seed=5), augment(x, seed=5), augment(x, seed=6)
    assert a.shape == x.shape and a.dtype == np.float32
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert 0 <= a.min() and a.max() <= 1
    changed = np.abs(a - x).reshape(len(x), -1).mean(1) > 0.01
    assert changed.mean() > 0.6, changed.mean()


# --------------------------------------------------------------------------- people's images


def _stroke_seven(draw, box, fill, width):
    """A "7" in the box (left, top, right, bottom)."""
    l, t, r, b = box
    draw.line([(l, t), (r, t), (l + 0.35 * (r - l), b)], fill=fill, width=width, joint="curve")


def _read(reader, path):
    return int(predict(reader, load_digit_image(path)[None]).argmax())


def test_coloured_ink_on_coloured_paper(reader, tmp_path):
    img = Image.new("RGB", (200, 200), (250, 240, 120))  # yellow paper
    _stroke_seven(ImageDraw.Draw(img), (50, 40, 150, 170), (220, 40, 40), 14)  # red ink
    img.save(tmp_path / "red.png")
    img = Image.new("RGB", (200, 200), (255, 255, 255))
    _stroke_seven(ImageDraw.Draw(img), (50, 40, 150, 170), (250, 230, 0), 14)  # yellow ink on white
    img.save(tmp_path / "yellow.png")
    assert _read(reader, tmp_path / "red.png") == 7
    assert _read(reader, tmp_path / "yellow.png") == 7


def test_grey_textured_background(reader, tmp_path):
    rng = np.random.default_rng(0)
    paper = (150 + rng.normal(0, 18, (220, 220))).clip(0, 255).astype(np.uint8)
    img = Image.fromarray(paper, "L")
    _stroke_seven(ImageDraw.Draw(img), (60, 40, 160, 180), 30, 12)
    img.save(tmp_path / "grey.png")
    assert _read(reader, tmp_path / "grey.png") == 7


def test_thin_pen_on_a_big_white_page(reader, tmp_path):
    img = Image.new("L", (1600, 1200), 255)
    d = ImageDraw.Draw(img)
    d.ellipse([900, 300, 1000, 460], outline=40, width=2)  # a "0" written with a fine pen
    img.save(tmp_path / "zero.png")
    x = load_digit_image(tmp_path / "zero.png")
    assert x.max() == 1.0 and (x > 0.5).sum() > 40  # strokes thickened towards MNIST's
    assert _read(reader, tmp_path / "zero.png") == 0


def test_digit_touching_the_border(reader, tmp_path):
    img = Image.new("L", (100, 140), 255)
    _stroke_seven(ImageDraw.Draw(img), (-5, 3, 105, 150), 0, 14)  # runs off three edges
    img.save(tmp_path / "edge.png")
    assert _read(reader, tmp_path / "edge.png") == 7


def test_rgba_ink_on_transparent(reader, tmp_path):
    for colour in [(0, 0, 0, 255), (255, 255, 255, 255), (30, 90, 200, 255)]:
        img = Image.new("RGBA", (240, 240), (0, 0, 0, 0))  # a browser canvas export: ink on nothing
        d = ImageDraw.Draw(img)
        d.line([(120, 30), (120, 210)], fill=colour, width=16)
        d.line([(120, 30), (85, 75)], fill=colour, width=16)
        img.save(tmp_path / "one.png")
        assert _read(reader, tmp_path / "one.png") == 1, colour


def test_sixteen_bit_png_keeps_its_range(reader, tmp_path):
    # dark ink (10,000) on light paper (60,000): an 8-bit conversion would clip both to white
    paper = np.full((120, 120), 60000, np.uint16)
    img = Image.fromarray(paper)
    assert img.mode == "I;16"
    ImageDraw.Draw(img).ellipse([35, 15, 85, 105], outline=10000, width=8)
    img.save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")
    x = load_digit_image(tmp_path / "deep.png")
    assert x.max() == 1.0
    assert _read(reader, tmp_path / "deep.png") == 0


def test_photo_with_uneven_light(reader, tmp_path):
    yy, xx = np.mgrid[0:200, 0:200]
    light = 1.0 - 0.55 * (xx / 199.0)  # bright on the left, dim on the right
    img = Image.new("L", (200, 200), 235)
    _stroke_seven(ImageDraw.Draw(img), (50, 40, 150, 170), 40, 12)
    photo = (np.asarray(img, np.float32) * light).astype(np.uint8)
    Image.fromarray(photo).save(tmp_path / "photo.jpg", quality=50)
    assert _read(reader, tmp_path / "photo.jpg") == 7


def test_drawn_digits_in_every_style(reader, tmp_path):
    from neuroart.classify.corrupt import STYLES

    wrong = []
    for style in STYLES:
        for label in range(10):
            p = tmp_path / f"{style}-{label}.png"
            draw_digit(label, style=style, seed=0).save(p)
            if _read(reader, p) != label:
                wrong.append((style, label))
    assert len(wrong) <= 3, wrong  # 90 images


# --------------------------------------------------------------------------- CLI and training


def test_classify_defaults_to_the_reader(invoke, tmp_path):
    draw_digit(4, style="photo", seed=2).save(tmp_path / "four.jpg")
    result = invoke("classify", tmp_path / "four.jpg", "--json")
    assert result.exit_code == 0, result.output
    assert '"digit": 4' in result.output


def test_evaluate_corruptions_cli(invoke, assert_clean_error):
    result = invoke("evaluate", "--model", "reader", "--corruptions", "--sample", "100")
    assert result.exit_code == 0, result.output
    for name in CORRUPTIONS:
        assert name in result.output
    assert "mean of corruptions" in result.output
    assert_clean_error(invoke("evaluate", "--corruptions", "--sample", "0"), "sample")


@pytest.mark.slow
def test_reader_training_smoke(tmp_path):
    from neuroart.classify import train_classifier

    out = tmp_path / "r.keras"
    model, card = train_classifier(arch="reader", epochs=1, limit=2000, out=out, show_progress=False,
                                   benchmark_sample=200)
    assert out.is_file() and (tmp_path / "r.json").is_file()
    assert card["augmentation"]["p_elastic"] > 0
    assert 0 <= card["corruption_benchmark"]["mean"] <= 1 and card["corruption_benchmark"]["images"] == 200
    assert 0 <= card["test_accuracy"] <= 1 and card["train_images"] == 2000


# --------------------------------------------------------------------------- low-resolution scans (issue 18)


def test_scan_families_are_seeded_and_look_like_small_scans(test_digits):
    from neuroart.classify.scans import SCANS, scan_pictures

    x = test_digits[0][:6]
    for name in SCANS:
        a, b = scan_pictures(x, name, seed=2), scan_pictures(x, name, seed=2)
        assert all(np.array_equal(p, q) for p, q in zip(a, b, strict=True)), name
        assert all(p.dtype == np.uint8 and p.shape[0] == p.shape[1] and 56 <= p.shape[0] <= 112 for p in a), name
        ink = 255 - a[0].astype(int)  # dark ink on white paper, the digit filling its frame top to bottom
        rows = np.flatnonzero(ink.max(1) > 40)
        assert rows[0] <= 0.1 * len(ink) and rows[-1] >= 0.9 * len(ink), name


def test_a_soft_scan_keeps_its_grey_levels_and_mnist_framing(test_digits):
    """Soft, wide strokes are measured as such: kept grey (not thresholded into thin lines),
    the digit's core fitted to MNIST's 20-pixel box and centred by mass."""
    from neuroart.classify.scans import scan_pictures
    from neuroart.data.preprocess import ink_map, mnist_style

    pic = scan_pictures(test_digits[0][:1], "scan 8x8 bilinear", seed=0)[0].astype(np.float32) / 255
    ink, soft = ink_map(pic)
    assert soft
    out = mnist_style(pic)
    inked = out[out > 0.05]
    assert ((inked > 0.1) & (inked < 0.6)).mean() > 0.25  # grey levels kept
    rows, cols = np.nonzero(out > 0.25)
    assert 18 <= max(np.ptp(rows), np.ptp(cols)) + 1 <= 22
    yy, xx = np.mgrid[0:28, 0:28]
    assert abs((out * yy).sum() / out.sum() - 13.5) <= 1 and abs((out * xx).sum() / out.sum() - 13.5) <= 1.5
    marker = draw_digit(7, style="marker", seed=0)  # a crisp pen stays on the cleaning path
    from neuroart.data.preprocess import to_gray

    assert not ink_map(to_gray(marker))[1]


def test_paper_of_a_digit_that_fills_its_frame():
    """A blurry digit touching every side of its picture: most of the border is the grey edge of
    a stroke. The paper is still white (the border's median grey would fold paper and ink)."""
    from neuroart.data.preprocess import to_gray

    pic = np.full((60, 60), 255, np.uint8)
    pic[:, :] = 200  # the soft edge of strokes, all along the border...
    pic[:, 24:36] = 255  # ...but for a strip of paper on every side
    pic[24:36, :] = 255
    pic[5:55, 5:12] = 40  # a dark stroke inside
    ink = to_gray(Image.fromarray(pic, "L"))
    assert ink[30, 30] == 0.0 and ink[0, 30] == 0.0  # paper
    assert abs(ink[0, 0] - 55 / 255) < 0.01 and abs(ink[30, 8] - 215 / 255) < 0.01  # edge and stroke


def test_reader_on_low_resolution_scans_matches_the_plain_resize(reader, test_digits):
    from neuroart.classify.scans import benchmark_scans

    x, y = test_digits
    idx = np.random.default_rng(7).choice(len(x), 300, replace=False)
    res = benchmark_scans({"reader": reader}, x[idx], y[idx], seed=7,
                          names=["scan 8x8 bilinear", "scan 8x8 nearest", "scan 16x16 bicubic"])
    for name, acc in res.items():
        assert acc["reader"]["preprocessed"] >= acc["reader"]["plain"] - 0.01, (name, acc)
        assert acc["reader"]["preprocessed"] >= 0.95, (name, acc)
