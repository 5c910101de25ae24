"""Property-based tests (Hypothesis) of the readers of untrusted files (issue 9).

Random bytes, random valid-but-odd images (sizes down to 1x1 and very wide, modes 1/L/LA/P with
palettes and transparency/RGB/RGBA/I;16/I/F, bit depths, broken copies) and random recipe
chunks go to `load_digit_image`, `digit_from_bytes`, `load_picture` and `read_recipe`. The only
outcomes allowed are a result of the right shape (float32 in [0, 1]) or a `NeuroartError`; and
the memory the readers allocate stays bounded over the whole run.
"""

from __future__ import annotations

import io
import json
import tracemalloc
import zlib

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
pytestmark = pytest.mark.filterwarnings("ignore:Tag data larger than file:UserWarning",
                                      "ignore::PIL.Image.DecompressionBombWarning")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from neuroart._util import NeuroartError  # noqa: E402

PEAK_LIMIT = 256 * 2**20  # bytes Python/numpy may hold at once while reading one file
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                derandomize=True)

MODES = ["1", "L", "LA", "P", "PA", "RGB", "RGBA", "I;16", "I", "F"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def memory():
    """Track the peak of Python (and numpy) allocations over the whole module."""
    tracemalloc.start()
    yield
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < PEAK_LIMIT, f"readers held {peak / 2**20:.0f} MiB at once"


def _write(folder, data: bytes, name="x.png"):
    path = folder / name
    path.write_bytes(data)
    return path


# --------------------------------------------------------------------------- strategies

sizes = st.one_of(
    st.tuples(st.integers(1, 40), st.integers(1, 40)),  # small, down to 1x1
    st.tuples(st.integers(1, 3), st.integers(200, 3000)),  # very tall
    st.tuples(st.integers(200, 3000), st.integers(1, 3)),  # very wide
    st.tuples(st.integers(28, 120), st.integers(28, 120)),
)


@st.composite
def images(draw):
    """A Pillow image of a random mode and size, with random (seeded) pixels."""
    from PIL import Image

    mode = draw(st.sampled_from(MODES))
    w, h = draw(sizes)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    pattern = draw(st.sampled_from(["noise", "flat", "stroke", "zeros", "max"]))
    a = rng.random((h, w))
    if pattern == "flat":
        a[:] = a[0, 0]
    elif pattern == "stroke":
        a[:] = 0.05
        a[h // 3 : h // 3 + max(1, h // 8), :] = 0.95
    elif pattern == "zeros":
        a[:] = 0
    elif pattern == "max":
        a[:] = 1
    if mode == "1":
        return Image.fromarray(a > 0.5).convert("1")
    if mode in ("L", "P"):
        img = Image.fromarray((a * 255).astype(np.uint8))
        if mode == "P":
            colours = draw(st.integers(1, 256))
            palette = rng.integers(0, 256, 3 * colours, dtype=np.uint8).tolist()
            img = Image.frombytes("P", (w, h), (a * (colours - 1)).astype(np.uint8).tobytes())
            img.putpalette(palette)
            if draw(st.booleans()):
                img.info["transparency"] = draw(st.integers(0, colours - 1))
        return img
    if mode in ("LA", "PA", "RGB", "RGBA"):
        channels = {"LA": 2, "PA": 2, "RGB": 3, "RGBA": 4}[mode]
        b = (rng.random((h, w, channels)) * 255).astype(np.uint8)
        b[..., 0] = (a * 255).astype(np.uint8)
        if mode == "PA":
            return Image.fromarray(b[..., :2].copy()).convert("PA")
        return Image.fromarray(b[..., :channels].copy())
    if mode == "I;16":
        top = draw(st.sampled_from([255, 4095, 65535]))
        return Image.fromarray((a * top).astype(np.uint16))  # mode I;16
    if mode == "I":
        top = draw(st.sampled_from([1, 255, 65535, 2**31 - 1]))
        lo = draw(st.sampled_from([0, -(2**31)]))
        return Image.fromarray((lo + a * (top - lo)).astype(np.int32))  # mode I
    special = draw(st.sampled_from([None, np.nan, np.inf, -np.inf, 1e38]))
    f = (a * draw(st.sampled_from([1.0, 255.0, 1e6, -1.0]))).astype(np.float32)
    if special is not None:
        f.flat[rng.integers(0, f.size)] = special
    return Image.fromarray(f)  # mode F


def encode(img, *, fmt: str = "PNG", bits: int | None = None) -> bytes:
    buf = io.BytesIO()
    if img.mode == "F" or fmt == "TIFF":
        img.save(buf, format="TIFF")  # PNG has no float mode
    elif img.mode == "PA":
        img.convert("RGBA").save(buf, format="PNG")
    elif bits and img.mode == "P":
        img.save(buf, format="PNG", bits=bits)
    else:
        img.save(buf, format=fmt)
    return buf.getvalue()


@st.composite
def image_files(draw):
    img = draw(images())
    fmt = draw(st.sampled_from(["PNG", "PNG", "PNG", "TIFF", "GIF", "BMP", "WEBP"]))
    if fmt in ("GIF", "BMP", "WEBP") and img.mode not in ("1", "L", "P", "RGB", "RGBA"):
        fmt = "PNG"
    bits = draw(st.sampled_from([None, 1, 2, 4])) if img.mode == "P" else None
    try:
        return encode(img, fmt=fmt, bits=bits)
    except (OSError, ValueError, KeyError):  # Pillow cannot write that combination
        return encode(img, fmt="TIFF")


@st.composite
def broken_files(draw):
    """A valid image file, then truncated, with bytes flipped, or with junk appended."""
    data = bytearray(draw(image_files()))
    how = draw(st.sampled_from(["truncate", "flip", "append", "header"]))
    if how == "truncate":
        data = data[: draw(st.integers(0, max(0, len(data) - 1)))]
    elif how == "flip":
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] = draw(st.integers(0, 255))
    elif how == "append":
        data += draw(st.binary(max_size=200))
    else:  # a PNG header whose size says something else
        data = data[:16] + draw(st.binary(min_size=8, max_size=8)) + data[24:]
    return bytes(data)


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    import struct

    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=20,
)

recipe_texts = st.one_of(
    json_values.map(json.dumps),
    st.dictionaries(st.sampled_from(["command", "argv", "seed", "version", "model", "options"]),
                    json_values, max_size=6).map(json.dumps),
    st.integers(1, 300_000).map(lambda n: "[" * n + "]" * n),  # deep nesting (RecursionError)
    st.integers(1, 300_000).map(lambda n: '{"a":' * n + "1" + "}" * n),
    st.text(max_size=200),
    st.just('{"argv": ["dream"], "command": 5}'),
    st.just("NaN"),
    st.just('{"seed": Infinity}'),
)


@st.composite
def recipe_pngs(draw):
    """A small PNG whose ``neuroart`` text chunk holds random text (tEXt, zTXt or iTXt)."""
    from PIL import Image, PngImagePlugin

    text = draw(recipe_texts)
    info = PngImagePlugin.PngInfo()
    kind = draw(st.sampled_from(["itxt", "itxt_zip", "text", "ztxt", "after_idat", "raw"]))
    if kind == "itxt":
        info.add_itxt("neuroart", text)
    elif kind == "itxt_zip":
        info.add_itxt("neuroart", text, zip=True)
    elif kind == "text":
        info.add_text("neuroart", text.encode("latin-1", "replace").decode("latin-1"))
    elif kind == "ztxt":
        info.add_text("neuroart", text.encode("latin-1", "replace").decode("latin-1"), zip=True)
    elif kind == "after_idat":
        info.add_itxt("neuroart", text, zip=True)
        info.chunks[-1] = (*info.chunks[-1][:2], True)
    buf = io.BytesIO()
    Image.new("L", (draw(st.integers(1, 30)), draw(st.integers(1, 30)))).save(buf, format="PNG", pnginfo=info)
    data = buf.getvalue()
    if kind == "raw":  # an iTXt chunk built by hand, possibly malformed, before IEND
        payload = draw(st.sampled_from([b"neuroart\x00\x00\x00\x00\x00", b"neuroart\x00\x01\x00\x00\x00",
                                        b"neuroart\x00\x01\x07\x00\x00", b"neuroart"]))
        payload += draw(st.one_of(st.binary(max_size=100), st.just(zlib.compress(text.encode()))))
        data = data[:-12] + _png_chunk(b"iTXt", payload) + data[-12:]
    return data


# --------------------------------------------------------------------------- the properties


def _check_digit(result):
    assert isinstance(result, np.ndarray) and result.shape == (28, 28) and result.dtype == np.float32
    assert np.isfinite(result).all() and result.min() >= 0 and result.max() <= 1


def _check_picture(result, gray):
    assert isinstance(result, np.ndarray) and result.dtype == np.float32
    assert result.ndim == (2 if gray else 3) and (gray or result.shape[2] == 3)
    assert np.isfinite(result).all() and result.min() >= 0 and result.max() <= 1


def _read_all(folder, data: bytes):
    """Every reader on one file: each returns a right result or raises NeuroartError."""
    from neuroart.data import digit_from_bytes, load_digit_image, load_picture
    from neuroart.outputs import read_recipe

    path = _write(folder, data)
    for gray in (False, True):
        try:
            _check_picture(load_picture(path, gray=gray), gray)
        except NeuroartError as e:
            assert "\n" not in str(e)
    try:
        _check_digit(load_digit_image(path))
    except NeuroartError as e:
        assert "\n" not in str(e)
    try:
        _check_digit(digit_from_bytes(data))
    except NeuroartError as e:
        assert "\n" not in str(e)
    try:
        recipe = read_recipe(path)
        assert recipe is None or isinstance(recipe, dict)
    except NeuroartError as e:
        assert "\n" not in str(e)


@FAST
@given(data=st.binary(max_size=2000) | st.binary(max_size=200).map(lambda b: b"\x89PNG\r\n\x1a\n" + b))
def test_random_bytes(folder, memory, data):
    if not data:
        data = b"\x00"
    _read_all(folder, data)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(data=image_files())
def test_odd_but_valid_images(folder, memory, data):
    _read_all(folder, data)


@FAST
@given(data=broken_files())
def test_broken_images(folder, memory, data):
    if not data:
        data = b"\x00"
    _read_all(folder, data)


@FAST
@given(data=recipe_pngs())
def test_random_recipe_chunks(folder, memory, data):
    from neuroart.outputs import read_recipe

    path = _write(folder, data, "r.png")
    try:
        recipe = read_recipe(path)
        assert recipe is None or isinstance(recipe, dict)
    except NeuroartError as e:
        assert "\n" not in str(e)


def test_a_bomb_is_refused_before_decoding(folder, memory):
    """A 30000 x 30000 PNG of a few hundred KB: refused, no gigabyte allocated."""
    import struct

    w = h = 30_000
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    row = b"\x00" + b"\x00" * w
    idat = zlib.compress(row * 64, 9)  # the start of the image; the rest is never reached
    png = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")
    from neuroart.data import load_digit_image, load_picture
    from neuroart.outputs import read_recipe

    path = _write(folder, png, "bomb.png")
    for read in (load_digit_image, load_picture, read_recipe):
        with pytest.raises(NeuroartError):
            read(path)
