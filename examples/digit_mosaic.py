"""Rebuild a picture out of generated digits: each tile is the CVAE digit whose ink matches it.

    python examples/digit_mosaic.py [PICTURE] --tiles 48 --out mosaic.png

Without a picture, a soft gradient with a bright disc stands in.
"""

import argparse

import numpy as np

import neuroart as na

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("picture", nargs="?")
ap.add_argument("--tiles", type=int, default=48, help="tiles across")
ap.add_argument("--out", default="mosaic.png")
args = ap.parse_args()

if args.picture:
    photo = na.load_picture(args.picture, gray=True)
else:
    y, x = np.mgrid[0:300, 0:400] / 300.0
    photo = np.clip(0.15 + 0.5 * x / 1.33 + 0.6 * np.exp(-((x - 0.8) ** 2 + (y - 0.45) ** 2) / 0.05), 0, 1)

# a palette of generated digits, from sparse to heavy ink
images, labels = na.generate_digits(per_digit=60, seed=0)
ink = images.mean(axis=(1, 2))
order = np.argsort(ink)
palette, palette_ink = images[order], ink[order]

cols = args.tiles
rows = max(1, round(cols * photo.shape[0] / photo.shape[1]))
h, w = photo.shape[0] // rows, photo.shape[1] // cols
target = photo[: rows * h, : cols * w].reshape(rows, h, cols, w).mean(axis=(1, 3))
# map tile brightness onto the palette's range of ink, pick the closest digit
want = palette_ink[0] + target * (palette_ink[-1] - palette_ink[0])
pick = np.abs(palette_ink[None, None, :] - want[..., None]).argmin(-1)
mosaic = palette[pick].transpose(0, 2, 1, 3).reshape(rows * 28, cols * 28)
na.save_image(mosaic, args.out, cmap="magma")
print(f"wrote {args.out} ({rows}x{cols} digits)")
