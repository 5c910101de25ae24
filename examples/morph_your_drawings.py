"""Morph between two of your own drawings (here drawn with Pillow: a 2 and a 5).

    python examples/morph_your_drawings.py --out morph.gif

Give `--a` and `--b` image files (any size, dark ink on light paper or the other way round)
to morph your own digits instead.
"""

import argparse
from pathlib import Path

from PIL import Image, ImageDraw

import neuroart as na

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("--a", help="first drawing (default: a 2 drawn here)")
ap.add_argument("--b", help="second drawing (default: a 5 drawn here)")
ap.add_argument("--out", default="morph.gif")
args = ap.parse_args()


def draw(path, strokes):
    img = Image.new("L", (200, 200), 255)
    d = ImageDraw.Draw(img)
    for line in strokes:
        d.line(line, fill=0, width=16, joint="curve")
    img.save(path)
    return path


a = args.a or draw(Path("my-two.png"), [[(50, 60), (100, 30), (150, 60), (140, 100), (50, 170), (160, 170)]])
b = args.b or draw(Path("my-five.png"), [[(150, 30), (60, 30), (55, 90), (130, 90), (150, 130), (120, 170), (50, 165)]])
print("read as:", [r[0][0] for r in na.classify_images([na.load_digit_image(a), na.load_digit_image(b)])])
frames, info = na.morph(str(a), str(b), frames=16)
na.save_gif(list(frames), args.out, duration_ms=90, scale=6, bounce=True, cmap="inferno")
na.save_grid(frames, Path(args.out).with_suffix(".png"), ncols=len(frames), scale=3, cmap="inferno")
print(f"wrote {args.out}")
