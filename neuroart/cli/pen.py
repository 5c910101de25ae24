"""The pen-plotter options every digit command shares: --svg FILE, --page, --margin (neuroart.pen)."""

from __future__ import annotations

import click

from .. import pen

PAGE_HELP = "--svg: the page, A3, A4, A5, letter or WxH in mm (like 297x210 for A4 landscape)."


def svg_options(fn):
    """--svg, --page and --margin (their defaults are `neuroart.pen`'s)."""
    fn = click.option("--margin", type=float, default=pen.MARGIN_MM, show_default=True,
                      help="--svg: the empty border on every side of the page, in mm.")(fn)
    fn = click.option("--page", default=pen.PAGE, show_default=True, help=PAGE_HELP)(fn)
    return click.option("--svg", type=click.Path(dir_okay=False), default=None,
                        help="Also write the digits as pen strokes for a plotter (SVG in mm, one group per "
                             "digit, laid out like the PNG grid; needs `pip install 'neuroart[plotter]'`).")(fn)


def check_svg(svg, page, margin, grid: tuple[int, int] | None = None) -> dict | None:
    """The --svg layout (`outputs.save`'s ``svg_layout``), checked before any work: scikit-image is
    there, the page and margin make sense and (when the grid's rows and columns are known) hold it."""
    if svg is None:
        return None
    pen.require_skimage("--svg")
    rows, cols = grid if grid is not None and min(grid) >= 1 else (1, 1)  # a bad count is the library's to tell
    pen.layout(rows, cols, page=page, margin=margin)
    return {"page": page, "margin": margin}
