"""Handwriting style (neuroart.generate.style), its score, and `neuroart restyle`."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def sources(pick_test_digits):
    return pick_test_digits(12, seed=11)


def test_restyle_writes_every_digit_readably(sources):
    from neuroart.generate.style import restyle
    from neuroart.metrics import judge_agreement

    x, y = sources
    sets, labels = [], []
    for img, lab in zip(x, y, strict=True):
        r = restyle(img, label=int(lab))
        assert r.images.shape == (10, 28, 28) and r.images.dtype == np.float32
        assert list(r.labels) == list(range(10)) and r.source_label == lab and r.label_given
        sets.append(r.images)
        labels.append(r.labels)
    assert judge_agreement(np.concatenate(sets), np.concatenate(labels), "cnn") >= 0.95


def test_order_of_digits_and_reader_label(sources):
    from neuroart.generate.style import restyle

    x, y = sources
    r = restyle(x[0], [7, 2, 7])
    assert list(r.labels) == [7, 2, 7]
    np.testing.assert_array_equal(r.images[0], r.images[2])
    assert not r.label_given and r.source_label == y[0]  # the reader reads this test digit right


def test_style_consistency_separates_restyle_from_random(sources, test_digits):
    from neuroart.generate.model import load_generator
    from neuroart.generate.style import restyle
    from neuroart.metrics import slant, style_consistency, thickness

    x, y = test_digits
    idx = np.random.default_rng(2).choice(len(x), 40, replace=False)
    sets = np.stack([restyle(x[i], label=int(y[i])).images for i in idx])
    good = style_consistency(x[idx], sets)
    assert good["slant"] > 0.6 and good["thickness"] > 0.6, good
    g = load_generator("cvae")
    labels = np.tile(np.arange(10), len(idx))
    rnd = g.decode(g.prior(labels=labels, seed=3), labels, sharpness=3.0).reshape(sets.shape)
    bad = style_consistency(x[idx], rnd)
    assert abs(bad["slant"]) < 0.45 and abs(bad["thickness"]) < 0.45, bad
    # the measures themselves: a sheared bar leans, a thick bar is thick
    bar = np.zeros((2, 28, 28), np.float32)
    bar[0, 4:24, 13:15] = 1
    bar[1, 4:24, 11:17] = 1
    assert abs(slant(bar)).max() < 1e-6 and thickness(bar)[1] > 2.5 * thickness(bar)[0]
    lean = np.zeros((1, 28, 28), np.float32)
    for r in range(4, 24):
        lean[0, r, 14 + (14 - r) // 3 : 16 + (14 - r) // 3] = 1
    assert slant(lean)[0] > 0.2  # the top further right: leans right


def test_same_input_same_bytes_and_seeded_extras(sources):
    from neuroart.generate.style import mix_styles, restyle, similar, style_walk

    x, _ = sources
    a, b = restyle(x[1], frames=4, seed=2), restyle(x[1], frames=4, seed=2)
    assert a.images.tobytes() == b.images.tobytes()
    assert all(f.tobytes() == g.tobytes() for f, g in zip(a.frames, b.frames, strict=True))
    np.testing.assert_array_equal(a.frames[0][1:], a.images)  # the walk starts at the source's style
    s1, s2 = similar(x[1], 6, seed=1), similar(x[1], 6, seed=1)
    assert s1.shape == (6, 28, 28) and s1.tobytes() == s2.tobytes()
    assert not np.array_equal(similar(x[1], 6, seed=2), s1)
    walk = style_walk(x[1], [3, 4], frames=5)
    assert len(walk) == 5 and walk[0].shape == (2, 28, 28)
    m = mix_styles(x[1], x[2], [0, 1], rows=3, frames=0)
    assert m.images.shape == (6, 28, 28) and m.rows == ["A", "50%", "B"]


def test_bad_inputs(sources):
    from neuroart import NeuroartError
    from neuroart.generate.style import restyle, similar

    x, _ = sources
    with pytest.raises(NeuroartError, match="digit"):
        restyle(x[0], [12])
    with pytest.raises(NeuroartError, match="blank"):
        restyle(np.zeros((28, 28), np.float32))
    with pytest.raises(NeuroartError, match="class-conditional"):
        restyle(x[0], model="vae")
    with pytest.raises(NeuroartError, match="spread"):
        similar(x[0], spread=-1)


def test_cli_restyle_png_gif_npz(invoke, tmp_path, digit_png):
    from neuroart.outputs import read_recipe

    png = digit_png()
    args = ["restyle", png, "1", "4", "7", "--label", "7", "--gif", "w.gif", "--frames", "4", "--npz", "r.npz"]
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert {"restyle.png", "w.gif", "r.npz"} <= {p.name for p in tmp_path.iterdir()}
    with np.load(tmp_path / "r.npz", allow_pickle=False) as f:
        assert f["images"].shape == (3, 28, 28) and list(f["labels"]) == [1, 4, 7]
        assert f["source"].shape == (28, 28)
    assert read_recipe(tmp_path / "restyle.png")["argv"][0] == "restyle"
    first = (tmp_path / "restyle.png").read_bytes(), (tmp_path / "r.npz").read_bytes()
    assert invoke(*args).exit_code == 0
    assert ((tmp_path / "restyle.png").read_bytes(), (tmp_path / "r.npz").read_bytes()) == first
    mix = invoke("restyle", "--from", png, "--to", "digit:3", "2", "5", "--out", "mix.png")
    assert mix.exit_code == 0, mix.output


@pytest.mark.parametrize("args, fragment", [
    (["digit:3", "12"], "out of range"),
    (["digit:3", "--label", "10"], "--label"),
    (["blank.png"], "blank"),
    (["--from", "digit:3"], "--from and --to"),
    ([], "give an image"),
    (["digit:3", "--gif", "x.png"], "--gif"),
])
def test_cli_bad_input_one_line_no_files(invoke, tmp_path, assert_clean_error, files_in, args, fragment):
    from PIL import Image

    Image.new("L", (40, 40), 255).save(tmp_path / "blank.png")
    before = files_in(tmp_path)
    assert_clean_error(invoke("restyle", *args), fragment)
    assert files_in(tmp_path) == before
