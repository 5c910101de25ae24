"""Training the generators: losses, the training loop, the fitted sampling prior, cards."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from .._util import NeuroartError, set_seed, tf
from .._util import progress as _progress
from .._version import __version__
from ..models import check_model_path
from ..validate import finite, integer, positive_int
from .config import DEFAULT_KIND, DEFAULTS, SAMPLE_DEFAULTS, check_kind, check_latent
from .model import _one_hot, build_generator, describe, k

# --------------------------------------------------------------------------- losses


def _losses(model, x, y, eps, training: bool):
    """Per-image reconstruction loss (BCE summed over pixels, nats) and KL (summed over latent)."""
    t = tf()
    if model.kind == "cvae":
        z_mean, z_log_var = model.encoder([x, y], training=training)
    elif model.kind == "vae":
        z_mean, z_log_var = model.encoder(x, training=training)
    else:
        z_mean, z_log_var = model.encoder(x, training=training), None
    if z_log_var is not None:
        z_log_var = t.clip_by_value(z_log_var, -12.0, 8.0)
        z = z_mean + t.exp(0.5 * z_log_var) * eps
        kl = -0.5 * t.reduce_sum(1.0 + z_log_var - t.square(z_mean) - t.exp(z_log_var), axis=1)
    else:
        z = z_mean
        kl = t.zeros_like(z_mean[:, 0])
    x_hat = model.decoder([z, y] if model.kind == "cvae" else z, training=training)
    p = t.clip_by_value(x_hat, 1e-6, 1.0 - 1e-6)
    bce = -(x * t.math.log(p) + (1.0 - x) * t.math.log(1.0 - p))
    rec = t.reduce_sum(t.reshape(bce, (-1, 784)), axis=1)
    return rec, kl


def evaluate_generator(model, x, labels=None, *, batch_size: int = 1000) -> dict:
    """Test scores: reconstruction loss (nats/image), KL and ELBO (VAEs), pixel MSE.

    The encoder's mean is decoded for the reconstruction loss of the AE; for the VAEs the loss is
    the one-sample Monte Carlo estimate with a fixed seed (so the card's numbers reproduce).
    """
    t = tf()
    x = np.asarray(x, np.float32)
    y = _one_hot(labels, len(x)) if labels is not None else np.zeros((len(x), 10), np.float32)
    rng = np.random.default_rng(12345)
    rec_sum = kl_sum = mse_sum = 0.0
    for i in range(0, len(x), batch_size):
        xb, yb = x[i : i + batch_size], y[i : i + batch_size]
        eps = rng.standard_normal((len(xb), model.latent_dim)).astype(np.float32)
        rec, kl = _losses(model, t.constant(xb), t.constant(yb), t.constant(eps), False)
        rec_sum += float(t.reduce_sum(rec))
        kl_sum += float(t.reduce_sum(kl))
        recon = model.reconstruct(xb, labels[i : i + batch_size] if model.conditional else None)
        mse_sum += float(((recon - xb) ** 2).mean(axis=(1, 2)).sum())
    n = len(x)
    out = {"reconstruction_loss": round(rec_sum / n, 3), "pixel_mse": round(mse_sum / n, 5)}
    if model.gaussian_prior:
        out["kl"] = round(kl_sum / n, 3)
        out["elbo"] = round(-(rec_sum + kl_sum) / n, 3)
    return out


# --------------------------------------------------------------------------- training


def fit(model, x, labels=None, *, epochs: int, batch_size: int = 128, learning_rate: float = 1e-3,
        seed: int = 0, progress: bool = True, label: str = "training", strategy=None) -> list[float]:
    """Train `model` in place on images x (N, 28, 28) in [0, 1]; returns the mean loss per epoch.

    `strategy`: a `tf.distribute` strategy other than the default (None) trains with
    `_fit_distributed` (the model must have been built in its scope).
    """
    if strategy is not None and _distributed(strategy):
        return _fit_distributed(model, x, labels, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                                seed=seed, progress=progress, label=label, strategy=strategy)
    t = tf()
    x = np.asarray(x, np.float32)
    n = len(x)
    learning_rate = finite("learning_rate", learning_rate, low=0, low_open=True, high=10)
    batch_size = int(min(positive_int("batch_size", batch_size), n)) if n else 1
    steps = n // batch_size
    if steps < 1 or positive_int("epochs", epochs) < 1:
        raise NeuroartError("need at least one epoch and one batch of training images")
    y = _one_hot(labels, n) if labels is not None else np.zeros((n, 10), np.float32)
    schedule = k.optimizers.schedules.CosineDecay(learning_rate, epochs * steps, alpha=0.05)
    opt = k.optimizers.Adam(schedule)
    variables = model.encoder.trainable_variables + model.decoder.trainable_variables
    opt.build(variables)
    noise = t.random.Generator.from_seed(int(seed))
    latent = model.latent_dim

    @t.function(jit_compile=False, reduce_retracing=True)
    def step(xb, yb):
        eps = noise.normal((batch_size, latent))
        with t.GradientTape() as tape:
            rec, kl = _losses(model, xb, yb, eps, True)
            loss = t.reduce_mean(rec + kl)
        grads = tape.gradient(loss, variables)
        opt.apply_gradients(zip(grads, variables, strict=True))
        return loss

    return _epochs(lambda idx: step(t.constant(x[idx]), t.constant(y[idx])), n=n, batch_size=batch_size,
                   epochs=epochs, seed=seed, progress=progress, label=label)


def _epochs(run_batch, *, n: int, batch_size: int, epochs: int, seed: int, progress: bool, label: str) -> list[float]:
    """The training loop both `fit`s share: a seeded shuffle per epoch, `run_batch(indices) -> loss`
    on each full batch, a progress bar; returns the mean loss per epoch."""
    rng = np.random.default_rng(seed)
    steps = n // batch_size
    history = []
    with _progress(length=epochs * steps, label=label, show=progress) as bar:
        for _ in range(epochs):
            order = rng.permutation(n)
            total = 0.0
            for s in range(steps):
                total += float(run_batch(order[s * batch_size : (s + 1) * batch_size]))
                bar.update(1)
            history.append(total / steps)
    return history


def _distributed(strategy) -> bool:
    from ..distribute import strategy_name

    return strategy_name(strategy) != "default"


def _fit_distributed(model, x, labels=None, *, epochs: int, batch_size: int, learning_rate: float, seed: int,
                     progress: bool, label: str, strategy) -> list[float]:
    """`fit` on a tf.distribute strategy: each global batch is split between the replicas.

    The same schedule, batches and loss as `fit`; each replica takes its slice of the global
    batch (and of its noise), sums its images' losses over the global batch size, and the
    optimizer all-reduces the gradients. The noise comes from NumPy (seeded), not from a
    `tf.random.Generator`, so every worker of a cluster draws the same numbers.
    """
    t = tf()
    x = np.asarray(x, np.float32)
    n = len(x)
    replicas = int(strategy.num_replicas_in_sync)
    batch_size = int(min(batch_size, n))
    batch_size -= batch_size % replicas  # an equal slice for every replica
    steps = n // batch_size if batch_size else 0
    if steps < 1 or epochs < 1:
        raise NeuroartError(f"need at least one epoch and one batch of at least {replicas} training images")
    per = batch_size // replicas
    y = _one_hot(labels, n) if labels is not None else np.zeros((n, 10), np.float32)
    variables = model.encoder.trainable_variables + model.decoder.trainable_variables
    with strategy.scope():
        opt = k.optimizers.Adam(k.optimizers.schedules.CosineDecay(learning_rate, epochs * steps, alpha=0.05))
        opt.build(variables)

    def replica_step(xb, yb, eps):
        with t.GradientTape() as tape:
            rec, kl = _losses(model, xb, yb, eps, True)
            loss = t.reduce_sum(rec + kl) / batch_size
        grads = tape.gradient(loss, variables)
        opt.apply_gradients(zip(grads, variables, strict=True))
        return loss

    @t.function(jit_compile=False)
    def step(xb, yb, eps):
        losses = strategy.run(replica_step, args=(xb, yb, eps))
        return strategy.reduce(t.distribute.ReduceOp.SUM, losses, axis=None)

    def split(a):
        return strategy.experimental_distribute_values_from_function(
            lambda ctx: t.constant(a[ctx.replica_id_in_sync_group * per : (ctx.replica_id_in_sync_group + 1) * per]))

    noise = np.random.default_rng([seed, 1])

    def run_batch(idx):
        eps = noise.standard_normal((batch_size, model.latent_dim)).astype(np.float32)
        return step(split(x[idx]), split(y[idx]), split(eps))

    return _epochs(run_batch, n=n, batch_size=batch_size, epochs=epochs, seed=seed, progress=progress, label=label)


def _load_data(data):
    """(x_train, y_train), (x_test, y_test) as float32 [0, 1] images and int labels, + source."""
    from ..data import mnist_with_source, to_float

    (xtr, ytr), (xte, yte), source = mnist_with_source(data)
    return (to_float(xtr), ytr), (to_float(xte), yte), source


def fit_prior(model, x, labels=None, *, batch_size: int = 5000) -> None:
    """Fit the sampling prior to the training codes (in place): a full-covariance Gaussian per
    class when `labels` are given (the cvae needs them), else one Gaussian.

    For the VAEs each Gaussian is the moment-matched aggregate posterior of its digits,
    cov(mu(x)) + mean(sigma^2(x)): sampling where the encoder actually puts the digits, rather
    than N(0, I), whose gaps between the digit clusters decode to ambiguous scrawls ("ex-post
    density estimation", Ghosh et al. 2020). For the unconditional vae/ae the per-class
    Gaussians form a mixture weighted by class frequency; sampling picks a component at random,
    so they stay unconditional generators.
    """
    x = np.asarray(x, np.float32)
    if model.conditional and labels is None:
        raise NeuroartError("fitting the cvae's prior needs the training labels")
    y = _one_hot(labels, len(x)) if model.conditional else None
    means, var = [], []
    for i in range(0, len(x), batch_size):
        args = [x[i : i + batch_size], y[i : i + batch_size]] if model.conditional else x[i : i + batch_size]
        out = model.encoder(args, training=False)
        if model.kind == "ae":
            means.append(np.asarray(out, np.float64))
            var.append(np.zeros_like(means[-1]))
        else:
            means.append(np.asarray(out[0], np.float64))
            var.append(np.exp(np.clip(np.asarray(out[1], np.float64), -12, 8)))
    mu, v = np.concatenate(means), np.concatenate(var)
    if labels is not None:
        lab = np.asarray(labels).reshape(-1)
        groups = [lab == c for c in range(10)]
    else:
        groups = [np.ones(len(x), bool)]
    n = model.latent_dim
    all_m, all_l, weights = [], [], []
    for g in groups:
        if g.sum() < 2:
            raise NeuroartError("fitting the prior needs at least two training digits of every class")
        m = mu[g].mean(axis=0)
        cov = np.atleast_2d(np.cov(mu[g], rowvar=False)) + np.diag(v[g].mean(axis=0)) + 1e-6 * np.eye(n)
        all_m.append(m)
        all_l.append(np.linalg.cholesky(cov))
        weights.append(g.mean())
    model._set_prior(np.stack(all_m), np.stack(all_l), np.asarray(weights))


#: How samples are drawn and rendered unless told otherwise (generate, the card's sample grid).

def sample_grid(model, *, per_digit: int = 10, seed: int = 0, **options):
    """A 10 x per_digit grid of samples (rows = digits 0-9 for the cvae), and its row labels."""
    opts = {**SAMPLE_DEFAULTS, **options}
    n = 10 * per_digit
    if model.conditional:
        labels = np.repeat(np.arange(10), per_digit)
        z = model.prior(labels=labels, temperature=opts["temperature"], truncation=opts["truncation"], seed=seed)
        return model.decode(z, labels, sharpness=opts["sharpness"]), [str(d) for d in range(10)]
    z = model.prior(n, temperature=opts["temperature"], truncation=opts["truncation"], seed=seed)
    return model.decode(z, sharpness=opts["sharpness"]), None


def _card(model, kind: str, *, out: Path, latent_dim: int, source: str, n_train: int, n_eval: int, scores: dict,
          history: list) -> dict:
    """The model card's description of a trained generator: what it is, its data and its scores."""
    return {
        "name": out.stem,
        "kind": kind,
        "task": "generate MNIST digits" + (" of a requested class" if kind == "cvae" else ""),
        "latent_dim": latent_dim,
        "prior": ("training loss: N(0, I); sampling: " if kind != "ae" else "sampling: ")
        + ("a full-covariance Gaussian per class fitted to the training codes" if kind == "cvae"
           else "a mixture of full-covariance Gaussians, one per class, fitted to the training codes"),
        "sampling": SAMPLE_DEFAULTS,
        "architecture": describe(model),
        "loss": ("binary cross-entropy summed over 784 pixels"
                 + (" + KL(q(z|x) || N(0, I)) summed over latent dims" if kind != "ae" else "")),
        "data_source": source,
        "train_images": int(n_train),
        "eval_images": int(n_eval),  # the MNIST test digits the test_* scores are measured on
        **{f"test_{key}": value for key, value in scores.items()},
        "train_loss_per_epoch": [round(v, 3) for v in history],
    }


def train_generator(
    kind: str = DEFAULT_KIND,
    *,
    latent_dim: int | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    seed: int | None = None,
    data: str | os.PathLike = "auto",
    out: str | os.PathLike | None = None,
    progress: bool = True,
    limit: int | None = None,
    strategy: str = "default",
) -> tuple[Path, dict]:
    """Train a generator on MNIST and write ``out`` (.keras), its card (.json) and a sample grid (.png).

    `kind` is ``ae``, ``vae`` or ``cvae``; None for any option means the kind's default from
    `DEFAULTS`. `data` is an MNIST source for `neuroart.data.load_mnist`. `out` defaults to
    ``<kind>.keras`` in the current folder. `limit` trains on the first `limit` training digits
    only (for quick tests). Returns the model path and its card (test reconstruction loss, and
    KL/ELBO for the VAEs, in nats per image). `strategy` is a `neuroart.distribute` strategy:
    the model is built in its scope, `batch_size` is the global batch (split across the
    replicas), only the chief writes, and the card records strategy and replicas.
    """
    from ..models import save_model
    from ..outputs import save_grid

    check_kind(kind)
    cfg = DEFAULTS[kind]
    latent_dim = check_latent(cfg.latent_dim if latent_dim is None else latent_dim)
    epochs = positive_int("epochs", cfg.epochs if epochs is None else epochs, high=10_000)
    batch_size = positive_int("batch_size", cfg.batch_size if batch_size is None else batch_size, high=1_000_000)
    seed = integer("seed", cfg.seed if seed is None else seed, low=0)
    if limit is not None:
        limit = positive_int("limit", limit)
    out = check_model_path(Path(out) if out is not None else Path(f"{kind}.keras"))

    (xtr, ytr), (xte, yte), source = _load_data(data)
    if limit is not None:
        xtr, ytr = xtr[: int(limit)], ytr[: int(limit)]
    import contextlib

    from ..distribute import describe_strategy, is_chief, resolve_strategy

    dist = resolve_strategy(strategy)
    set_seed(seed)
    with dist.scope() if _distributed(dist) else contextlib.nullcontext():
        model = build_generator(kind, latent_dim, filters=cfg.filters, hidden=cfg.hidden)
    start = time.perf_counter()
    history = fit(model, xtr, ytr if kind == "cvae" else None, epochs=epochs, batch_size=batch_size,
                  learning_rate=cfg.learning_rate, seed=seed, progress=progress, label=f"training {kind}",
                  strategy=dist if _distributed(dist) else None)
    seconds = time.perf_counter() - start
    fit_prior(model, xtr, ytr)
    scores = evaluate_generator(model, xte, yte if kind == "cvae" else None)
    card = {
        **_card(model, kind, out=out, latent_dim=latent_dim, source=source, n_train=len(xtr), n_eval=len(xte),
                scores=scores, history=history),
        "epochs": epochs,
        "batch_size": batch_size,
        "learning_rate": cfg.learning_rate,
        "seed": seed,
        "train_seconds": round(seconds, 1),
        **describe_strategy(dist),
        "version": __version__,
        "trained_with": (f"neuroart train generator --kind {kind} --latent-dim {latent_dim} "
                         f"--epochs {epochs} --seed {seed}"),
    }
    if not is_chief():  # under multiworker, one process writes
        return out, card
    save_model(model, out, card)
    grid, rows = sample_grid(model, seed=seed)
    save_grid(grid, out.with_suffix(".png"), ncols=10, row_labels=rows, scale=2,
              recipe={"model": out.name, "kind": kind, "seed": seed, **SAMPLE_DEFAULTS,
                      "version": __version__})
    card = json.loads(out.with_suffix(".json").read_text())
    return out, card


