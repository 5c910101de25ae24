"""The check for copies (neuroart.copies, `neuroart novelty`): nearest training digits, near copies."""

from __future__ import annotations

import json

import numpy as np
import pytest

from neuroart import copies
from neuroart._util import NeuroartError


def test_nearest_training_matches_brute_force():
    rng = np.random.default_rng(0)
    train = rng.random((300, 28, 28), np.float32)
    x = np.concatenate([rng.random((20, 28, 28), np.float32), train[[7, 123]] + 0.01])
    dist, index = copies.nearest_training(x, train, batch=7)
    brute = np.sqrt(((x.reshape(-1, 1, 784).astype(np.float64) - train.reshape(1, -1, 784)) ** 2).sum(-1))
    np.testing.assert_array_equal(index, brute.argmin(1))
    np.testing.assert_allclose(dist, brute.min(1), rtol=1e-9)
    assert list(index[-2:]) == [7, 123] and np.allclose(dist[-2:], 0.28)  # 784 pixels off by 0.01
    bytes_ = (train[:3] * 255).round().astype(np.uint8)  # uint8 digits are bytes 0-255
    assert copies.nearest_training(bytes_, train)[0].max() < 0.05


@pytest.mark.slow
def test_training_digits_are_near_copies_and_real_test_digits_are_one_percent(mnist, monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    (x, _), (xt, _) = mnist
    check = copies.near_copies(x[:300])  # learns the threshold from the 10,000 test digits, and caches it
    assert check.near_copy_share == 1.0 and check.distances.max() < 1e-6
    assert np.array_equal(x[check.nearest], x[:300])
    assert 0.5 < check.threshold < 3  # MNIST: about 1.29 pixels of L2 distance
    assert len(list((tmp_path / "neuroart").glob("copies-*.json"))) == 1

    def no_recompute(test, train, **kw):  # the cached threshold is read back, not computed again
        assert len(test) != len(xt), "the threshold was computed again"
        return real_nearest(test, train, **kw)

    real_nearest = copies.nearest_training
    monkeypatch.setattr(copies, "nearest_training", no_recompute)
    rng = np.random.default_rng(1)
    real = copies.near_copies(xt[rng.choice(len(xt), 2000, replace=False)])
    assert real.threshold == check.threshold
    assert 0.002 <= real.near_copy_share <= 0.03, real.near_copy_share  # ~1% by construction
    assert real.summary()["real_share"] == 0.01


def test_cli_json_is_one_line_and_out_shows_each_copy_beside_its_neighbour(invoke, tmp_path, mnist):
    from PIL import Image

    (x, _), (xt, _) = mnist
    images = np.concatenate([x[:6], xt[:4]]).astype(np.float32) / 255
    np.savez(tmp_path / "made.npz", images=images)
    result = invoke("novelty", "made.npz", "--threshold", "1.0", "--json", "--out", "pairs.png")
    assert result.exit_code == 0, result.output
    (line,) = result.output.strip().splitlines()
    found = json.loads(line)
    assert found["near_copy_share"] == pytest.approx(0.6) and found["near_copies"] == 6 and found["digits"] == 10
    with Image.open(tmp_path / "pairs.png") as im:
        width = im.width
    assert width == 8 * (28 * 3 + 2) + 2  # four pairs a row
    result = invoke("novelty", "made.npz", "--threshold", "1.0")
    assert result.exit_code == 0 and result.output.startswith("6 of 10 digits are near copies"), result.output


@pytest.mark.parametrize("make, words", [
    (lambda p: np.savez(p, pictures=np.zeros((3, 28, 28))), ["has no `images` array", "pictures"]),
    (lambda p: p.write_bytes(b"not a zip"), ["not a readable .npz"]),
    (lambda p: np.savez(p, images=np.zeros((3, 32, 32))), ["(N, 28, 28)"]),
    (lambda p: np.savez(p, images=np.full((3, 28, 28), 2.0)), ["must be in [0, 1]"]),
    (lambda p: None, ["no such file"]),
])
def test_bad_npz_files_are_one_line_and_no_file(invoke, tmp_path, monkeypatch, assert_clean_error, files_in,
                                                make, words):
    from neuroart import data

    make(tmp_path / "bad.npz")
    before = files_in(tmp_path)
    monkeypatch.setattr(data, "mnist_with_source", lambda *a, **k: pytest.fail("MNIST loaded for a bad file"))
    assert_clean_error(invoke("novelty", "bad.npz", "--out", "pairs.png"), *words)
    assert files_in(tmp_path) == before


def test_the_library_refuses_bad_thresholds_and_shapes(mnist):
    with pytest.raises(NeuroartError, match="threshold must be"):
        copies.near_copies(np.zeros((2, 28, 28)), threshold=float("nan"))
    with pytest.raises(NeuroartError, match="images must be digits"):
        copies.nearest_training(np.zeros((2, 10)), np.zeros((2, 28, 28)))
