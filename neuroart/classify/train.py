"""Training and evaluating classifiers on MNIST (the article's `model.fit`, and neuroart's faster recipe).

``mlp`` is exactly the article's model: Flatten -> Dense(128, relu) -> Dropout(0.2) ->
Dense(10, softmax), trained with adam on sparse categorical cross-entropy. (The article's prose
speaks of mean squared error and gradient descent; its code, which we follow, does not.)
``cnn`` is a small convnet (>= 99.2 % test accuracy) that judges dreamed digits independently.
``reader`` is the default reader of people's digits: a convnet trained on augmented MNIST
(`neuroart.classify.augment`: affine, elastic, pen width, low resolution, blur, lighting, noise),
scored on the MNIST test set and on the corruption benchmark (`neuroart.classify.corrupt`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._util import NeuroartError, keras, progress, set_seed, tf
from ..data import load_mnist, mnist_with_source, to_float
from ..validate import finite, integer, positive_int
from .model import ARCHS, BUILDERS, describe
from .read import predict


@dataclass(frozen=True)
class Recipe:
    """How to train one architecture: optimiser settings and epochs."""

    epochs: int
    batch_size: int
    learning_rate: float
    decay: bool = False  # cosine decay of the learning rate to zero over the run
    # training steps per compiled call: same maths, less Python overhead per step (but the
    # progress bar moves once per call, so slow models keep it small)
    steps_per_execution: int = 1
    # train on augmented batches (fresh every epoch); this fraction of each batch stays clean
    augment: bool = False
    clean_fraction: float = 0.0
    polish_epochs: int = 0  # the last epochs keep this larger share of each batch clean
    polish_clean_fraction: float = 0.75


RECIPES = {
    # The article: model.fit(x_train, y_train, epochs=5) with Keras defaults (batch 32, adam 1e-3).
    ("mlp", "article"): Recipe(epochs=5, batch_size=32, learning_rate=1e-3),
    # neuroart's default: larger batches and a decayed higher rate reach the article's accuracy
    # (and more) in a fraction of the time; see bench/bench_train.py.
    ("mlp", "fast"): Recipe(epochs=6, batch_size=128, learning_rate=3e-3, decay=True, steps_per_execution=500),
    ("cnn", "article"): Recipe(epochs=5, batch_size=32, learning_rate=1e-3),
    ("cnn", "fast"): Recipe(epochs=6, batch_size=128, learning_rate=3e-3, decay=True, steps_per_execution=8),
    # the reader: augmented MNIST, long enough for the augmentation to pay (see docs/reading.md)
    ("reader", "fast"): Recipe(epochs=16, batch_size=128, learning_rate=3e-3, decay=True, steps_per_execution=8,
                               augment=True, clean_fraction=0.5, polish_epochs=3, polish_clean_fraction=0.85),
}

class _ProgressBar:
    """A Keras callback driving one click progress bar over all training batches."""

    def __new__(cls, total: int, label: str, show: bool):
        k = keras()

        class Bar(k.callbacks.Callback):
            def on_train_begin(self, logs=None):
                self._ctx = progress(length=total, label=label, show=show)
                self._bar = self._ctx.__enter__()

            def on_epoch_begin(self, epoch, logs=None):
                self._seen = 0

            def on_train_batch_end(self, batch, logs=None):
                # with steps_per_execution, Keras reports once per group of steps
                self._bar.update(batch + 1 - self._seen)
                self._seen = batch + 1

            def on_train_end(self, logs=None):
                self._ctx.__exit__(None, None, None)

        return Bar()


def train_classifier(
    *,
    arch: str = "mlp",
    recipe: str = "fast",
    epochs: int | None = None,
    batch_size: int | None = None,
    learning_rate: float | None = None,
    seed: int = 0,
    data: str = "auto",
    out: str | Path | None = None,
    show_progress: bool = True,
    limit: int | None = None,
    strategy: str = "default",
    benchmark_sample: int | None = None,
):
    """Train a classifier on MNIST and (when `out` is given) save it with its model card.

    Returns ``(model, card)``. `recipe` is ``fast`` (neuroart's default) or ``article`` (the
    article's exact batch 32, adam 1e-3, 5 epochs); `epochs`, `batch_size` and `learning_rate`
    override the recipe. `limit` trains on the first `limit` images only (for quick tests).
    `strategy` is a `neuroart.distribute` strategy (``default``, ``mirrored``, ``multiworker``,
    ``auto``): the model and optimizer are built in its scope, `batch_size` is the global batch
    (split across the replicas), only the chief saves, and the card records strategy and replicas.
    Augmented recipes (the reader's) also score the corruption benchmark on `benchmark_sample`
    test digits (default: the benchmark's own sample) and record it in the card.
    """
    r, opts = _check_options(arch, recipe, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                             seed=seed, limit=limit, out=out)
    epochs, batch_size, lr, seed, limit, out = (opts[k] for k in ("epochs", "batch_size", "lr", "seed", "limit", "out"))
    (x_train, y_train), (x_test, y_test), source = mnist_with_source(data)
    if limit:
        x_train, y_train = x_train[:limit], y_train[:limit]
    x_train, x_test = to_float(x_train), to_float(x_test)

    from ..distribute import resolve_strategy

    dist = resolve_strategy(strategy)
    set_seed(seed)
    steps = int(np.ceil(len(x_train) / batch_size))
    model, schedule = _compiled_model(arch, r, dist, lr=lr, decay_steps=epochs * steps)
    start = time.perf_counter()
    _fit(model, dist, r, x_train, y_train, arch=arch, epochs=epochs, batch_size=batch_size, steps=steps, seed=seed,
         show_progress=show_progress)
    seconds = time.perf_counter() - start
    scores = evaluate(model, x_test, y_test)
    card = {
        "name": arch,
        "kind": "classifier",
        "architecture": describe(model),
        "parameters": int(model.count_params()),
        "data_source": source,
        "train_images": int(len(x_train)),
        "recipe": recipe,
        "epochs": epochs,
        "batch_size": batch_size,
        "learning_rate": lr,
        "lr_schedule": "cosine decay" if schedule is not lr else "constant",
        "optimizer": "adam",
        "loss": "sparse_categorical_crossentropy",
        "seed": seed,
        "train_seconds": round(seconds, 1),
        **_strategy_card(dist),
        "test_accuracy": scores["accuracy"],
        "test_loss": scores["loss"],
        "per_digit_accuracy": scores["per_digit"],
        "tensorflow": tf().__version__,
        "keras": keras().__version__,
    }
    if r.augment:
        card.update(_augmentation_card(model, r, x_test, y_test, seed=seed, benchmark_sample=benchmark_sample))
    if out is not None and _is_chief():  # under multiworker, one process saves
        from ..models import save_model

        save_model(model, out, card)
    return model, card


def _check_options(arch, recipe, *, epochs, batch_size, learning_rate, seed, limit, out) -> tuple[Recipe, dict]:
    """The recipe of (arch, recipe) and every option checked (None: the recipe's value)."""
    if arch not in ARCHS:
        raise NeuroartError(f"unknown architecture {arch!r} (choose from {', '.join(ARCHS)})")
    if (arch, recipe) not in RECIPES:
        known = ", ".join(r for a, r in RECIPES if a == arch)
        raise NeuroartError(f"unknown recipe {recipe!r} for {arch} (choose from {known})")
    r = RECIPES[(arch, recipe)]
    opts = {
        "epochs": positive_int("epochs", r.epochs if epochs is None else epochs, high=10_000),
        "batch_size": positive_int("batch_size", r.batch_size if batch_size is None else batch_size, high=1_000_000),
        "lr": finite("learning_rate", r.learning_rate if learning_rate is None else learning_rate, low=0,
                     low_open=True, high=10),
        "seed": integer("seed", seed, low=0),
        "limit": None if limit is None else positive_int("limit", limit),
        "out": None,
    }
    if out is not None:
        from ..models import check_model_path

        opts["out"] = check_model_path(out)
    return r, opts


def _compiled_model(arch: str, r: Recipe, dist, *, lr: float, decay_steps: int):
    """The architecture built and compiled (in the strategy's scope when it is not the default):
    returns ``(model, schedule)``, the schedule being `lr` itself when the rate is constant."""
    import contextlib

    from ..distribute import strategy_name

    k = keras()
    # under a tf.distribute strategy the model and its optimizer live on every replica, and
    # fit splits each global batch between them; the default strategy runs exactly as before
    with dist.scope() if strategy_name(dist) != "default" else contextlib.nullcontext():
        model = BUILDERS[arch]()
        schedule = k.optimizers.schedules.CosineDecay(lr, decay_steps=decay_steps) if r.decay else lr
        model.compile(
            optimizer=k.optimizers.Adam(schedule),
            loss="sparse_categorical_crossentropy",
            steps_per_execution=r.steps_per_execution,
        )
    return model, schedule


def _fit(model, dist, r: Recipe, x_train, y_train, *, arch, epochs, batch_size, steps, seed, show_progress):
    """Train on plain arrays, or on an augmented tf.data stream for augmented recipes."""
    import functools

    from ..distribute import strategy_name

    if r.augment:
        from .augment import augmented_dataset

        if strategy_name(dist) == "multiworker":
            raise NeuroartError(f"{arch} trains on an augmented tf.data pipeline: use --strategy default or mirrored")
        train_data = {"x": augmented_dataset(x_train, y_train, batch_size=batch_size, epochs=epochs, seed=seed,
                                             clean_fraction=r.clean_fraction, polish_epochs=r.polish_epochs,
                                             polish_clean_fraction=r.polish_clean_fraction),
                      "steps_per_epoch": steps, "shuffle": False}
    else:
        train_data = {"x": x_train, "y": y_train, "batch_size": batch_size, "shuffle": True}
    fit = model.fit
    if strategy_name(dist) == "multiworker":  # Keras 3's fit cannot drive it (keras-team/keras#20585)
        from ..distribute import fit_arrays

        fit = functools.partial(fit_arrays, model, dist, seed=seed)
    fit(**train_data, epochs=epochs, verbose=0,
        callbacks=[_ProgressBar(epochs * steps, f"training {arch}", show_progress)])


def _augmentation_card(model, r: Recipe, x_test, y_test, *, seed, benchmark_sample) -> dict:
    """What an augmented recipe adds to the card: its augmentation, and the corruption benchmark."""
    from .augment import DEFAULT
    from .corrupt import evaluate_corruptions

    bench = evaluate_corruptions(model, x_test, y_test, seed=seed,
                                 **({"n": benchmark_sample} if benchmark_sample else {}))
    return {"augmentation": {**DEFAULT.as_card(), "clean_fraction": r.clean_fraction,
                             "polish_epochs": r.polish_epochs, "polish_clean_fraction": r.polish_clean_fraction},
            "corruption_benchmark": {"images": bench["n"], "seed": seed, "mean": bench["mean"],
                                     "accuracy": bench["accuracy"]}}


def _strategy_card(dist) -> dict:
    from ..distribute import describe_strategy

    return describe_strategy(dist)


def _is_chief() -> bool:
    from ..distribute import is_chief

    return is_chief()


def evaluate(model, x_test: np.ndarray | None = None, y_test: np.ndarray | None = None, *, data: str = "auto") -> dict:
    """Test accuracy, loss and per-digit accuracy (on the MNIST test set unless given).

    `model` is a Keras classifier, a bundled name or a ``.keras`` path (its contract is checked).
    """
    from ..models import load_classifier

    model = load_classifier(model)  # before any data is read: a broken model fails first
    source = "the given test images"
    if x_test is None:
        _, (x_test, y_test) = load_mnist(data)
        source = f"{data}"
    x_test = np.asarray(x_test)
    x = to_float(x_test) if x_test.dtype == np.uint8 else np.asarray(x_test, np.float32)
    y = np.asarray(y_test).reshape(-1)
    if len(x) == 0:
        raise NeuroartError(f"{source}: no test images to evaluate")
    if len(y) != len(x):
        raise NeuroartError(f"{source}: {len(x)} test images but {len(y)} labels")
    probs = predict(model, x)
    pred = probs.argmax(1)
    eps = 1e-7
    loss = float(-np.mean(np.log(np.clip(probs[np.arange(len(y)), y], eps, 1.0))))
    per_digit = {str(d): round(float((pred[y == d] == d).mean()), 4) for d in range(10) if (y == d).any()}
    return {"accuracy": round(float((pred == y).mean()), 4), "loss": round(loss, 4), "per_digit": per_digit, "n": int(len(y))}
