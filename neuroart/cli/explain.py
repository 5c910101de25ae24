"""Seeing and restyling: `neuroart explain` (attribution maps) and `neuroart restyle` (handwriting style).

The libraries are `neuroart.explain` and `neuroart.generate.style`; TensorFlow loads inside
the commands only.
"""

from __future__ import annotations

import click

from .._util import NeuroartError, working
from . import (
    SCALE,
    SEED,
    FloatRange,
    IntRange,
    check_outputs,
    checks,
    cmap_option,
    default_of,
    library_errors,
    main,
    save,
)
from .pen import check_svg, svg_options


def _explain_lib():
    from .. import explain as lib  # no TensorFlow at import (it loads on the first model)

    return lib


def _restyle_lib():
    from ..generate import style  # the module of `restyle`, `similar`, ...: no TensorFlow at import

    return style


_EX = _explain_lib()
_RS = _restyle_lib()


def _digit(value, option: str):
    if value is None:
        return None
    try:
        d = int(value)
    except ValueError:
        raise NeuroartError(f"{option} must be a digit 0-9, got {value!r}") from None
    if not 0 <= d <= 9:
        raise NeuroartError(f"{option} must be a digit 0-9, got {d}")
    return d


@main.command()
@click.argument("images", nargs=-1, required=True)
@click.option("--model", default=default_of(_EX.explain, "model"), show_default=True,
              help="Classifier to explain: bundled name (mlp, cnn, ...) or a .keras file.")
@click.option("--method", type=click.Choice(_EX.METHODS), default=_EX.DEFAULT_METHOD, show_default=True,
              help="gradient (saliency), smoothgrad (noise-averaged gradient), integrated (Integrated "
                   "Gradients from the black image) or occlusion (blacked-out patches).")
@click.option("--target", default=None,
              help="The digit to explain [default: what the model reads in each image].")
@click.option("--versus", default=None,
              help="Contrast with this digit: why TARGET and not VERSUS (logit difference).")
@click.option("--steps", type=IntRange(1, 1024), default=default_of(_EX.explain, "steps"), show_default=True,
              help="Integrated Gradients: points on the path from the black image.")
@click.option("--samples", type=IntRange(1, 1024), default=default_of(_EX.explain, "samples"),
              show_default=True, help="SmoothGrad: noisy copies averaged.")
@click.option("--noise", type=FloatRange(0, 1), default=default_of(_EX.explain, "noise"), show_default=True,
              help="SmoothGrad: noise std (pixels are in [0, 1]).")
@click.option("--window", type=IntRange(1, 28), default=default_of(_EX.explain, "window"), show_default=True,
              help="Occlusion: patch size in pixels.")
@click.option("--seed", type=SEED, default=default_of(_EX.explain, "seed"), show_default=True,
              help="SmoothGrad's noise and which test digits digit:D picks (same seed, same bytes).")
@click.option("--out", "-o", type=click.Path(dir_okay=False), default="explain.png", show_default=True,
              help="The sheet: per image the digit, its map (warm = for, cool = against) and the overlay.")
@click.option("--npz", type=click.Path(dir_okay=False), default=None,
              help="Also save `images` (N, 28, 28) as the model saw them, `maps` (N, 28, 28), "
                   "`targets` and `probs` as .npz.")
@click.option("--scale", type=SCALE, default=4, show_default=True, help="Pixels per MNIST pixel.")
@click.option("--shard", default=None, metavar="I/N",
              help="Explain only part I of N of the images (I = 0..N-1, whole batches of the job): N processes "
                   "together make the same bytes as one run with --shard 0/1 (docs/scale.md).")
@library_errors
def explain(images, model, method, target, versus, steps, samples, noise, window, seed, out, npz, scale, shard):
    """Show which pixels made a classifier read each digit as it did.

    IMAGES are image files of single digits (any size; made MNIST-style) or digit:D for a real
    MNIST test digit of class D. Each gets a row: the digit as the model saw it, its attribution
    map in a diverging palette (warm: ink that speaks for the target, cool: against it), and the
    map over the digit. See docs/explain.md.

    \b
    Example:
        neuroart explain my_seven.png                        # -> explain.png
        neuroart explain digit:3 digit:5 digit:8 --method occlusion --model cnn
        neuroart explain my_seven.png --target 7 --versus 1  # why a 7 and not a 1
        neuroart explain my_digits/*.png --npz maps.npz
        neuroart explain my_digits/*.png --npz maps0.npz --shard 0/2   # the first half, in batches
    """
    target, versus = _digit(target, "--target"), _digit(versus, "--versus")
    for image in images:
        checks.digit_or_file(image)
    checks.classifier(model)
    if shard is not None:
        from ..distribute import parse_shard

        shard = parse_shard(shard)
    check_outputs(out=out, npz=npz)
    with working(f"explaining ({method})"):
        x = _EX.load_images(images, seed=seed)
        result = _EX.explain(x, model=model, method=method, target=target, versus=versus, steps=steps,
                             samples=samples, noise=noise, window=window, stride=max(1, window // 2), seed=seed,
                             show_progress=len(x) >= 200, shard=shard)
    if not len(result.images):
        raise NeuroartError(f"--shard {shard[0]}/{shard[1]} is empty: this job has fewer batches of images than {shard[1]}")
    save(result.sheet(), out=out, npz=npz, scale=scale)


@main.command()
@click.argument("image", required=False)
@click.argument("digits", nargs=-1)
@click.option("--model", default=default_of(_RS.restyle, "model"), show_default=True,
              help="Class-conditional generator: bundled cvae or a .keras file from `neuroart train generator`.")
@click.option("--label", default=None,
              help="The digit IMAGE shows [default: read by the default reader].")
@click.option("--from", "from_", default=None, metavar="A",
              help="Mix two hands: the first image (with --to): rows go from A's style to B's.")
@click.option("--to", "to", default=None, metavar="B", help="The second image of --from.")
@click.option("--rows", type=IntRange(2, 20), default=default_of(_RS.mix_styles, "rows"), show_default=True,
              help="--from/--to: rows of the mix, A's style to B's.")
@click.option("--gif", type=click.Path(dir_okay=False), default=None,
              help="Also write an animation: a walk through style space from IMAGE's style and back "
                   "(with --from/--to: A's style turning into B's).")
@click.option("--frames", type=IntRange(2, 500), default=24, show_default=True, help="GIF frames.")
@click.option("--spread", type=FloatRange(0.01, 5), default=default_of(_RS.restyle, "spread"),
              show_default=True, help="Radius of the style walk, in the prior's standard deviations.")
@click.option("--sharpness", type=FloatRange(0.1, 20), default=default_of(_RS.restyle, "sharpness"),
              show_default=True, help="Ink contrast: multiplies the pixel logits (1 = the decoder's soft output).")
@click.option("--seed", type=SEED, default=0, show_default=True,
              help="Which test digit digit:D picks, and the walk's plane (same seed, same bytes).")
@click.option("--out", "-o", type=click.Path(dir_okay=False), default="restyle.png", show_default=True,
              help="The sheet: your digit, then the restyled digits (PNG).")
@click.option("--npz", type=click.Path(dir_okay=False), default=None,
              help="Also save `images` (N, 28, 28), `labels` (N,) and `source` (28, 28) as .npz.")
@svg_options
@cmap_option
@click.option("--scale", type=SCALE, default=3, show_default=True, help="Pixels per MNIST pixel.")
@library_errors
def restyle(image, digits, model, label, from_, to, rows, gif, frames, spread, sharpness, seed, out, npz,
            svg, page, margin, cmap, scale):
    """Write other digits in the handwriting of IMAGE: "your 3, written as 0-9".

    IMAGE is an image file of one digit (or digit:D, a real MNIST test digit); DIGITS are the
    digits to write (all ten by default). The class-conditional VAE encodes IMAGE's style with
    its label (--label, or the reader's reading) and draws that style as each digit.
    With --from A --to B instead of IMAGE: rows of digits mixing two hands.

    \b
    Example:
        neuroart restyle my_three.png                      # -> restyle.png, 0-9 in your hand
        neuroart restyle my_three.png 4 5 6 --label 3 --gif walk.gif
        neuroart restyle --from alice.png --to bob.png --rows 5 --gif mix.gif
        neuroart restyle digit:2 --npz restyled.npz
        neuroart restyle my_three.png --svg my_hand.svg    # your hand, as pen strokes
    """
    mixing = from_ is not None or to is not None
    if mixing:
        if from_ is None or to is None:
            raise NeuroartError("--from and --to go together: give both images")
        if image is not None:  # `restyle --from A --to B 4 5`: the first DIGIT lands in IMAGE
            digits = (image, *digits)
    elif image is None:
        raise NeuroartError("give an IMAGE to restyle (or --from A --to B)")
    ds = _RS._digits(list(digits) or None)
    label = _digit(label, "--label")
    for source in (from_, to) if mixing else (image,):
        checks.digit_or_file(source)
    checks.generator_kind(model)
    layout = check_svg(svg, page, margin)
    check_outputs(out=out, gif=gif, npz=npz, svg=svg)
    with working("restyling"):
        if mixing:
            result = _RS.mix_styles(from_, to, ds, rows=rows, label_a=label, model=model, seed=seed,
                                    sharpness=sharpness, frames=frames if gif else 0)
        else:
            result = _RS.restyle(image, ds, label=label, model=model, seed=seed, sharpness=sharpness,
                                 frames=frames if gif else 0, spread=spread)
    save(result.sheet(), out=out, gif=gif, npz=npz, svg=svg, svg_layout=layout, scale=scale, cmap=cmap)
