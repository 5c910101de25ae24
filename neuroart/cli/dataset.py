"""`neuroart dataset`: a synthetic labelled digit set (the library is neuroart.generate.dataset)."""

from __future__ import annotations

import click

from . import SEED, IntRange, library_errors, main


@main.command()
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("--count", "-n", type=IntRange(1), default=10_000, show_default=True,
              help="Digits in the whole set (balanced over the classes).")
@click.option("--shard-size", type=IntRange(1), default=10_000, show_default=True,
              help="Digits per npz file.")
@click.option("--digits", default=None, help="The classes, like 0,1,7 [default: all ten].")
@click.option("--model", default="cvae", show_default=True,
              help="A class-conditional generator: the bundled cvae or a .keras cvae.")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Random seed (same seed, same bytes).")
@click.option("--temperature", "-t", type=float, default=1.0, show_default=True,
              help="Spread of the latent prior: <1 neater, >1 wilder.")
@click.option("--dtype", type=click.Choice(["uint8", "float32"]), default="uint8", show_default=True,
              help="Stored images: uint8 0-255 or float32 in [0, 1].")
@click.option("--tfrecord", is_flag=True, help="Also write each file as TFRecord (for tf.data).")
@click.option("--shard", "shard", default=None, metavar="I/N",
              help="Make only part I of N of the files (run N processes or machines, I = 0..N-1).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@library_errors
def dataset(folder, count, shard_size, digits, model, seed, temperature, dtype, tfrecord, shard, quiet):
    """Write a synthetic labelled digit set from the cvae: numbered npz files and a manifest.

    Each file holds `images` and `labels`; manifest.json records the seed, the model's hash,
    the counts per class and the sha256 of every file. Rerun the same command to resume: files
    already finished (checked by sha256) are skipped. With --shard I/N, N processes split the
    files between them and together make the same bytes as one process.

    \b
    Example:
        neuroart dataset synth --count 100000              # 10 files of 10,000 digits
        neuroart dataset synth --count 100000 --shard 0/2  # on one machine...
        neuroart dataset synth --count 100000 --shard 1/2  # ...and on another
        neuroart dataset sevens --count 5000 --digits 7 --dtype float32 --tfrecord
    """
    from ..distribute import parse_shard
    from ..generate.dataset import make_dataset

    shard = None if shard is None else parse_shard(shard)
    ds = None if digits is None else [d for d in digits.replace(" ", "").split(",") if d]
    summary = make_dataset(folder, n=count, shard_size=shard_size, digits=ds, model=model, seed=seed,
                           temperature=temperature, dtype=dtype, tfrecord=tfrecord, shard=shard,
                           progress=not quiet)
    part = "" if shard in (None, (0, 1)) else f" (shard {shard[0]}/{shard[1]})"
    click.echo(f"{folder}: made {summary['made']} file(s), {summary['digits']:,} digits; "
               f"skipped {summary['skipped']} finished file(s){part}")
    if summary["complete"]:
        click.echo(f"wrote {summary['manifest']}")
    else:
        click.echo(f"{summary['total_files']} files in the set; manifest.json is written when all are finished")
