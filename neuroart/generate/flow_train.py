"""Training the flow model: the flow-matching loss, EMA weights, checkpoints it resumes from.

One training step: digits x (in [-1, 1]), noise e, a time t (half uniform, half logit-normal,
which spends more steps on the middle of the path where the velocity is hardest to guess),
``x_t = (1 - t)·e + t·x``, and the squared error of the predicted velocity against ``x - e``;
10% of the labels are replaced by `NULL`. The saved model is the exponential moving average of
the weights, without optimizer state (a few MB).

A run writes a checkpoint (weights, EMA weights, optimizer state, epoch) after every epoch;
started again with the same options it resumes from the last finished epoch, and its randomness
is keyed by (seed, step), so a resumed run makes the same model as an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np

from .._util import NeuroartError, tf
from .._util import progress as _progress
from .._version import __version__
from ..validate import integer, positive_int
from .checkpoint import load_checkpoint, save_checkpoint
from .flow import GUIDANCE_WINDOW, NULL, SAMPLE_DEFAULTS, FlowConfig, build_flow, k, sample, to_flow

#: Warm-up steps of the learning rate (then cosine decay to 10% by the last step).
WARMUP = 500


def _schedule(cfg: FlowConfig, total_steps: int):
    warmup = min(WARMUP, max(total_steps // 10, 1))
    return k.optimizers.schedules.CosineDecay(
        0.0, max(total_steps - warmup, 1), alpha=0.1, warmup_target=cfg.learning_rate, warmup_steps=warmup)


def _train_step(model, ema, opt, cfg: FlowConfig, batch_size: int):
    """A compiled ``(x, labels, step) -> loss`` that also updates the EMA weights."""
    T = tf()
    variables = model.trainable_variables
    averages = ema.trainable_variables
    seed = int(cfg.seed)

    @T.function(autograph=False, reduce_retracing=True)
    def step(x, y, i):
        s = T.stack([T.constant(seed, "int64"), T.cast(i, "int64")])
        e = T.random.stateless_normal((batch_size, 28, 28), seed=s)
        u = T.random.stateless_uniform((batch_size, 1), seed=s + 1)
        logit_normal = T.sigmoid(T.random.stateless_normal((batch_size, 1), seed=s + 2))
        t = T.where(T.random.stateless_uniform((batch_size, 1), seed=s + 3) < 0.5, u, logit_normal)
        drop = T.random.stateless_uniform((batch_size, 1), seed=s + 4) < cfg.label_dropout
        y = T.where(drop, T.fill(T.shape(y), NULL), y)
        tt = t[:, :, None]
        x_t = (1.0 - tt) * e + tt * x
        with T.GradientTape() as tape:
            v = model([x_t, t, y], training=True)
            loss = T.reduce_mean(T.square(v - (x - e)))
        grads = tape.gradient(loss, variables)
        opt.apply_gradients(zip(grads, variables, strict=True))
        decay = T.minimum(cfg.ema, (1.0 + T.cast(i, "float32")) / (10.0 + T.cast(i, "float32")))
        for a, w in zip(averages, variables, strict=True):
            a.assign(decay * a + (1.0 - decay) * w)
        return loss

    return step


# --------------------------------------------------------------------------- checkpoints


def _recipe(cfg: FlowConfig, n: int) -> dict:
    return {**dataclasses.asdict(cfg), "channels": list(cfg.channels), "blocks": list(cfg.blocks), "train_images": n}


def data_record(x, labels, source: str | None = None) -> dict:
    """What a checkpoint records of its training data: where it came from and a hash of the
    digits and labels themselves (so the same digits from another copy still resume)."""
    h = hashlib.sha256()
    for a in (np.ascontiguousarray(x, np.float32), np.ascontiguousarray(labels, np.int64)):
        h.update(str(a.shape).encode())
        h.update(memoryview(a).cast("B"))
    return {"source": source or "arrays", "sha256": h.hexdigest()[:16]}


def _state(model, ema, opt) -> list:
    """The variables a checkpoint holds, in order: weights, their averages, the optimizer's."""
    return [*model.weights, *ema.weights, *opt.variables]


def _save_checkpoint(path: Path, model, ema, opt, epoch: int, history: list, recipe: dict, seconds: float,
                     data: dict) -> None:
    save_checkpoint(path, [np.asarray(v) for v in _state(model, ema, opt)],
                    {"epoch": epoch, "history": history, "recipe": recipe, "data": data, "seconds": seconds})


def _load_checkpoint(path: Path, model, ema, opt, recipe: dict, data: dict) -> tuple[int, list, float]:
    """Restore a checkpoint into the models and optimizer; (epochs done, loss history, seconds).

    One clear line for a checkpoint of another recipe or other data, or one that is not a whole
    checkpoint of this model (`neuroart.generate.checkpoint.load_checkpoint`)."""
    state = _state(model, ema, opt)
    weights, meta = load_checkpoint(path, {"recipe": recipe}, shapes=[tuple(v.shape) for v in state])
    made_on = meta.get("data") if isinstance(meta.get("data"), dict) else {}
    if made_on.get("sha256") != data["sha256"]:  # the same digits from another copy may resume
        raise NeuroartError(f"checkpoint {path}: made on other data ({made_on.get('source')}, digits {made_on.get('sha256')}; "
                            f"this run: {data['source']}, digits {data['sha256']}); delete it, or train on its data")
    try:
        done, history, seconds = int(meta["epoch"]), [float(h) for h in meta["history"]], float(meta["seconds"])
    except (KeyError, TypeError, ValueError):
        raise NeuroartError(f"checkpoint {path}: its record is broken (epoch, history, seconds); "
                            "delete it to train from the start") from None
    for v, w in zip(state, weights, strict=True):
        v.assign(w)
    return done, history, seconds


# --------------------------------------------------------------------------- the run


def fit_flow(model, ema, x, labels, *, cfg: FlowConfig, checkpoint: Path | None = None,
             progress: bool = True, source: str | None = None) -> tuple[list[float], float]:
    """Train `model` (and its average `ema`) on digits x (N, 28, 28) in [0, 1].

    A `checkpoint` records the recipe and the data (`source`, a hash of x and labels); a run
    resumes only from one of the same. Returns the mean loss per epoch and the training seconds
    (resumed runs included)."""
    T = tf()
    n = len(x)
    batch_size = min(int(cfg.batch_size), n)
    steps = n // batch_size
    if steps < 1:
        raise NeuroartError("need at least one batch of training images")
    opt = k.optimizers.Adam(_schedule(cfg, cfg.epochs * steps), global_clipnorm=1.0)
    opt.build(model.trainable_variables)
    recipe, data = _recipe(cfg, n), data_record(x, labels, source)
    done, history, seconds = 0, [], 0.0
    if checkpoint is not None and checkpoint.exists():
        done, history, seconds = _load_checkpoint(checkpoint, model, ema, opt, recipe, data)
    step = _train_step(model, ema, opt, cfg, batch_size)
    xf, y = to_flow(x), np.asarray(labels, np.int32).reshape(-1, 1)
    for epoch in range(done, cfg.epochs):
        start = time.perf_counter()
        order = np.random.default_rng([cfg.seed, epoch]).permutation(n)
        total = 0.0
        with _progress(range(steps), label=f"training flow, epoch {epoch + 1}/{cfg.epochs}", show=progress) as bar:
            for j in bar:
                idx = order[j * batch_size : (j + 1) * batch_size]
                total += float(step(T.constant(xf[idx]), T.constant(y[idx]), T.constant(epoch * steps + j, "int64")))
        history.append(round(total / steps, 5))
        seconds += time.perf_counter() - start
        if checkpoint is not None:
            _save_checkpoint(checkpoint, model, ema, opt, epoch + 1, history, recipe, round(seconds, 1), data)
    return history, seconds


def test_loss(model, x, labels, *, seed: int = 12345, batch: int = 1000) -> float:
    """The flow-matching loss on held-out digits with fixed noise and times (the card's score)."""
    T = tf()
    rng = np.random.default_rng(seed)
    xf = to_flow(x)
    total = 0.0
    for i in range(0, len(xf), batch):
        xb = xf[i : i + batch]
        e = rng.standard_normal(xb.shape).astype(np.float32)
        t = rng.uniform(size=(len(xb), 1)).astype(np.float32)
        x_t = (1 - t[:, :, None]) * e + t[:, :, None] * xb
        v = model([T.constant(x_t), T.constant(t), T.constant(np.asarray(labels[i : i + batch], np.int32)[:, None])],
                  training=False)
        total += float(np.square(np.asarray(v) - (xb - e)).mean(axis=(1, 2)).sum())
    return round(total / len(xf), 5)


#: Digits of each class the card's sample scores generate (n = 10x as many), and the fewest a
#: test split may give them: scoring needs twice as many real digits of every class.
SCORE_PER_DIGIT, SCORE_MIN_PER_DIGIT = 100, 10


def score_plan(y_test, source: str) -> tuple[int | None, str | None]:
    """``(per_digit, None)``: what the card's sample scores can use from this test split (at most
    `SCORE_PER_DIGIT`), or ``(None, why)`` when it holds too few of some class to score at all.
    Decided before training, so a run never trains and then fails on its card."""
    y = np.asarray(y_test).reshape(-1)
    if len(y) == 0:
        raise NeuroartError(f"{source}: its test split is empty; the flow's card needs test digits for its test loss")
    counts = np.bincount(y, minlength=10)[:10]
    fewest = int(counts.argmin())
    per_digit = min(SCORE_PER_DIGIT, int(counts[fewest]) // 2)
    if per_digit < SCORE_MIN_PER_DIGIT:
        return None, (f"the test split has {int(counts[fewest])} of digit {fewest}; sample scores need "
                      f"{2 * SCORE_MIN_PER_DIGIT} of every class")
    return per_digit, None


def passes_of(model) -> int:
    """Network passes a digit costs at the model's own sampler settings."""
    from .flow import passes, sampling

    how = sampling(model)
    return passes(model, how["steps"], how["guidance"], spacing=how["spacing"])


def sample_scores(model, x_test, y_test, *, per_digit: int = SCORE_PER_DIGIT, seed: int = 0,
                  judge: str = "cnn") -> dict:
    """Judge agreement, FID / the real-vs-real floor and diversity / real, at n = 10·per_digit
    (`neuroart.metrics.RealReference`)."""
    from ..metrics import RealReference

    ref = RealReference(x_test, y_test, per_digit, judge=judge)
    s = ref.score(sample(model, ref.labels, seed=seed))  # the model's own sampler (`flow.sampling`)
    return {"n": len(ref.labels), "passes_per_digit": passes_of(model), "judge": judge,
            "judge_agreement": round(s["judge_agreement"], 4), "fid": round(s["fid"], 3),
            "fid_floor": round(ref.floor, 3), "fid_over_floor": round(s["fid_over_floor"], 3),
            "diversity_over_real": round(s["diversity_over_real"], 3)}


def train_flow(*, epochs: int | None = None, batch_size: int | None = None, seed: int | None = None,
               data: str | os.PathLike = "auto", out: str | os.PathLike | None = None, progress: bool = True,
               limit: int | None = None, checkpoint: str | os.PathLike | None = None,
               scores: bool = True) -> tuple[Path, dict]:
    """Train the flow model on MNIST; write ``out`` (.keras, EMA weights), its card (.json) and a
    sample grid (.png).

    `checkpoint` (default ``<out>.ckpt.npz``) is written after every epoch and resumed from when
    it exists (with the same options and data); it is removed once the model is saved. `limit`
    trains on the first `limit` digits (quick tests); `scores=False` skips the card's sample
    scores (1,000 digits judged by the cnn; fewer when the test split holds fewer, none when it
    holds under 20 of some class: the card says why).
    """
    from ..models import check_model_path, save_model
    from .train import _load_data

    defaults = FlowConfig()
    cfg = dataclasses.replace(
        defaults,
        epochs=positive_int("epochs", defaults.epochs if epochs is None else epochs, high=10_000),
        batch_size=positive_int("batch_size", defaults.batch_size if batch_size is None else batch_size, high=100_000),
        seed=integer("seed", defaults.seed if seed is None else seed, low=0))
    out = check_model_path(Path(out) if out is not None else Path("flow.keras"))
    ckpt = Path(checkpoint) if checkpoint is not None else out.with_name(out.name + ".ckpt.npz")
    if ckpt.exists():
        load_checkpoint(ckpt)  # a broken checkpoint: one line now, before the data and the model load
    (xtr, ytr), (xte, yte), source = _load_data(data)
    if limit is not None:
        xtr, ytr = xtr[: positive_int("limit", limit)], ytr[:limit]
    per_digit, unscored = score_plan(yte, source)  # what the card can score, known before training
    k.utils.set_random_seed(cfg.seed)
    model, ema = build_flow(cfg), build_flow(cfg)
    ema.set_weights(model.get_weights())
    history, seconds = fit_flow(model, ema, xtr, ytr, cfg=cfg, checkpoint=ckpt, progress=progress, source=source)
    card = _card(ema, cfg, out, source, len(xtr), xte, yte, history, seconds)
    if scores and per_digit is not None:
        card["test_samples"] = sample_scores(ema, xte, yte, per_digit=per_digit)
    elif scores:
        card["test_samples_skipped"] = unscored
    save_model(ema, out, card)
    ckpt.unlink(missing_ok=True)
    save_sample_grid(ema, out, seed=cfg.seed)
    return out, json.loads(out.with_suffix(".json").read_text())


def save_sample_grid(model, out: Path, *, seed: int = 0) -> Path:
    """Beside the model, what it makes: ``<out>.png``, ten of each digit, a row per digit."""
    from ..outputs import save_grid

    labels = np.repeat(np.arange(10), 10)
    return save_grid(sample(model, labels, seed=seed), Path(out).with_suffix(".png"), ncols=10,
                     row_labels=[str(d) for d in range(10)], scale=2,
                     recipe={"model": Path(out).name, "kind": "flow", "seed": seed, "passes_per_digit": passes_of(model),
                             "version": __version__})


def _card(ema, cfg, out, source, n_train, xte, yte, history, seconds) -> dict:
    return {
        "name": out.stem,
        "kind": "flow",
        "task": "generate MNIST digits of a requested class (or any digit), steerable by a classifier",
        "method": "rectified flow / flow matching; x_t = (1-t)·noise + t·data, the network predicts data - noise; "
                  "labels dropped to NULL (10) 10% of the time for classifier-free guidance",
        "architecture": {"u_net_channels": list(cfg.channels), "blocks_per_level": list(cfg.blocks),
                         "attention_at_7px": cfg.attention, "group_norm_film": cfg.norm, "embedding": cfg.embed,
                         "parameters": int(ema.count_params()), "inputs": "x (28x28 in [-1, 1]), t (0-1), label (0-10)"},
        "sampling": {**SAMPLE_DEFAULTS, "guidance_window": list(GUIDANCE_WINDOW)},
        "data_source": source,
        "train_images": int(n_train),
        "eval_images": int(len(xte)),
        "test_flow_loss": test_loss(ema, xte, yte),
        "train_loss_per_epoch": history,
        "epochs": cfg.epochs,
        "batch_size": cfg.batch_size,
        "learning_rate": cfg.learning_rate,
        "ema": cfg.ema,
        "label_dropout": cfg.label_dropout,
        "seed": cfg.seed,
        "train_seconds": round(seconds, 1),
        "version": __version__,
        "trained_with": f"neuroart train generator --kind flow --epochs {cfg.epochs} --seed {cfg.seed}",
    }
