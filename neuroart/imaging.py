"""Grids, colour maps, captions and encoders: the only place pixels become bytes.

Images come in as float arrays in [0, 1] — (N, 28, 28) digits, or (H, W) / (H, W, 3) pictures —
and leave as uint8 RGB arrays (`make_grid`, `colorize`) or as PNG / GIF / npz bytes (`encode_png`,
`encode_gif`, `encode_npz`). Nothing here writes a file: `neuroart.outputs` owns every file and
every recipe (a PNG's recipe travels in an ``iTXt`` chunk named `RECIPE_KEY`, which `encode_png`
adds and `neuroart.outputs.read_recipe` reads). Every PNG and GIF also carries the honest label
(`xmp_packet`): XMP saying, in the IPTC Digital Source Type, that a trained model made it.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence

import numpy as np

from ._util import NeuroartError
from ._version import __version__
from .validate import integer

RECIPE_KEY = "neuroart"

# The honest label: the IPTC Digital Source Type (https://cv.iptc.org/newscodes/digitalsourcetype/),
# the marker image platforms read for pictures a model made, in XMP (PNG: an iTXt chunk named
# `XMP_KEY`; GIF: XMP's application extension, written by `encode_gif`).
SOURCE_TYPE_URI = "http://cv.iptc.org/newscodes/digitalsourcetype/"
MADE = "trainedAlgorithmicMedia"  # every pixel came out of a model (from noise, a code, a prior)
COMPOSITE = "compositeWithTrainedAlgorithmicMedia"  # a real picture went in (yours, or real MNIST digits)
XMP_KEY = "XML:com.adobe.xmp"
#: What each source type says, in words (`neuroart info FILE`).
SOURCE_TYPE_WORDS = {MADE: "made by a trained model", COMPOSITE: "a real picture remade by a trained model"}

# Perceptual palettes as a few anchor colours (sampled from matplotlib's maps), interpolated
# to 256 entries. Close to the originals, small enough to live here without matplotlib.
_ANCHORS = {
    "magma": ["#000004", "#1c1044", "#4f127b", "#812581", "#b5367a", "#e55064", "#fb8761", "#fec287", "#fcfdbf"],
    "inferno": ["#000004", "#1f0c48", "#550f6d", "#88226a", "#ba3655", "#e35933", "#f98e09", "#f8c932", "#fcffa4"],
    "viridis": ["#440154", "#472d7b", "#3b528b", "#2c728e", "#21918c", "#28ae80", "#5ec962", "#addc30", "#fde725"],
    "plasma": ["#0d0887", "#4c02a1", "#7e03a8", "#a92395", "#cc4778", "#e56b5d", "#f89540", "#fdc527", "#f0f921"],
    "ocean": ["#000000", "#001a33", "#003d66", "#006b8f", "#1a9bb0", "#5cc8c8", "#a8e6dc", "#e6fff8", "#ffffff"],
}
CMAPS = ("gray", "inverted", *_ANCHORS)


def _hex(c: str) -> tuple[int, int, int]:
    return int(c[1:3], 16), int(c[3:5], 16), int(c[5:7], 16)


def check_cmap(name: str) -> str:
    """`name` if it is a known colour map, else a clear error."""
    if name not in CMAPS:
        raise NeuroartError(f"unknown colour map {name!r} (choose from {', '.join(CMAPS)})")
    return name


def lut(name: str) -> np.ndarray:
    """The (256, 3) uint8 look-up table of colour map `name`."""
    if name == "gray":
        ramp = np.arange(256, dtype=np.uint8)
        return np.stack([ramp] * 3, axis=1)
    if name == "inverted":
        return lut("gray")[::-1].copy()
    check_cmap(name)
    anchors = np.array([_hex(c) for c in _ANCHORS[name]], np.float64)
    xs = np.linspace(0, 255, len(anchors))
    grid = np.arange(256)
    return np.stack([np.interp(grid, xs, anchors[:, k]) for k in range(3)], axis=1).round().astype(np.uint8)


def to_uint8(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image, np.float32)
    if not np.all(np.isfinite(image)):
        raise NeuroartError("image has NaN or infinite values")
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def as_pixels(image: np.ndarray) -> np.ndarray:
    """Pixels as float in [0, 1] or as uint8 bytes: integer arrays are bytes 0-255.

    Floats (and booleans) are intensities in [0, 1]; integers of any dtype are bytes, so ink 128
    stays mid-grey (not full white). Integers outside 0-255 and non-numbers are refused.
    """
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image
    if image.dtype.kind == "b":
        return image.astype(np.float32)
    if image.dtype.kind in "iu":
        if image.size and (image.min() < 0 or image.max() > 255):
            raise NeuroartError(f"integer pixels must be bytes 0-255 (or give floats in [0, 1]); "
                                f"got values from {image.min()} to {image.max()}")
        return image.astype(np.uint8)
    if image.dtype.kind != "f":
        raise NeuroartError(f"pixels must be numbers (floats in [0, 1] or bytes 0-255), got dtype {image.dtype}")
    return image


def colorize(image: np.ndarray, cmap: str = "gray") -> np.ndarray:
    """Float (H, W) or (H, W, 3) in [0, 1], or bytes 0-255 -> uint8 RGB (H, W, 3).

    Colour images pass through. Integer pixels are bytes (see `as_pixels`).
    """
    image = as_pixels(image)
    if image.ndim == 3 and image.shape[-1] == 3:
        return to_uint8(image) if image.dtype != np.uint8 else image
    if image.ndim != 2:
        raise NeuroartError(f"expected a (H, W) or (H, W, 3) image, got shape {image.shape}")
    values = to_uint8(image) if image.dtype != np.uint8 else image
    return lut(cmap)[values]


def upscale(rgb: np.ndarray, scale: int) -> np.ndarray:
    return rgb if scale == 1 else rgb.repeat(scale, axis=0).repeat(scale, axis=1)


# A diverging palette for signed maps on a dark page: cool (negative) - black (zero) - warm (positive).
DIVERGING = ["#c6f1ff", "#5cc2f2", "#2577d0", "#173a7c", "#000000", "#7e1d12", "#d2401c", "#f7962b", "#ffe9a3"]


def _robust_limit(values: np.ndarray) -> np.ndarray:
    """Per image: the 99.5th percentile of |value| (so one hot pixel does not wash the rest out)."""
    a = np.abs(values.reshape(len(values), -1))
    lim = np.percentile(a, 99.5, axis=1)
    lim = np.where(lim > 0, lim, a.max(axis=1))
    return np.where(lim > 0, lim, 1.0).astype(np.float32)


def diverging(values: np.ndarray, limit=None) -> np.ndarray:
    """Signed maps (N, h, w) or (h, w) -> float RGB (..., 3) in [0, 1] in the `DIVERGING` palette.

    Each map is scaled to its own `limit` (default: its 99.5th percentile of |value|), so that
    zero is black, +limit the warmest colour and -limit the coolest.
    """
    v = np.asarray(values, np.float32)
    one = v.ndim == 2
    v = v[None] if one else v
    lim = _robust_limit(v) if limit is None else np.broadcast_to(np.asarray(limit, np.float32), (len(v),))
    u = np.clip(v / lim[:, None, None], -1.0, 1.0) * 0.5 + 0.5
    anchors = np.array([_hex(c) for c in DIVERGING], np.float32) / 255.0
    xs = np.linspace(0, 1, len(anchors))
    rgb = np.stack([np.interp(u, xs, anchors[:, k]) for k in range(3)], axis=-1).astype(np.float32)
    return rgb[0] if one else rgb


def overlay(digits: np.ndarray, values: np.ndarray, *, dim: float = 0.4) -> np.ndarray:
    """Digits (N, h, w) in dimmed gray with their signed maps laid over in the diverging palette.

    Each pixel blends the gray digit with the map's colour in proportion to |value| (scaled as in
    `diverging`): strong evidence shows in colour, the rest of the digit stays visible.
    """
    d = np.asarray(digits, np.float32)
    v = np.asarray(values, np.float32)
    one = d.ndim == 2
    d, v = (d[None], v[None]) if one else (d, v)
    lim = _robust_limit(v)
    alpha = np.clip(np.abs(v) / lim[:, None, None], 0.0, 1.0)[..., None] ** 0.7
    full = diverging(0.75 * np.sign(v), limit=1.0)  # saturated warm (orange) / cool (blue)
    base = np.repeat(d[..., None] * dim, 3, axis=-1)
    out = (base * (1 - alpha) + full * alpha).astype(np.float32)
    return out[0] if one else out


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def make_grid(
    images: np.ndarray,
    *,
    ncols: int | None = None,
    captions: Sequence[str] | None = None,
    row_labels: Sequence[str] | None = None,
    title: str | None = None,
    scale: int = 4,
    pad: int = 2,
    cmap: str = "gray",
    background: str | tuple[int, int, int] = "#202020",
    text_color: str | tuple[int, int, int] = "#e8e8e8",
) -> np.ndarray:
    """Lay out (N, h, w) float images in a grid; returns uint8 RGB (H, W, 3).

    Floats are intensities in [0, 1]; integer (e.g. uint8) images are bytes 0-255. A list of
    images of different shapes is refused with one clear `NeuroartError`.

    `captions` puts a line of text under each cell, `row_labels` a label left of each row,
    `title` a line above the grid. Cells are upscaled by the integer `scale` (nearest neighbour,
    so pixels stay crisp) and separated by `pad` pixels of `background`.
    """
    images = _grid_images(images)
    if not isinstance(scale, (int, np.integer)) or scale < 1 or scale > 64:
        raise NeuroartError(f"scale must be an integer from 1 to 64, got {scale}")
    pad = integer("pad", pad, low=0, high=256)
    n = len(images)
    ncols = integer("ncols", ncols, low=1) if ncols else int(np.ceil(np.sqrt(n)))  # 0/None: square
    nrows = int(np.ceil(n / ncols))
    if captions is not None and len(captions) != n:
        raise NeuroartError(f"{len(captions)} captions for {n} images")
    if row_labels is not None and len(row_labels) != nrows:
        raise NeuroartError(f"{len(row_labels)} row labels for {nrows} rows")

    cells = [upscale(colorize(im, cmap), scale) for im in images]
    ch, cw = cells[0].shape[:2]
    font_px = max(10, min(18, cw // 4))
    font = _font(font_px)
    cap_h = font_px + 4 if captions is not None else 0
    label_w = 0
    if row_labels is not None:
        label_w = max(int(font.getlength(str(s))) for s in row_labels) + 2 * pad + 4
    title_h = font_px + 8 if title else 0
    # where cell i sits: its top-left corner (y, x)
    cell = [(title_h + pad + r * (ch + cap_h + pad), label_w + pad + c * (cw + pad))
            for r, c in (divmod(i, ncols) for i in range(n))]

    from PIL import ImageColor

    H = title_h + pad + nrows * (ch + cap_h + pad)
    W = label_w + pad + ncols * (cw + pad)
    canvas = np.empty((H, W, 3), np.uint8)
    canvas[:] = ImageColor.getrgb(background) if isinstance(background, str) else tuple(background)
    for (y, x), im in zip(cell, cells, strict=True):
        canvas[y : y + ch, x : x + cw] = im
    if captions is None and row_labels is None and not title:
        return canvas
    texts = [] if not title else [((W / 2, title_h / 2 + pad / 2), title, "mm")]
    texts += [((x + cw / 2, y + ch + cap_h / 2), text, "mm") for (y, x), text in zip(cell, captions or (), strict=False)]
    texts += [((label_w - pad - 2, cell[r * ncols][0] + ch / 2), text, "rm") for r, text in enumerate(row_labels or ())]
    return _draw_texts(canvas, texts, font, text_color)


def _grid_images(images) -> np.ndarray:
    """Images for a grid: a non-empty (N, h, w[, c]) batch of numbers, or one clear error."""
    try:
        images = np.asarray(images)
    except (ValueError, TypeError):  # a ragged list: numpy cannot stack images of different shapes
        shapes = sorted({str(tuple(np.shape(im))) for im in images}) if isinstance(images, (list, tuple)) else []
        raise NeuroartError(f"images must all have the same shape (got {', '.join(shapes[:4]) or 'a ragged list'})") from None
    if images.dtype == object:
        raise NeuroartError("images must be a numeric array of equal-shaped images, not a list of objects")
    images = as_pixels(images)
    if images.ndim == 2:
        images = images[None]
    if images.ndim not in (3, 4) or len(images) == 0:
        raise NeuroartError(f"expected a non-empty batch of images (N, h, w), got shape {images.shape}")
    return images


def _draw_texts(canvas: np.ndarray, texts, font, color) -> np.ndarray:
    """Draw ``((x, y), text, anchor)`` items onto a uint8 RGB canvas."""
    from PIL import Image, ImageColor, ImageDraw

    img = Image.fromarray(canvas)
    draw = ImageDraw.Draw(img)
    fg = ImageColor.getrgb(color) if isinstance(color, str) else tuple(color)
    for xy, text, anchor in texts:
        draw.text(xy, str(text), fill=fg, font=font, anchor=anchor)
    return np.asarray(img)


def _recipe_text(recipe: dict) -> str:
    return json.dumps(recipe, sort_keys=True, default=str)


def _into(file, encode) -> bytes | None:
    """Run ``encode(file_object)`` into `file`, or (None) into memory and return the bytes."""
    if file is not None:
        encode(file)
        return None
    buf = io.BytesIO()
    encode(buf)
    return buf.getvalue()


def source_type(composite: bool = False) -> str:
    """The IPTC Digital Source Type URI of a picture neuroart made (`COMPOSITE` when a real picture went in)."""
    return SOURCE_TYPE_URI + (COMPOSITE if composite else MADE)


def xmp_packet(composite: bool = False) -> bytes:
    """The honest label as an XMP packet (UTF-8, no NUL byte): the IPTC Digital Source Type and the
    tool that made the picture. Nothing in it changes from run to run (no dates, no instance ids),
    so the same seed still gives the same bytes."""
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        '  <rdf:Description rdf:about=""\n'
        '    xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"\n'
        '    xmlns:xmp="http://ns.adobe.com/xap/1.0/"\n'
        f'    Iptc4xmpExt:DigitalSourceType="{source_type(composite)}"\n'
        f'    xmp:CreatorTool="neuroart {__version__}"/>\n'
        ' </rdf:RDF>\n'
        '</x:xmpmeta>\n'
        '<?xpacket end="r"?>'
    ).encode()


def _gif_with_xmp(gif: bytes, packet: bytes) -> bytes:
    """`gif` with XMP's GIF application extension (XMP specification part 3) after its global colour
    table: ``XMP DataXMP``, the packet's raw bytes, then the 258-byte "magic trailer" (0x01, 0xFF
    down to 0x00, a block terminator) that lets a reader of ordinary sub-blocks skip the packet."""
    flags = gif[10]
    at = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    trailer = bytes([1]) + bytes(range(255, -1, -1)) + b"\x00"
    return gif[:at] + b"\x21\xff\x0bXMP DataXMP" + packet + trailer + gif[at:]


def encode_png(rgb: np.ndarray, file=None, *, recipe: dict | None = None, composite: bool = False) -> bytes | None:
    """Uint8 RGB (or gray) pixels as PNG bytes (returned, or written into an open binary `file`),
    with the recipe in a text chunk and the honest label (`xmp_packet`; `composite` when a real
    picture went in) in an uncompressed ``XML:com.adobe.xmp`` iTXt chunk, as XMP asks."""
    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_itxt(XMP_KEY, xmp_packet(composite).decode("utf-8"), zip=False)
    if recipe is not None:
        info.add_itxt(RECIPE_KEY, _recipe_text(recipe), zip=True)
    image = Image.fromarray(np.asarray(rgb, np.uint8))
    return _into(file, lambda f: image.save(f, format="PNG", pnginfo=info, optimize=False))


def encode_gif(frames: Sequence[np.ndarray], file=None, *, duration_ms: int = 80, loop: int = 0,
               composite: bool = False) -> bytes | None:
    """Uint8 RGB frames as animated GIF bytes (returned, or written into an open binary `file`),
    with the honest label (`xmp_packet`) in XMP's application extension (Pillow writes none)."""
    from PIL import Image

    duration_ms = integer("duration_ms", duration_ms, low=1, high=60_000)
    loop = integer("loop", loop, low=0, high=65_535)

    if len(frames) < 1:
        raise NeuroartError("a GIF needs at least one frame")
    pics = [Image.fromarray(np.asarray(f, np.uint8)) for f in frames]
    buf = io.BytesIO()
    pics[0].save(buf, format="GIF", save_all=True, append_images=pics[1:], duration=duration_ms, loop=loop,
                 disposal=2, optimize=False)
    gif = _gif_with_xmp(buf.getvalue(), xmp_packet(composite))
    return _into(file, lambda f: f.write(gif))


def encode_npz(arrays: dict, file=None) -> bytes | None:
    """Arrays as ``.npz`` bytes (returned, or written into an open binary `file`) that depend only
    on the arrays: fixed zip timestamps (``np.savez`` stamps the current time), nothing pickled
    (object arrays are refused)."""
    return _into(file, lambda f: _write_npz(arrays, f))


def _write_npz(arrays: dict, file) -> None:
    import zipfile

    with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, arr in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asarray(arr), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue())
