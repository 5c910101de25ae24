"""The showcase behind `neuroart gallery`: its pieces, as data, and the page that shows them.

Each piece is a real `neuroart ...` command line; `neuroart gallery` (the CLI layer) runs it, so
the PNG carries that command as its recipe and `neuroart replay` can make it again, byte for
byte. `index.html` shows every picture with its caption and the command that makes it, derived
from the piece's own argv (never from text stored in a PNG).
"""

from __future__ import annotations

import html
import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from ._util import NeuroartError, atomic_path
from ._version import __version__


@dataclass(frozen=True)
class Piece:
    """One gallery picture: the command that makes it and what to say about it."""

    name: str  # file stem inside the gallery folder
    title: str
    caption: str
    args: str  # the neuroart command line, without `--out`; {out} is the gallery folder
    gif: bool = False  # the command also writes {name}.gif (given as --gif)
    svg: bool = False  # ... and {name}.svg (--svg: pen strokes), drawn as {name}-drawn.png (`draw_svg`)
    inputs: tuple[str, ...] = ()  # files in the gallery folder the command reads (for replay --with)

    def argv(self, out_dir: Path) -> list[str]:
        argv = [a.format(out=out_dir.as_posix()) for a in shlex.split(self.args)]
        argv += ["--out", (out_dir / f"{self.name}.png").as_posix()]
        if self.gif:
            argv += ["--gif", (out_dir / f"{self.name}.gif").as_posix()]
        if self.svg:
            argv += ["--svg", (out_dir / f"{self.name}.svg").as_posix()]
        return argv


# The deepdream source picture is drawn by neuroart itself (see `source_picture`), so the gallery
# needs nothing from outside the repository.
SOURCE_PICTURE = "source-landscape.png"

PIECES: tuple[Piece, ...] = (
    Piece("dream-flow", "Dreamed digits (neuroart dream)",
          "The main job at its defaults: each digit drawn by the few-step flow in 4 network passes, "
          "and steered by the gradient of the article MLP's score for it wherever the MLP does not yet "
          "read it as that digit (docs/flow.md).",
          "dream --per-digit 8 --seed 1 --scale 3"),
    Piece("dream-digits", "Dreamed on the pixels (--prior vae)",
          "Each row is one digit dreamed out of the article's MLP by gradient ascent on the pixels, "
          "pulled toward the VAE's reconstruction: what the classifier alone imagines.",
          "dream --prior vae --per-digit 8 --seed 1 --scale 3"),
    Piece("dream-fourier-magma", "Fourier dreams",
          "Pixel-free dreams: a 1/f Fourier parameterisation with jitter and rotation, in magma.",
          "dream --prior vae --param fourier --per-digit 6 --seed 2 --cmap magma --scale 3"),
    Piece("dream-3-to-8", "Turn this 3 into an 8",
          "Gradient ascent towards the class 8, starting from a real 3 of the test set.",
          "dream 8 --prior vae --start digit:3 --per-digit 6 --seed 3 --scale 3", gif=True),
    Piece("neuron-atlas", "Neuron atlas",
          "What excites hidden units of the MLP's 128-unit layer: one row of dreams per unit.",
          "dream --prior vae --objective neuron --layer dense --unit 0-15 --per-digit 6 --seed 4 --cmap viridis "
          "--scale 2"),
    Piece("deepdream-landscape", "DeepDream",
          "The 28-pixel classifier slides over a whole picture in tiles and octaves, "
          "growing digit strokes into it.",
          "deepdream {out}/" + SOURCE_PICTURE + " --digit 3 --seed 5", inputs=(SOURCE_PICTURE,)),
    Piece("cvae-grid", "Generated digits",
          "A 10x10 grid of new digits sampled from the class-conditional VAE, one class per row.",
          "generate --per-digit 10 --seed 6 --scale 3"),
    Piece("cvae-magma", "Generated digits in magma",
          "The same generator at a lower temperature: neater, less varied.",
          "generate --per-digit 10 --temperature 0.6 --seed 7 --cmap magma --scale 3"),
    Piece("morph-1-to-7", "Morph",
          "A spherical path through the VAE's latent space from a 1 to a 7.",
          "morph 1 7 --frames 12 --seed 8 --scale 3", gif=True),
    Piece("latent-map", "Latent map",
          "The VAE's latent plane decoded on a grid, as in the Keras VAE example (along the two "
          "directions in which the decoded digit changes most).",
          "latent-map"),
    Piece("latent-map-cvae-4", "Ways to write a 4",
          "The class-conditional VAE told to draw a 4, across a plane of its style space.",
          "latent-map --model cvae --digit 4 --cmap magma"),
    Piece("explain-digits", "What the network sees",
          "Integrated Gradients on the article's MLP for one real test digit of each class: the digit, "
          "its attribution (warm: ink that speaks for the reading, cool: against it) and the overlay.",
          "explain digit:0 digit:1 digit:2 digit:3 digit:4 digit:5 digit:6 digit:7 digit:8 digit:9 "
          "--model mlp --seed 12 --scale 4"),
    Piece("restyle-3", "One hand, ten digits",
          "The style of one real test 3, inferred by the class-conditional VAE's encoder and written "
          "as 0-9; the animation walks through style space from it and back.",
          "restyle digit:3 --seed 5", gif=True),
    Piece("flow-digits", "Digits that look like handwriting",
          "Ten of each digit from the few-step flow: noise carried to a digit in 4 passes of a small "
          "U-Net, distilled from a flow-matching model's 20 steps (docs/flow.md).",
          "generate --model flow --per-digit 10 --seed 11 --scale 3"),
    Piece("flow-dream-3-to-8", "A 3 turned into an 8, in its own hand",
          "Real 3s noised part-way back and carried to an 8 by the flow, steered by the article's MLP; "
          "the animation shows the digit the flow predicts at every step.",
          "dream 8 --start digit:3 --gradient flow --steer 5 --per-digit 6 --seed 14 --scale 3", gif=True),
    Piece("flow-neurons", "What hidden units like, as handwriting",
          "Ten hidden units of the MLP, each steering the unconditional flow: the digit-like shapes "
          "each unit answers to.",
          "dream --objective neuron --layer dense --unit 0-9 --per-digit 6 --steer 2 --seed 13 --cmap viridis "
          "--scale 2"),
    Piece("flow-pen", "Written with a pen",
          "The flow's digits as a pen plotter would write them: each digit's centre lines (a skeleton of "
          "its ink, traced and smoothed), one stroke width per digit from its own ink, on an A4 page in "
          "millimetres (flow-pen.svg; drawn here from the SVG, beside the pixels it came from).",
          "generate --model flow --per-digit 8 --seed 11 --scale 3", svg=True),
)


def draw_svg(out_dir: str | os.PathLike, piece: Piece) -> Path:
    """Draw a piece's SVG as a pen would (`neuroart.pen.rasterize`) into ``{name}-drawn.png``.

    Its recipe names the SVG it was drawn from and the command that makes that SVG (no argv:
    replay makes pixels, not drawings).
    """
    from .outputs import write_png
    from .pen import rasterize

    out = Path(out_dir)
    svg = out / f"{piece.name}.svg"
    command = "neuroart " + shlex.join(piece.argv(out))
    return write_png(rasterize(svg.read_bytes(), px_per_mm=4), out / f"{piece.name}-drawn.png",
                     recipe={"drawn_from": svg.name, "command": command, "version": __version__})


def source_picture(path: str | os.PathLike, *, width: int = 640, height: int = 400, seed: int = 0) -> Path:
    """Draw a soft photo-like landscape (sky, hills, sun) for the DeepDream showcase."""
    import numpy as np

    from .outputs import save_image

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    yn, xn = y / height, x / width
    sky = np.stack([0.35 + 0.4 * yn, 0.55 + 0.3 * yn, 0.95 - 0.2 * yn], -1)
    sun = np.exp(-(((xn - 0.72) ** 2) + ((yn - 0.25) ** 2) * 2) / 0.004)[..., None] * np.array([1.0, 0.85, 0.5])
    img = np.clip(sky + sun, 0, 1)
    for base, amp, col in [(0.55, 0.08, (0.25, 0.45, 0.3)), (0.7, 0.06, (0.15, 0.32, 0.2))]:
        phase = rng.uniform(0, 2 * np.pi, 3)
        ridge = base + amp * (np.sin(xn * 7 + phase[0]) + 0.5 * np.sin(xn * 17 + phase[1]) + 0.25 * np.sin(xn * 41 + phase[2]))
        mask = (yn > ridge)[..., None]
        shade = np.array(col) * (1.0 - 0.4 * (yn - ridge)[..., None].clip(0, 1))
        img = np.where(mask, shade, img)
    img = img + rng.normal(0, 0.015, img.shape)  # film grain
    return save_image(np.clip(img, 0, 1).astype(np.float32), path)


def select(only: list[str] | None = None) -> list[Piece]:
    """The pieces named in `only` (all by default); an unknown name is one clear error."""
    names = {p.name for p in PIECES}
    unknown = set(only or ()) - names
    if unknown:
        raise NeuroartError(f"unknown gallery piece {sorted(unknown)[0]!r} (choose from {', '.join(sorted(names))})")
    return [p for p in PIECES if not only or p.name in only]


def write_index(out_dir: str | os.PathLike) -> Path:
    """A static page with every picture present, its caption and the command that makes it."""
    out = Path(out_dir)
    figures = []
    for piece in PIECES:
        png = out / f"{piece.name}.png"
        if not png.is_file():
            continue
        command = "neuroart " + shlex.join(piece.argv(out))
        replay = f"neuroart replay {png.as_posix()} --out again.png"
        if piece.inputs:
            replay += "".join(f" --with {(out / name).as_posix()}" for name in piece.inputs)
        imgs = f'<img src="{html.escape(png.name)}" alt="{html.escape(piece.title)}">'
        if piece.svg and (out / f"{piece.name}-drawn.png").is_file():
            imgs = (f'<a href="{html.escape(piece.name)}.svg"><img src="{html.escape(piece.name)}-drawn.png" '
                    f'alt="{html.escape(piece.title)} (drawn from the SVG)" class="drawn"></a>\n      ' + imgs)
        if piece.gif and (out / f"{piece.name}.gif").is_file():
            imgs += f'\n      <img src="{html.escape(piece.name)}.gif" alt="{html.escape(piece.title)} (animation)">'
        figures.append(
            f"""  <figure id="{piece.name}">
    <div class="pics">
      {imgs}
    </div>
    <figcaption><h2>{html.escape(piece.title)}</h2><p>{html.escape(piece.caption)}</p>
      <pre><code>{html.escape(command)}</code></pre>
      <p class="replay">or: <code>{html.escape(replay)}</code></p></figcaption>
  </figure>"""
        )
    page = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>neuroart gallery</title>
<style>
  body {{ background: #141414; color: #e8e8e8; font: 15px/1.5 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; padding: 0 1em; }}
  a {{ color: #f0a060; }}
  figure {{ margin: 0 0 3em; }}
  .pics {{ display: flex; gap: 1em; flex-wrap: wrap; align-items: flex-start; }}
  img {{ max-width: 100%; image-rendering: pixelated; border-radius: 4px; }}
  img.drawn {{ image-rendering: auto; max-width: 480px; }}
  h2 {{ margin: .6em 0 .2em; font-size: 1.2em; }}
  pre {{ background: #222; padding: .6em .8em; overflow-x: auto; border-radius: 4px; }}
  .replay {{ color: #999; font-size: .9em; }}
</style>
</head>
<body>
<h1>neuroart gallery</h1>
<p>Made by <code>neuroart gallery</code> (neuroart {html.escape(__version__)}) from the bundled weights.
Each picture stores its recipe; the command under it makes it again, byte for byte, on the same
machine. Back to the <a href="../README.md">README</a>.</p>
{chr(10).join(figures)}
</body>
</html>
"""
    path = out / "index.html"
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return path
