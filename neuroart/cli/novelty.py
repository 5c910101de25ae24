"""The check for copies: `neuroart novelty FILE.npz` (the library is neuroart.copies)."""

from __future__ import annotations

import json

import click

from . import FLAGS, SCALE, argv, check_outputs, library_errors, main, save


def _copies():
    from .. import copies

    return copies


@main.command()
@click.argument("npz", type=click.Path(dir_okay=False))
@click.option("--data", default="auto", show_default=True, help="MNIST source (see `neuroart train --help`).")
@click.option("--out", "-o", type=click.Path(dir_okay=False), default=None,
              help="Also write each near copy beside its nearest training digit, captioned with the distance "
                   "and the training digit's index (PNG; without near copies, the closest digits).")
@click.option("--threshold", type=float, default=None,
              help="Pixel distance below which a digit is a near copy [default: closer than 99% of real MNIST "
                   "test digits are to their nearest training digit].")
@click.option("--json", "as_json", is_flag=True, help="Print one line of JSON (near_copy_share, threshold, ...).")
@click.option("--scale", type=SCALE, default=3, show_default=True, help="Pixels per MNIST pixel in --out.")
@library_errors
def novelty(npz, data, out, threshold, as_json, scale):
    """Are these digits new, or near copies of MNIST training digits?

    NPZ is a file with an `images` array (N, 28, 28) in [0, 1], as `--npz` writes it. Each digit
    is compared with all 60,000 training digits (pixel distance); it is a near copy when it is
    closer to its nearest one than 99% of real test digits are to theirs, so real handwriting
    scores 1%. The first run on a data source learns that threshold (about half a minute) and
    caches it.

    \b
    Example:
        neuroart generate --model flow --per-digit 200 --no-grid --npz flow.npz
        neuroart novelty flow.npz --out copies.png
        neuroart novelty flow.npz --json
    """
    from ..outputs import save as save_sheet

    copies = _copies()
    images = copies.read_digits(npz)  # cheap: a bad file fails before MNIST loads
    check_outputs(out=out)
    result = copies.near_copies(images, data=data, threshold=threshold)
    if as_json:  # one line of JSON, nothing else
        if out is not None:
            save_sheet(result.sheet(), out=out, scale=scale, argv=argv(), options=FLAGS)
        click.echo(json.dumps(result.summary()))
    elif out is not None:
        save(result.sheet(), out=out, scale=scale)
    else:
        click.echo(result.message())
