"""DeepDream on a whole picture with a 28-pixel classifier: octaves x random-shift tiles.

The picture's luminance is cut into tiles of ``28 * zoom`` pixels, each averaged down to the
classifier's 28 x 28 input; the gradient of the objective (a layer's energy, or a digit's
logit) flows back through the pooling to every pixel. Each step shifts the tile grid by a
random offset (so no seams), normalises the gradient by its mean magnitude and climbs it.
Octaves run from small to full size, carrying the dreamed detail up (Mordvintsev et al. 2015;
the keras-io and TensorFlow DeepDream examples).

Memory stays bounded: tiles go through the model in fixed-size batches (one compiled function,
traced once), so a larger picture means more batches, not bigger tensors. Colour pictures are
dreamed in luminance and the change is added to every channel, keeping the colours.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

import numpy as np

from .._util import NeuroartError, check_digits, progress, tf
from . import objectives as O
from .render import ModelTaps

MAX_PIXELS = 20_000_000  # ~5000 x 4000: larger pictures are refused up front


@dataclass(frozen=True)
class DeepDreamConfig:
    """Every default of ``neuroart deepdream`` (the CLI options default to these)."""

    octaves: int = 4  # image scales, smallest first
    octave_scale: float = 1.4  # size ratio between octaves
    steps: int = 10  # ascent steps per octave
    lr: float = 0.01  # step size per normalised gradient (pixels are in [0, 1])
    layer: str | None = None  # layer whose energy is amplified (default: the last Conv layer,
    #                           or the first hidden Dense layer of a model without convolutions)
    digit: int | None = None  # amplify this digit's logit instead of a layer
    zoom: int = 2  # each tile covers 28 * zoom pixels of the current octave
    contrast: float = 2.0  # tiles are fed as contrast * (tile - its mean): flat areas read as
    #                        MNIST's black ground, so strokes grow from edges and texture (0 = raw)
    jitter: int = 4  # the tile grid moves by a random offset each octave and by up to +-jitter
    #                  pixels each step (-1: a fully random offset every step, strokes blur out)
    batch: int = 256  # tiles per model call (memory bound)
    model: str = "cnn"  # convolutions are translation-equivariant: strokes, not tile templates
    seed: int = 0
    max_pixels: int = MAX_PIXELS


DEFAULTS = DeepDreamConfig()


def _resize(img, h, w):
    t = tf()
    x = t.image.resize(t.constant(img[None, ..., None] if img.ndim == 2 else img[None]), (h, w), method="bilinear", antialias=True)
    x = x.numpy()[0]
    return x[..., 0] if img.ndim == 2 else x


def _luminance(rgb):
    return (rgb @ np.array([0.299, 0.587, 0.114], np.float32)).astype(np.float32)


def _check_picture(picture, cfg: DeepDreamConfig) -> np.ndarray:
    pic = np.asarray(picture, np.float32)
    if pic.ndim not in (2, 3) or (pic.ndim == 3 and pic.shape[2] not in (1, 3)):
        raise NeuroartError(f"expected a picture (H, W) or (H, W, 3), got shape {pic.shape}")
    if pic.ndim == 3 and pic.shape[2] == 1:
        pic = pic[..., 0]
    H, W = pic.shape[:2]
    if H * W > cfg.max_pixels:
        raise NeuroartError(f"picture too large ({W}x{H}; the limit is {cfg.max_pixels:,} pixels)")
    tile = 28 * cfg.zoom
    if min(H, W) < tile:
        raise NeuroartError(f"picture too small ({W}x{H}); it needs at least {tile}x{tile} pixels")
    return pic


def _classifier(model, cfg: DeepDreamConfig):
    from ..models import check_model, load_model

    if model is None or isinstance(model, str) or hasattr(model, "__fspath__"):
        return load_model(cfg.model if model is None else model, role="classifier")
    return check_model(model, "classifier")


def _objective(cfg: DeepDreamConfig, taps: ModelTaps):
    """A digit's logit (``digit``), else a layer's energy (default: the last Conv layer)."""
    if cfg.digit is not None:
        return O.class_logit(int(cfg.digit))
    t = tf()
    convs = [n for n, l in taps.layers.items() if isinstance(l, t.keras.layers.Conv2D)]
    dense = [n for n, l in taps.layers.items() if isinstance(l, t.keras.layers.Dense) and l is not taps._dense]
    name = cfg.layer or (convs[-1] if convs else dense[0] if dense else None)
    if name is None:
        raise NeuroartError("this model has no hidden layer to amplify; give --layer or --digit")
    taps.check(name)
    return O.layer(name)


def _tile_grads(taps: ModelTaps, objective, *, B: int, tile: int, zoom: int, contrast: float):
    """One compiled function (traced once): a batch of B tiles -> the objective's gradient."""
    t = tf()

    @t.function(input_signature=[t.TensorSpec([B, tile, tile], t.float32), t.TensorSpec([B], t.float32)],
                autograph=False)
    def tile_grads(tiles, weight):
        with t.GradientTape() as tape:
            tape.watch(tiles)
            small = t.reduce_mean(t.reshape(tiles, [B, 28, zoom, 28, zoom]), axis=[2, 4]) if zoom > 1 else tiles
            if contrast:
                small = contrast * (small - t.reduce_mean(small, axis=[1, 2], keepdims=True))
            score = t.reduce_sum(objective(taps(small)) * weight)
        return tape.gradient(score, tiles)

    return tile_grads


def _octave_sizes(cfg: DeepDreamConfig, H: int, W: int, tile: int) -> list[tuple[int, int]]:
    sizes = []
    for i in range(cfg.octaves):
        f = cfg.octave_scale ** (cfg.octaves - 1 - i)
        sizes.append((max(tile, int(round(H / f))), max(tile, int(round(W / f)))))
    return sizes


def deepdream(picture, *, config: DeepDreamConfig | None = None, model=None, show_progress: bool = False, **overrides) -> np.ndarray:
    """Dream into ``picture`` (float32 (H, W) or (H, W, 3) in [0, 1]); returns the same shape.

    Any :class:`DeepDreamConfig` field can be passed as a keyword.
    """
    cfg = _validate(dataclasses.replace(config or DEFAULTS, **overrides))
    pic = _check_picture(picture, cfg)
    H, W = pic.shape[:2]
    tile = 28 * cfg.zoom
    taps = ModelTaps(_classifier(model, cfg))
    objective = _objective(cfg, taps)
    # tiles per model call: the most any step needs (largest octave), at most cfg.batch, so that
    # memory stays bounded on big pictures and small ones are not padded to a full batch
    most_tiles = (-(-(H + tile) // tile)) * (-(-(W + tile) // tile))
    B = max(1, min(int(cfg.batch), most_tiles))
    tile_grads = _tile_grads(taps, objective, B=B, tile=tile, zoom=int(cfg.zoom), contrast=float(cfg.contrast))
    # A digit's logit is a score of the whole tile, and MNIST classifiers ignore a digit's empty
    # margin: its gradient fades at every tile border, and a fixed tile grid leaves seams. So
    # for a digit the tiles overlap by half and are blended with sin^2 windows (which sum to 1).
    window = _window(tile) if cfg.digit is not None else None
    gray = _luminance(pic) if pic.ndim == 3 else pic
    rng = np.random.default_rng([int(cfg.seed), 0x6464])
    sizes = _octave_sizes(cfg, H, W, tile)
    delta = None  # dreamed - original, at the previous octave's size
    with progress(range(len(sizes)), label="deepdream octaves", show=show_progress) as bar:
        for i in bar:
            h, w = sizes[i]
            base = _resize(gray, h, w) if (h, w) != (H, W) else gray
            d = np.zeros((h, w), np.float32) if delta is None else _resize(delta, h, w)
            anchor = rng.integers(0, tile, size=2)
            for _ in range(cfg.steps):
                img = np.clip(base + d, 0, 1)
                if cfg.jitter < 0:
                    shift = rng.integers(0, tile, size=2)
                else:
                    shift = (anchor + rng.integers(-cfg.jitter, cfg.jitter + 1, size=2)) % tile
                g = _blended_grad(img, tile, B, shift, tile_grads, window)
                # float32 scalars: NumPy 1.x would compute this in float64, 2.x in float32
                g /= np.float32(np.abs(g).mean()) + np.float32(1e-8)
                d = d + cfg.lr * g
                d = np.clip(base + d, 0, 1) - base
            delta = d
    out_gray = np.clip(gray + delta, 0, 1)
    if pic.ndim == 2:
        return out_gray.astype(np.float32)
    return np.clip(pic + (out_gray - gray)[..., None], 0, 1).astype(np.float32)


def _window(tile: int) -> np.ndarray:
    """(tile, tile) sin^2 weights: four copies shifted by half a tile sum to 1 everywhere."""
    w = np.sin(np.pi * (np.arange(tile) + 0.5) / tile) ** 2
    return (w[:, None] * w[None, :]).astype(np.float32)


def _blended_grad(img, tile, B, shift, tile_grads, window):
    """`_image_grad` on one tile grid, or (with a `window`) on four grids half a tile apart,
    each tile's gradient weighted by the window: no tile border stays in one place."""
    if window is None:
        return _image_grad(img, tile, B, shift, tile_grads)
    sy, sx = (int(v) for v in shift)
    half = tile // 2
    return sum(_image_grad(img, tile, B, ((sy + dy) % tile, (sx + dx) % tile), tile_grads, window)
               for dy in (0, half) for dx in (0, half))


def _image_grad(img, tile, B, shift, tile_grads, window=None):
    """Gradient of the tiled objective w.r.t. img (h, w), the tile grid shifted by (sy, sx)
    (each tile's gradient weighted by `window` when given)."""
    h, w = img.shape
    sy, sx = (int(v) for v in shift)
    # pad so that the shifted grid covers the image: tiles start at -sy, -sx
    ph = -(-(h + sy) // tile) * tile
    pw = -(-(w + sx) // tile) * tile
    # mirror the picture into the margins: zero margins would read as edges and grow a frame
    canvas = np.pad(img, ((sy, ph - h - sy), (sx, pw - w - sx)), mode="symmetric")
    ny, nx = ph // tile, pw // tile
    tiles = canvas.reshape(ny, tile, nx, tile).transpose(0, 2, 1, 3).reshape(ny * nx, tile, tile)
    n = len(tiles)
    grads = np.empty_like(tiles)
    t = tf()
    for a in range(0, n, B):
        chunk = tiles[a : a + B]
        m = len(chunk)
        weight = np.zeros(B, np.float32)
        weight[:m] = 1.0
        if m < B:
            chunk = np.concatenate([chunk, np.zeros((B - m, tile, tile), np.float32)])
        grads[a : a + m] = tile_grads(t.constant(chunk), t.constant(weight)).numpy()[:m]
    if window is not None:
        grads *= window
    g = grads.reshape(ny, nx, tile, tile).transpose(0, 2, 1, 3).reshape(ph, pw)
    return g[sy : sy + h, sx : sx + w].copy()


def _validate(cfg: DeepDreamConfig) -> DeepDreamConfig:
    """Every option checked (non-finite numbers refused), as plain Python numbers."""
    from .. import validate as V

    if cfg.layer and cfg.digit is not None:
        raise NeuroartError("give a layer or a digit to amplify, not both")
    return dataclasses.replace(
        cfg,
        octaves=V.integer("octaves", cfg.octaves, low=1, high=10),
        octave_scale=V.finite("octave_scale", cfg.octave_scale, low=1, low_open=True, high=4),
        steps=V.positive_int("steps", cfg.steps, high=10_000),
        lr=V.finite("lr", cfg.lr, low=0, low_open=True),
        digit=None if cfg.digit is None else check_digits([cfg.digit])[0],
        zoom=V.integer("zoom", cfg.zoom, low=1, high=16),
        contrast=V.finite("contrast", cfg.contrast, low=0, high=100),
        jitter=V.integer("jitter", cfg.jitter, low=-1, high=1000),
        batch=V.positive_int("batch", cfg.batch, high=65_536),
        seed=V.integer("seed", cfg.seed, low=0),
        max_pixels=V.positive_int("max_pixels", cfg.max_pixels),
    )


def deepdream_sheet(picture, *, show_progress: bool = False, **options):
    """`deepdream` as a `neuroart.outputs.Sheet` to save: `picture` is an array or an image path
    (read with the size limit); options are :class:`DeepDreamConfig` fields."""
    from ..data import load_picture
    from ..models import model_stamp
    from ..outputs import Sheet

    cfg = dataclasses.replace(DEFAULTS, **options)
    _validate(cfg)
    if isinstance(picture, (str, os.PathLike)):
        picture = load_picture(picture, max_pixels=cfg.max_pixels)
    result = deepdream(picture, config=cfg, show_progress=show_progress)
    return Sheet(result, picture=True, recipe={**model_stamp(cfg.model), "seed": cfg.seed}, composite=True)
