"""Showcase commands: gallery and replay."""

from __future__ import annotations

import click

from . import library_errors, main


@main.command()
@click.option("--out", type=click.Path(file_okay=False), default="gallery", show_default=True,
              help="Folder for the pictures and index.html.")
@click.option("--only", multiple=True, help="Make only this piece (repeatable), e.g. --only dream-digits.")
@click.option("--list", "list_only", is_flag=True, help="List the pieces and their commands, make nothing.")
@library_errors
def gallery(out, only, list_only):
    """Render the showcase pictures and a static index.html that shows them.

    Every picture is made by a real neuroart command, printed on the page under it and stored
    in the PNG, so `neuroart replay` can make it again.

    \b
    Example:
        neuroart gallery                       # everything into ./gallery/
        neuroart gallery --only morph-1-to-7 --out /tmp/g
        neuroart gallery --list
    """
    from pathlib import Path

    from ..gallery import PIECES, render

    if list_only:
        for piece in PIECES:
            click.echo(f"{piece.name:22s} neuroart {' '.join(piece.argv(Path(out)))}")
        return
    written = render(out, only=list(only) or None)  # each command prints what it wrote
    click.echo(f"gallery: {len(written) - 1} pictures and {written[-1]}")


@main.command()
@click.argument("image", type=click.Path(dir_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Where to write the image again [default: over IMAGE itself].")
@library_errors
def replay(image, out):
    """Re-run the recipe stored in a neuroart PNG and write the same image again.

    On the same machine and neuroart version the result is byte-identical.

    \b
    Example:
        neuroart replay gallery/dream-digits.png --out again.png
        cmp gallery/dream-digits.png again.png && echo identical
    """
    from ..gallery import replay as replay_fn

    replay_fn(image, out=out)  # the replayed command prints what it wrote
