"""Generator commands: generate, reconstruct, morph, latent-map (the library is neuroart.generate)."""

from __future__ import annotations

import os

import click

from .._util import NeuroartError, check_digits, working
from ..generate import sample as lib
from ..generate.config import (
    FLOW_SAMPLE_DEFAULTS,
    GUIDANCE_WINDOW,
    check_frames,
    check_guidance,
    check_map_size,
    check_steps,
    check_temperature,
)
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

MODEL_HELP = ("Generator: bundled cvae (class-conditional), vae, or flow (flow matching: the most lifelike), "
              "or a .keras file from `neuroart train generator`.")


def _sharpness_option(default):
    def deco(fn):
        return click.option("--sharpness", type=FloatRange(0.1, 20), default=default, show_default=True,
                            help="Ink contrast: multiplies the pixel logits (1 = the decoder's soft output).")(fn)

    return deco


def _scale_option(fn):
    return click.option("--scale", type=SCALE, default=3, show_default=True,
                        help="Pixels per MNIST pixel in the image.")(fn)


@main.command()
@click.argument("digits", nargs=-1)
@click.option("--per-digit", "-n", type=int, default=default_of(lib.generate, "per_digit"), show_default=True,
              help="How many new digits of each class.")
@click.option("--temperature", "-t", type=float, default=default_of(lib.generate, "temperature"), show_default=True,
              help="Spread of the latent prior: <1 neater and more typical, >1 wilder.")
@click.option("--seed", type=SEED, default=default_of(lib.generate, "seed"), show_default=True,
              help="Random seed (same seed, same bytes).")
@click.option("--model", default=default_of(lib.generate, "model"), show_default=True, help=MODEL_HELP)
@click.option("--out", "-o", type=click.Path(dir_okay=False), default="generated.png", show_default=True,
              help="The labelled grid (PNG).")
@click.option("--npz", type=click.Path(dir_okay=False), default=None,
              help="Also save `images` float32 (N, 28, 28) in [0, 1] and `labels` (N,) as .npz.")
@click.option("--grid/--no-grid", default=True, show_default=True,
              help="Draw the PNG grid (--no-grid with --npz for large batches).")
@click.option("--truncation", type=float, default=default_of(lib.generate, "truncation"), show_default=True,
              help="Redraw the rarest latent codes, beyond this quantile of the prior (1 = none).")
@_sharpness_option(default_of(lib.generate, "sharpness"))
@click.option("--standard-prior", is_flag=True,
              help="Sample N(0, I) instead of the Gaussians fitted to the training codes.")
@click.option("--steps", type=int, default=None,
              help="A flow trained by flow matching (--model flow-teacher): Euler steps from noise to digit, "
                   "bunched toward the noise [default: {}]. The bundled few-step flow takes its own 4.".format(
                       FLOW_SAMPLE_DEFAULTS["steps"]))
@click.option("--guidance", type=float, default=None,
              help="--model flow-teacher: classifier-free guidance, between t = {:g} and {:g} of the path "
                   "[default: {:g}; 0 = none; 1-2 = more typical digits]. The few-step flow has it built in.".format(
                       *GUIDANCE_WINDOW, FLOW_SAMPLE_DEFAULTS["guidance"]))
@click.option("--shard", default=None, metavar="I/N",
              help="Make only part I of N of the grid's rows (I = 0..N-1): N processes together make the "
                   "same bytes as one run with --shard 0/1 (docs/scale.md).")
@svg_options
@cmap_option
@_scale_option
@library_errors
def generate(digits, per_digit, temperature, seed, model, out, npz, grid, truncation, sharpness,
             standard_prior, steps, guidance, shard, svg, page, margin, cmap, scale):
    """Draw new handwritten digits: a grid with one row per requested digit (all ten by default).

    DIGITS are 0-9; repeat a digit for more rows of it. The default model is the bundled
    class-conditional VAE; `--model vae` samples the unconditional VAE (no DIGITS).

    \b
    Example:
        neuroart generate                              # 10 of each digit -> generated.png
        neuroart generate 3 7 --per-digit 16 --seed 2 --out sevens.png
        neuroart generate 0 --temperature 0.6 --npz zeros.npz --cmap magma
        neuroart generate --model flow --out lifelike.png   # handwriting in 4 network passes
        neuroart generate --model flow-teacher --steps 25    # the flow it was distilled from
        neuroart generate --model flow --svg page.svg     # pen strokes for a plotter (A4)
        neuroart generate --per-digit 1000 --no-grid --npz ten_thousand.npz
        neuroart generate --per-digit 1000 --no-grid --npz part0.npz --shard 0/2   # rows 0-4 of 10
    """
    if not grid and not npz:
        raise NeuroartError("--no-grid needs --npz: nothing would be written")
    shard = _shard(shard, len(digits) or 10)
    check_digits(digits)
    if steps is not None:
        check_steps(steps)  # before TensorFlow loads
    if guidance is not None:
        check_guidance(guidance)
    kind = checks.generator_kind(model)
    if kind == "flow":
        checks.few_step(model, steps=steps, guidance=guidance)
    if kind in ("ae", "vae") and digits:
        raise NeuroartError(f"the {kind} is unconditional: it cannot draw chosen digits (use the cvae)")
    if kind != "flow":
        check_temperature(temperature)  # the flow has none
    layout = check_svg(svg, page, margin, grid=(len(digits) or 10, per_digit))
    check_outputs(out=out if grid else None, npz=npz, svg=svg)
    with working("generating"):  # gives way to the flow's bar
        sheet = lib.generate_sheet(list(digits) or None, grid=grid, per_digit=per_digit, temperature=temperature,
                                   seed=seed, model=model, truncation=truncation, sharpness=sharpness,
                                   standard_prior=standard_prior, shard=shard, steps=steps, guidance=guidance,
                                   show_progress=True)
    save(sheet, out=out if grid else None, npz=npz, svg=svg, svg_layout=layout, scale=scale, cmap=cmap)


def _shard(text, rows: int):
    """--shard I/N checked, and refused when that part of the job's rows is empty."""
    from ..distribute import parse_shard, shard_range

    if text is None:
        return None
    i, n = parse_shard(text)
    if not len(shard_range(rows, i, n)):
        raise NeuroartError(f"--shard {i}/{n} is empty: this job has only {rows} rows (use N <= {rows})")
    return (i, n)


@main.command()
@click.argument("images", nargs=-1, type=click.Path(dir_okay=False))
@click.option("--n", "n", type=int, default=default_of(lib.reconstruct, "n"), show_default=True,
              help="How many random MNIST test digits (when no IMAGES are given).")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Which test digits (seeded).")
@click.option("--model", default=default_of(lib.reconstruct, "model"), show_default=True, help=MODEL_HELP)
@click.option("--data", default="auto", show_default=True, help="MNIST source (see `neuroart train --help`).")
@click.option("--out", "-o", type=click.Path(dir_okay=False), default="reconstruct.png", show_default=True,
              help="The grid: originals above their reconstructions.")
@_sharpness_option(default_of(lib.reconstruct, "sharpness"))
@cmap_option
@_scale_option
@library_errors
def reconstruct(images, n, seed, model, data, out, sharpness, cmap, scale):
    """Encode and decode digits: originals above their reconstructions.

    Without IMAGES, N random MNIST test digits; IMAGES are image files of single digits (any
    size; made MNIST-style, and named by the cnn classifier for the cvae's label).

    \b
    Example:
        neuroart reconstruct --n 10
        neuroart reconstruct my_three.png my_eight.jpg --model vae --out mine.png
    """
    import numpy as np

    from ..data import load_digit_image

    for path in images:
        checks.input_file(path)
    checks.generator_kind(model)
    check_outputs(out=out)
    arrays = np.stack([load_digit_image(p) for p in images]) if images else None
    with working("reconstructing"):
        sheet = lib.reconstruct_sheet(arrays, n=n, seed=seed, model=model, data=data, sharpness=sharpness)
    save(sheet, out=out, scale=scale, cmap=cmap)


@main.command()
@click.argument("a")
@click.argument("b")
@click.option("--frames", "-f", type=int, default=default_of(lib.morph, "frames"), show_default=True,
              help="Images on the path, both ends included (at least 2).")
@click.option("--seed", type=SEED, default=default_of(lib.morph, "seed"), show_default=True,
              help="Which MNIST test digits stand for digits A and B.")
@click.option("--model", default=default_of(lib.morph, "model"), show_default=True, help=MODEL_HELP)
@click.option("--path", "path_kind", type=click.Choice(["auto", "slerp", "linear"]), default="auto",
              show_default=True, help="Latent path: auto = spherical for Gaussian priors.")
@click.option("--data", default="auto", show_default=True, help="MNIST source (see `neuroart train --help`).")
@click.option("--out", "-o", type=click.Path(dir_okay=False), default="morph.png", show_default=True,
              help="The strip of frames (PNG).")
@click.option("--gif", type=click.Path(dir_okay=False), default=None,
              help="Also write a looping GIF (forward then back).")
@click.option("--duration", type=IntRange(10, 5000), default=80, show_default=True,
              help="GIF milliseconds per frame.")
@_sharpness_option(default_of(lib.morph, "sharpness"))
@svg_options
@cmap_option
@_scale_option
@library_errors
def morph(a, b, frames, seed, model, path_kind, data, out, gif, duration, sharpness, svg, page, margin, cmap, scale):
    """Morph digit A into digit B along a smooth latent path.

    A and B are digits 0-9 or image files of single digits. A digit stands for one real MNIST
    test digit of that class, picked by --seed. The first frame is the generator's redrawing of
    A's picture and the last of B's; the frames between walk from one latent code to the other
    (with the cvae the label travels too, from A's class to B's). So the ends look like those
    two test digits, odd ones included (`morph 3 8` at --seed 0 ends on an 8 with a small,
    thin top loop): for other ends try another --seed, or give your own images.

    \b
    Example:
        neuroart morph 3 8 --frames 12 --gif morph.gif
        neuroart morph my_two.png 5 --model vae --cmap magma
        neuroart morph 1 7 --svg morph.svg --page 297x210   # the strip as pen strokes
    """
    check_frames(frames)
    for end in (a, b):
        _check_endpoint(end)
    checks.generator_kind(model)
    layout = check_svg(svg, page, margin, grid=(1, frames))
    check_outputs(out=out, gif=gif, svg=svg)
    with working("morphing"):
        sheet = lib.morph_sheet(a, b, frames=frames, seed=seed, model=model, data=data, path=path_kind,
                                sharpness=sharpness)
    sheet.gif_duration_ms = duration
    save(sheet, out=out, gif=gif, svg=svg, svg_layout=layout, scale=scale, cmap=cmap)


def _check_endpoint(text: str) -> None:
    """A morph end: a digit 0-9 or an image file (the library's messages, before TensorFlow)."""
    if text.strip().isdigit() and not os.path.lexists(text):
        if int(text) > 9:
            raise NeuroartError(f"not a digit: {text} (give 0-9 or an image file)")
        return
    if not os.path.lexists(text):
        raise NeuroartError(f"{text}: neither a digit 0-9 nor an image file")
    checks.digit_image(text)


def _plane(value: str):
    if value in ("decoder", "pca"):
        return value
    parts = value.replace(" ", "").split(",")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise NeuroartError(f"--plane must be decoder, pca or two latent axes like 0,1; got {value!r}")
    return tuple(int(p) for p in parts)


@main.command("latent-map")
@click.option("--model", default=default_of(lib.latent_map, "model"), show_default=True, help=MODEL_HELP)
@click.option("--digit", type=int, default=None, help="The digit to draw across the plane (needed for the cvae).")
@click.option("--size", "-n", "n", type=int, default=default_of(lib.latent_map, "n"), show_default=True,
              help="Grid size: N x N digits.")
@click.option("--plane", default=default_of(lib.latent_map, "plane"), show_default=True,
              help="Which latent plane: decoder (the two directions that change the digit most), "
                   "pca (top principal directions of the encoded test digits) or axes like 0,1.")
@click.option("--span", type=float, default=default_of(lib.latent_map, "span"), show_default=True,
              help="Prior quantile reached at the edges of the map.")
@click.option("--seed", type=SEED, default=None,
              help="Slice through a seeded prior draw instead of the prior mean [default: the mean].")
@click.option("--data", default="auto", show_default=True, help="MNIST source (for --plane pca).")
@click.option("--out", "-o", type=click.Path(dir_okay=False), default="latent-map.png", show_default=True,
              help="The map (PNG).")
@_sharpness_option(default_of(lib.latent_map, "sharpness"))
@cmap_option
@_scale_option
@library_errors
def latent_map(model, digit, n, plane, span, seed, data, out, sharpness, cmap, scale):
    """The decoded latent plane as a grid: how the generator organises handwriting.

    A map is one plane through the latent space, so it shows a few digits flowing into each
    other, not all ten (the bundled vae's default plane: 0, 8, 1 and 9; --plane pca, other axes
    or --seed cut other planes). The cvae's map shows one digit's styles (slant, thickness,
    width) for --digit.

    \b
    Example:
        neuroart latent-map --out map.png
        neuroart latent-map --model cvae --digit 4 --size 12 --cmap viridis
        neuroart latent-map --plane pca --seed 3
    """
    plane = _plane(plane)
    check_map_size(n)
    kind = checks.generator_kind(model)
    if digit is not None:
        check_digits([digit])
    if kind == "cvae" and digit is None:
        raise NeuroartError("the cvae draws one digit per map: choose a digit 0-9 with --digit")
    if kind in ("ae", "vae") and digit is not None:
        raise NeuroartError(f"the {kind} is unconditional: --digit needs the cvae")
    dims = checks.latent_dim(model)
    if isinstance(plane, tuple) and dims and (max(plane) >= dims or plane[0] == plane[1]):
        raise NeuroartError(f"--plane axes must be two different numbers from 0 to {dims - 1}, "
                            f"got {plane[0]},{plane[1]}")
    check_outputs(out=out)
    with working("mapping the latent plane"):
        sheet = lib.latent_map_sheet(model=model, digit=digit, n=n, span=span, plane=plane, data=data,
                                     seed=seed, sharpness=sharpness)
    save(sheet, out=out, scale=scale, cmap=cmap)
