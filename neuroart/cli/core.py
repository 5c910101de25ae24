"""Core commands: train, evaluate, classify, info."""

from __future__ import annotations

import json

import click

from .._util import working
from ..classify.corrupt import DEFAULT_SAMPLE
from ..classify.read import DEFAULT_MODEL
from . import SEED, IntRange, echo_wrote, library_errors, main

DATA_HELP = "MNIST source: auto, offline, keras-cache, download, an mnist.npz or a folder of IDX files."


#: --strategy of both training commands (neuroart.distribute).
_strategy_option = click.option(
    "--strategy", type=click.Choice(["auto", "default", "mirrored", "multiworker"]), default="default",
    show_default=True, help="tf.distribute strategy: mirrored = every local GPU (or logical CPU); "
                            "multiworker = the cluster in TF_CONFIG; auto picks (docs/scale.md).")


@main.group()
def train():
    """Train a model on MNIST and save it as .keras with a model card.

    \b
    Example:
        neuroart train classifier --arch cnn --out my_cnn.keras
    """


@train.command("classifier")
@click.option("--arch", type=click.Choice(["mlp", "cnn", "reader"]), default="mlp", show_default=True,
              help="mlp: the article's model; cnn: a small convnet (the independent judge); "
                   "reader: the augmented convnet that classify uses by default (~30 min on 2 cores).")
@click.option("--recipe", type=click.Choice(["fast", "article"]), default="fast", show_default=True,
              help="fast: neuroart's quicker schedule; article: batch 32, adam 1e-3, 5 epochs, exactly.")
@click.option("--epochs", type=int, default=None, help="Override the recipe's number of epochs.")
@click.option("--batch-size", type=int, default=None, help="Override the recipe's batch size.")
@click.option("--learning-rate", type=float, default=None, help="Override the recipe's learning rate.")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Random seed (same seed, same model).")
@click.option("--data", default="auto", show_default=True, help=DATA_HELP)
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Where to save the model [default: ARCH.keras].")
@_strategy_option
@library_errors
def train_classifier_cmd(arch, recipe, epochs, batch_size, learning_rate, seed, data, out, strategy):
    """Train the article's MLP (or the CNN) and print its test accuracy.

    \b
    Example:
        neuroart train classifier                      # mlp.keras, ~98% in a few seconds
        neuroart train classifier --recipe article     # the article's exact training
        neuroart train classifier --arch cnn --epochs 8 --out cnn.keras
        neuroart train classifier --arch reader --out reader.keras
    """
    from ..classify import train_classifier
    from ..distribute import check_strategy

    check_strategy(strategy)  # bad TF_CONFIG: one line, before any work

    out = out or f"{arch}.keras"
    _, card = train_classifier(arch=arch, recipe=recipe, epochs=epochs, batch_size=batch_size,
                               learning_rate=learning_rate, seed=seed, data=data, out=out, strategy=strategy)
    click.echo(f"data: {card['data_source']}")
    click.echo(f"test accuracy: {card['test_accuracy']:.2%} after {card['epochs']} epochs "
               f"in {card['train_seconds']:.1f} s")
    if "corruption_benchmark" in card:
        click.echo(f"corruption benchmark: mean {card['corruption_benchmark']['mean']:.2%}")
    _saved(out, card)


@train.command("generator")
@click.option("--kind", type=click.Choice(["ae", "vae", "cvae", "flow", "fewstep"]), default="cvae", show_default=True,
              help="ae: autoencoder; vae: variational; cvae: class-conditional VAE (samples chosen digits); "
                   "flow: a flow-matching U-Net (the most lifelike digits; checkpoints every epoch and resumes); "
                   "fewstep: a flow distilled into 4 network passes a digit (the bundled flow; resumes too).")
@click.option("--teacher", default=None, help="--kind fewstep: the flow to distil [default: flow-teacher].")
@click.option("--paths", type=int, default=None,
              help="--kind fewstep: teacher paths (noise -> digit) to learn from [default: 10000].")
@click.option("--init", default=None,
              help="--kind fewstep: start from this few-step flow (same grid) instead of the teacher's weights.")
@click.option("--targets", type=click.Choice(["teacher", "rollout"]), default=None,
              help="--kind fewstep: each segment from the teacher's states, or from the student's own steps "
                   "toward the teacher's next state (rollout: a second round, with --init) [default: teacher].")
@click.option("--learning-rate", type=float, default=None, help="--kind fewstep: Adam's first step [default: 2e-4].")
@click.option("--ema", type=float, default=None,
              help="--kind fewstep: momentum of the saved weights' moving average [default: 0.999].")
@click.option("--levels", type=click.Choice(["blank", "ot", "none"]), default=None,
              help="--kind fewstep: how its pixels are finished: blank blanks as many as the training digits "
                   "leave blank; ot maps their whole histogram onto the training digits' [default: blank].")
@click.option("--latent-dim", type=int, default=None, help="Size of the latent code [default: the kind's].")
@click.option("--epochs", type=int, default=None, help="Epochs [default: the kind's].")
@click.option("--batch-size", type=int, default=None, help="Batch size [default: the kind's].")
@click.option("--seed", type=SEED, default=None, help="Random seed [default: the kind's].")
@click.option("--data", default="auto", show_default=True, help=DATA_HELP)
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Where to save the model [default: KIND.keras]; a card .json and sample .png go beside it.")
@_strategy_option
@library_errors
def train_generator_cmd(kind, teacher, paths, init, targets, learning_rate, ema, levels, latent_dim, epochs, batch_size, seed, data,
                        out, strategy):
    """Train a digit generator and print its test reconstruction loss (and ELBO).

    \b
    Example:
        neuroart train generator                          # cvae.keras + cvae.json + cvae.png
        neuroart train generator --kind vae --latent-dim 2 --epochs 20 --out vae2.keras
        neuroart train generator --kind flow --out flow.keras   # ~1.5 h on 2 cores; rerun to resume
        neuroart train generator --kind fewstep --out flow.keras  # distil flow-teacher: ~1 h; resumes
        neuroart train generator --kind fewstep --init flow.keras --targets rollout \\
            --epochs 4 --learning-rate 1e-4 --ema 0.995 --out flow2.keras  # a second round
    """
    from ..distribute import check_strategy
    from ..generate import train_generator

    check_strategy(strategy)  # bad TF_CONFIG: one line, before any work

    path, card = train_generator(kind, latent_dim=latent_dim, epochs=epochs, batch_size=batch_size, seed=seed,
                                 data=data, out=out, strategy=strategy, teacher=teacher, paths=paths, init=init,
                                 targets=targets, learning_rate=learning_rate, ema=ema, levels=levels)
    click.echo(f"data: {card.get('data_source')}")
    scores = [f"{k.replace('test_', '').replace('_', ' ')} {v}" for k, v in card.items()
              if k.startswith("test_") and isinstance(v, (int, float))]
    samples = card.get("test_samples")
    if isinstance(samples, dict) and "judge_agreement" in samples:  # a flow's: its digits, judged
        scores.append(f"samples (n={samples.get('n')}): judge {samples['judge_agreement']:.1%}, "
                      f"FID/floor {samples.get('fid_over_floor')}")
    click.echo(f"test {', '.join(scores) or '(not scored)'} after {card.get('epochs')} epochs in "
               f"{card.get('train_seconds')} s")
    _saved(path, card)


def _saved(path, card: dict) -> None:
    """'saved PATH' -- or, on a worker of a cluster that is not the chief, that the chief saves."""
    from ..distribute import is_chief

    if card.get("strategy", "default") != "default":
        click.echo(f"strategy: {card['strategy']}, {card['replicas']} replicas")
    if is_chief():
        echo_wrote(path, "saved")
    else:
        click.echo("not the chief worker: the chief saves the model")


@main.command()
@click.option("--model", "model_name", default=DEFAULT_MODEL, show_default=True,
              help="Bundled model name or .keras path.")
@click.option("--data", default="auto", show_default=True, help=DATA_HELP)
@click.option("--corruptions", is_flag=True,
              help="Score the robustness benchmark instead: accuracy under each of 15 corruptions.")
@click.option("--sample", type=int, default=DEFAULT_SAMPLE, show_default=True,
              help="With --corruptions: test digits to use (10000 = all).")
@click.option("--seed", type=SEED, default=0, show_default=True, help="With --corruptions: sample and corruption seed.")
@click.option("--json", "as_json", is_flag=True, help="Print the scores as JSON.")
@library_errors
def evaluate(model_name, data, corruptions, sample, seed, as_json):
    """Test accuracy of a classifier on the 10,000 MNIST test digits, digit by digit.

    With --corruptions: the robustness benchmark (low resolution, pens, blur, noise, rotation,
    shear, off-centre, paper, photo light, JPEG, canvas strokes), one row per corruption.

    \b
    Example:
        neuroart evaluate --model cnn
        neuroart evaluate --model my_mlp.keras --data ~/mnist.npz
        neuroart evaluate --model mlp --corruptions --sample 500
    """
    from ..classify import evaluate as evaluate_fn
    from ..models import load_model
    from . import checks

    checks.classifier(model_name)  # an unknown model: one line before TensorFlow loads

    if corruptions:
        from ..classify.corrupt import benchmark, format_table

        with working(f"loading {model_name} and the test digits"):  # gives way to the bar of corruptions
            result = benchmark({model_name: model_name}, n=sample, seed=seed, data=data, show_progress=True)
        click.echo(json.dumps(result, indent=2) if as_json else "\n".join(format_table(result)))
        return
    with working(f"evaluating {model_name}"):
        scores = evaluate_fn(load_model(model_name), data=data)
    if as_json:
        click.echo(json.dumps(scores, indent=2))
        return
    click.echo(f"{model_name}: test accuracy {scores['accuracy']:.2%} on {scores['n']:,} digits "
               f"(loss {scores['loss']:.4f})")
    click.echo("digit  accuracy")
    for d, acc in scores["per_digit"].items():
        click.echo(f"  {d}    {acc:.2%}")


@main.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--model", "model_name", default=DEFAULT_MODEL, show_default=True,
              help="Bundled model name or .keras path (mlp: the article's model).")
@click.option("--top", type=IntRange(1, 10), default=1, show_default=True, help="Show the K likeliest digits.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per image.")
@library_errors
def classify(images, model_name, top, as_json):
    """Read handwritten digits from image files (PNG, JPEG, BMP, GIF; any size).

    Each image is turned into an MNIST-style 28x28 digit (any ink colour on any paper, lighting
    evened out, cropped, fitted in 20x20, centred by mass) and read by the robust reader.

    \b
    Example:
        neuroart classify my_seven.png
        neuroart classify scans/*.jpg --top 3 --model cnn
    """
    from ..classify import classify_files
    from . import checks

    for path in images:
        checks.input_file(path)
    checks.classifier(model_name)
    with working(f"reading {len(images)} image{'s' if len(images) > 1 else ''}"):
        read = classify_files(images, model=model_name, top=top)
    for path, ranked in read:
        if as_json:
            click.echo(json.dumps({"image": path, "digit": ranked[0][0], "probability": ranked[0][1],
                                   "top": [{"digit": d, "probability": p} for d, p in ranked]}))
        else:
            click.echo(f"{path}: " + ", ".join(f"{d} ({p:.1%})" for d, p in ranked))


@main.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@library_errors
def info(file):
    """Version, bundled models with their cards, and the MNIST sources available; with a FILE
    (a PNG or GIF), what made it: its label (the IPTC Digital Source Type) and its recipe.

    \b
    Example:
        neuroart info
        neuroart info dream.png
    """
    if file is not None:
        return _file_info(file)
    from .. import data
    from .._version import __version__
    from ..models import bundled, load_card

    click.echo(f"neuroart {__version__}")
    click.echo("bundled models:")
    width = max([6, *map(len, bundled())])
    for name in bundled():
        card = load_card(name)
        score = card.get("test_accuracy")
        score = f"test accuracy {score:.2%}" if _number(score) else _gen_score(card)
        click.echo(f"  {name:{width}s} {card.get('kind', '?'):10s} {score}; {card.get('epochs', '?')} epochs, "
                   f"seed {card.get('seed', '?')}, {card.get('train_seconds', '?')} s, sha256 {card.get('sha256', '')[:12]}")
    click.echo("MNIST sources (offline):")
    for name, ok in data.available_sources().items():
        click.echo(f"  {name:12s} {'available' if ok else 'missing'}")


def _file_info(path) -> None:
    """A picture's honest label and recipe (docs/artists.md)."""
    from ..imaging import SOURCE_TYPE_URI, SOURCE_TYPE_WORDS
    from ..outputs import read_label, read_recipe

    label = read_label(path) or {}
    kind = label.get("source_type", "").removeprefix(SOURCE_TYPE_URI)
    click.echo(f"{path}: {SOURCE_TYPE_WORDS.get(kind, kind or 'no Digital Source Type label')}")
    for key in ("source_type", "tool"):
        if key in label:
            click.echo(f"  {key.replace('_', ' ')}: {label[key]}")
    recipe = read_recipe(path) if str(path).lower().endswith(".png") else None
    if recipe and recipe.get("command"):
        click.echo(f"  recipe: {recipe['command']}")


def _gen_score(card: dict) -> str:
    """A generator's score from its card: a flow's sample scores (the judge's agreement, the FID over
    the real-vs-real floor) when the card has them, else its test loss, else "no test score"."""
    samples = card.get("test_samples") if isinstance(card.get("test_samples"), dict) else {}
    parts = [f"judge {samples['judge_agreement']:.1%}" if _number(samples.get("judge_agreement")) else "",
             f"FID {samples['fid_over_floor']:.2f}x the floor" if _number(samples.get("fid_over_floor")) else ""]
    if any(parts):
        how = [f"n = {samples['n']:,}" if _number(samples.get("n")) else "",
               f"{samples['steps']} steps" if _number(samples.get("steps")) else ""]
        return f"samples: {', '.join(filter(None, parts))}" + (f" ({', '.join(filter(None, how))})" if any(how) else "")
    for key in ("test_elbo", "test_reconstruction_loss", "test_flow_loss"):
        if _number(card.get(key)):
            return f"{key.replace('_', ' ')} {card[key]}"
    return "no test score"


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
