"""Dream commands: `neuroart dream` (digits out of a classifier) and `neuroart deepdream` (pictures)."""

from __future__ import annotations

from pathlib import Path

import click

from .._util import NeuroartError, check_digits, working
from . import SCALE, SEED, check_outputs, cmap_option, library_errors, main, save
from .pen import check_svg, svg_options


def _defaults():
    # dataclass defaults only (no TensorFlow import): the library module imports TF lazily
    from ..dream.dreams import DEFAULTS

    return DEFAULTS


def _dd_defaults():
    from ..dream.picture import DEFAULTS

    return DEFAULTS


D = _defaults()
DD = _dd_defaults()


def parse_units(specs) -> tuple[int, ...]:
    """'5', '3,8', '0-31' (repeatable) -> a tuple of ints; anything else is one clear error."""
    out = []
    for spec in specs:
        for part in str(spec).split(","):
            part = part.strip()
            a, sep, b = part.partition("-")
            try:
                if sep and a:
                    lo, hi = int(a), int(b)
                    if hi < lo or hi - lo > 10_000:
                        raise ValueError
                    out.extend(range(lo, hi + 1))
                else:
                    out.append(int(part))
            except ValueError:
                raise NeuroartError(f"bad --unit {spec!r}: give a unit number, a list 3,8 or a range 0-31") from None
    return tuple(out)


def _check_dream(digits, *, objective, layer, units, param, start, model, prior, flow="flow", per_digit=1,
                 steps=None, strength=D.strength, hand=D.hand, shard=None) -> None:
    """What a dream can be refused for before TensorFlow loads (the library checks it all again)."""
    from ..dream.dreams import STARTS
    from ..dream.objectives import OBJECTIVES
    from . import checks

    if objective not in OBJECTIVES:
        return  # the library's message
    if objective in ("class", "prob"):
        check_digits(digits)
    elif digits:
        raise NeuroartError(f"digits are targets of --objective class; --objective {objective} dreams of --layer/--unit")
    if param != "latent" and start not in STARTS:
        checks.digit_or_file(start)
    checks.prior(prior)  # a typo, a classifier, a missing file
    checks.flow_dream(prior=prior, steps=steps, strength=strength, hand=hand, flow=flow)
    rows = (len(digits) or 10) if objective in ("class", "prob") else (len(units) if objective != "layer" else 1)
    if rows and shard is not None:
        from ..distribute import shard_range

        rows = len(shard_range(rows, *shard))
    checks.grid(rows * per_digit, what="dreams", advice="; lower --per-digit, or dream the rows in parts with --shard I/N")
    if prior == "flow":
        kind = (checks.card(flow) or {}).get("kind")
        if kind not in (None, "flow"):
            from ..models import resolve

            raise NeuroartError(f"{resolve(flow)}: not a neuroart flow (a {kind}); --flow takes a flow model")
    if objective in ("class", "prob"):
        checks.classifier(model)
    else:
        checks.check_layer(model, layer, units if objective != "layer" else ())


@main.command()
@click.argument("digits", nargs=-1)
@click.option("--per-digit", "-n", type=int, default=D.per_digit, show_default=True,
              help="Samples of each digit (columns of the grid).")
@click.option("--steps", type=int, default=D.steps,
              help="--prior none/vae: gradient-ascent steps [default: 200]. Through the flow: its own 4 steps "
                   "(a flow trained by flow matching, e.g. --flow flow-teacher: any number, default 25).")
@click.option("--objective", default=D.objective, show_default=True,
              help="class: the digit's score; prob: its softmax probability; neuron/channel: "
                   "a hidden unit (--layer, --unit); layer: a whole layer's energy (DeepDream).")
@click.option("--layer", default=None, help="Layer for neuron/channel/layer objectives [default: first hidden layer].")
@click.option("--unit", "units", multiple=True,
              help="Unit(s) of --layer to dream of, one row each: 5, 3,8 or 0-31; repeatable [default: 0-9].")
@click.option("--param", default=D.param, show_default=True,
              help="Image parameterisation: pixel, fourier (1/f spectrum) or latent (a bundled generator's code).")
@click.option("--start", default=D.start, show_default=True,
              help="noise, blank, mean (the mean digit, warped per sample), digit (random real test "
                   "digits), digit:D (real Ds), or the path of your own digit image.")
@click.option("--model", default=D.model, show_default=True, help="Classifier to dream on: bundled name or .keras path.")
@click.option("--seed", type=SEED, default=D.seed, show_default=True, help="Random seed (same seed, same bytes).")
@click.option("--lr", type=float, default=D.lr, show_default=True, help="Step size.")
@click.option("--l1", type=float, default=D.l1, show_default=True, help="Ink penalty weight (mean |pixel|).")
@click.option("--tv", type=float, default=D.tv, show_default=True, help="Total-variation penalty weight.")
@click.option("--diversity", type=float, default=D.diversity,
              help="Weight pushing samples of one digit apart [default: 0.3 with a prior, 0.1 without].")
@click.option("--temperature", type=float, default=D.temperature, show_default=True,
              help="Softmax temperature of the class score (higher: pushes on after the model is sure).")
@click.option("--prior", default=D.prior, show_default=True,
              help="flow: the few-step flow model draws handwriting and the objective steers it (docs/flow.md). "
                   "Or a pixel dream (gradient ascent on the pixels): none (pixels alone), or with a Plug & Play "
                   "denoiser: auto (the bundled vae, else ae), vae, ae, or a .keras autoencoder.")
@click.option("--prior-weight", type=float, default=D.denoise, show_default=True,
              help="Weight of --prior (pulls each step towards the autoencoder's reconstruction).")
@click.option("--steer", type=float, default=D.steer, show_default=True,
              help="--prior flow: strength of the classifier's steering (0 = the flow alone; a class dream "
                   "from noise steers only where the MLP does not yet read the digit).")
@click.option("--strength", type=float, default=D.strength, show_default=True,
              help="--prior flow with --start: how far the start is noised back (1 = all the way, "
                   "0.3 = keep most of it).")
@click.option("--hand", type=float, default=D.hand, show_default=True,
              help="--prior flow with --start: how strongly the dream keeps the start's slant and stroke "
                   "width, relative to --steer (0 = not at all).")
@click.option("--gradient", type=click.Choice(["ink", "clean", "flow"]), default=None,
              help="--prior flow: how the score steers each pass. ink: moves the predicted digit's ink up the "
                   "score (blank paper stays blank); clean: the predicted digit itself (draws new ink); flow: "
                   "the gradient taken back through the flow (~3x the time; keeps a --start's hand best) "
                   "[default: ink for a class, clean for --objective neuron, channel or layer].")
@click.option("--flow", default=D.flow, show_default=True,
              help="--prior flow: the flow model (bundled name or a .keras file from `train generator --kind flow`).")
@click.option("--out", "-o", type=click.Path(dir_okay=False), default="dream.png", show_default=True,
              help="The labelled grid PNG to write.")
@click.option("--gif", type=click.Path(dir_okay=False), default=None, help="Also write the ascent as an animated GIF.")
@click.option("--npz", type=click.Path(dir_okay=False), default=None,
              help="Also write the raw result: images float32 (N,28,28) and labels int (N,), grid order.")
@click.option("--scale", type=SCALE, default=3, show_default=True, help="Pixel size of the grid cells.")
@click.option("--shard", default=None, metavar="I/N",
              help="Dream only part I of N of the grid's rows (I = 0..N-1), one row per batch: N processes "
                   "together make the same bytes as one run with --shard 0/1 (docs/scale.md).")
@svg_options
@cmap_option
@library_errors
def dream(digits, per_digit, steps, objective, layer, units, param, start, model, seed, lr, l1, tv,
          diversity, temperature, prior, prior_weight, steer, strength, hand, gradient, flow, out, gif, npz, scale,
          shard, svg, page, margin, cmap):
    """Dream digits out of a classifier: what does it think a 7 looks like?

    Default: all ten digits, drawn by the bundled few-step flow in 4 network passes, and at each
    pass where the article MLP does not yet read a dream as its digit, steered by the gradient of
    the MLP's score (a generator as the prior, Nguyen et al. 2016), so a dream looks like
    handwriting. --prior none dreams on the pixels themselves
    (gradient ascent, every digit x sample at once): what the MLP alone imagines, as fog.
    The result is a labelled grid, one row per digit.

    \b
    Example:
        neuroart dream                                # all ten digits -> dream.png
        neuroart dream 3 7 --per-digit 12 --seed 4 --out sevens.png
        neuroart dream 8 --start digit:3 --gif three-to-eight.gif   # turn real 3s into 8s
        neuroart dream --svg dreams.svg               # ... as pen strokes for a plotter
        neuroart dream --objective neuron --layer dense --unit 17   # a hidden unit, as handwriting
        neuroart dream 9 --start my_digit.png         # a 9 in your slant and stroke
        neuroart dream --prior none                   # the pixel dream: the MLP alone
        neuroart dream --prior vae --param fourier --cmap magma --npz dreams.npz
        neuroart dream --npz part1.npz --shard 1/2    # rows 5-9 (digits 5-9) of the ten
    """
    from ..distribute import parse_shard
    from ..dream import dream as dream_fn

    shard = None if shard is None else parse_shard(shard)
    units = parse_units(units)
    _check_dream(digits, objective=objective, layer=layer, units=units, param=param, start=start, model=model,
                 prior=prior, flow=flow, per_digit=per_digit, steps=steps, strength=strength, hand=hand, shard=shard)
    layout = check_svg(svg, page, margin, grid=(1, per_digit))  # columns now, rows when saved
    check_outputs(out=out, gif=gif, npz=npz, svg=svg)
    with working("loading the models"):  # gives way to the dream's bar
        result = dream_fn(list(digits), per_digit=per_digit, steps=steps, objective=objective, layer=layer,
                          units=units, param=param, start=start, model=model, seed=seed, lr=lr, l1=l1, tv=tv,
                          diversity=diversity, temperature=temperature, prior=prior, denoise=prior_weight,
                          steer=steer, strength=strength, hand=hand, gradient=gradient, flow=flow,
                          frames=40 if gif else 0, show_progress=True, shard=shard)
    if not len(result.images):
        raise NeuroartError(f"--shard {shard[0]}/{shard[1]} is empty: this job has fewer rows than {shard[1]}")
    save(result.sheet(), out=out, gif=gif, npz=npz, svg=svg, svg_layout=layout, scale=scale, cmap=cmap)


@main.command()
@click.argument("image", type=click.Path(dir_okay=False))
@click.option("--out", "-o", type=click.Path(dir_okay=False), default=None,
              help="PNG to write [default: IMAGE-dream.png in the current folder].")
@click.option("--octaves", type=int, default=DD.octaves, show_default=True, help="Number of image scales.")
@click.option("--octave-scale", type=float, default=DD.octave_scale, show_default=True, help="Size ratio between octaves.")
@click.option("--steps", type=int, default=DD.steps, show_default=True, help="Ascent steps per octave.")
@click.option("--layer", default=None,
              help="Layer whose energy is amplified [default: the last conv layer, or an MLP's hidden layer].")
@click.option("--digit", type=int, default=None, help="Amplify this digit (0-9) instead of a layer.")
@click.option("--zoom", type=int, default=DD.zoom, show_default=True,
              help="Each 28-pixel tile of the classifier covers 28*ZOOM picture pixels.")
@click.option("--lr", type=float, default=DD.lr, show_default=True, help="Step size.")
@click.option("--model", default=DD.model, show_default=True, help="Classifier: bundled name or .keras path.")
@click.option("--seed", type=SEED, default=DD.seed, show_default=True, help="Seed of the random tile shifts.")
@library_errors
def deepdream(image, out, octaves, octave_scale, steps, layer, digit, zoom, lr, model, seed):
    """DeepDream a whole picture with the 28-pixel classifier: digit strokes grow into it.

    The classifier slides over the picture in randomly shifted tiles, over several octaves,
    amplifying a layer's activations (or one digit's score). Memory stays bounded: tiles go
    through the model in fixed-size batches.

    \b
    Example:
        neuroart deepdream photo.jpg --out dreamed.png
        neuroart deepdream photo.jpg --digit 8 --octaves 5 --steps 20 --out eights.png
    """
    from ..dream.picture import deepdream_sheet
    from . import checks

    checks.input_file(image, what="picture")
    if digit is not None:
        check_digits([digit])
    checks.check_layer(model, layer, first_hidden=False)
    out = out or f"{Path(image).stem}-dream.png"
    check_outputs(out=out)
    sheet = deepdream_sheet(image, octaves=octaves, octave_scale=octave_scale, steps=steps, layer=layer,
                            digit=digit, zoom=zoom, lr=lr, model=model, seed=seed, show_progress=True)
    save(sheet, out=out, scale=1)
