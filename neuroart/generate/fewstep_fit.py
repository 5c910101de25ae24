"""Training a few-step flow's student (`neuroart.generate.fewstep`): the compiled step on a
distribution strategy, its minibatches, checkpoints and moving average.

Importing this module imports nothing heavy; its functions import TensorFlow when called.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .._util import NeuroartError, tf
from .._util import progress as _progress


def _train_step(model, opt, strategy, batch_size: int):
    """A compiled ``(x_t, t, labels, target) -> loss`` on `strategy`: each replica takes its slice
    of the global batch, the loss is the mean over the global batch, the optimizer all-reduces
    the gradients and keeps the moving average of the weights (Keras's ``use_ema``)."""
    T = tf()
    variables = model.trainable_variables

    def replica_step(x, t, y, target):
        with T.GradientTape() as tape:
            err = T.reduce_sum(T.reduce_mean(T.square(model([x, t, y], training=True) - target), axis=(1, 2)))
            loss = err / batch_size
        opt.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
        return loss

    @T.function(autograph=False, reduce_retracing=True)
    def step(*args):
        return strategy.reduce(T.distribute.ReduceOp.SUM, strategy.run(replica_step, args=args), axis=None)

    return step


def _split(strategy, a, per: int):
    """Replica r's rows ``[r·per, (r + 1)·per)`` of a global batch."""
    T = tf()
    if int(strategy.num_replicas_in_sync) == 1:
        return T.constant(a)
    return strategy.experimental_distribute_values_from_function(
        lambda ctx: T.constant(a[ctx.replica_id_in_sync_group * per : (ctx.replica_id_in_sync_group + 1) * per]))


def segment_batches(states, labels, times, *, seed: int, epoch: int, batch_size: int):
    """Minibatches ``(x_t, t, labels, average velocity)`` of one epoch: every (path, segment) pair
    once (the last partial batch dropped), in an order keyed by (seed, epoch) alone, so a resumed
    run sees what an uninterrupted one would."""
    n, k = len(states), len(times) - 1
    order = np.random.default_rng([int(seed), int(epoch)]).permutation(n * k)
    for a in range(0, len(order) - batch_size + 1, batch_size):
        idx = np.sort(order[a : a + batch_size])
        p, s = idx // k, idx % k
        dt = (times[s + 1] - times[s]).astype(np.float32)[:, None, None]
        yield (states[p, s], times[s].astype(np.float32)[:, None], labels[p].astype(np.int32)[:, None],
               (states[p, s + 1] - states[p, s]) / dt)


def rollout_batches(student, states, labels, times, *, seed: int, epoch: int, batch_size: int):
    """Minibatches like `segment_batches`, but each segment starts where the *student* stands.

    ``batch_size / K`` whole paths a batch: the student runs its own K steps from each path's
    noise (no gradient), and segment k's target is the average velocity from the student's state
    ``s_k`` to the teacher's next state, ``(x(t_{k+1}) - s_k) / (t_{k+1} - t_k)``. Segment
    distillation trains every segment from the teacher's states, but sampling starts segment
    k + 1 from the student's own ``s_{k+1}``, off the teacher's path by whatever the earlier
    segments missed, and the misses add up. Here each step learns to land back on the
    teacher's path from where it actually is; the last lands on the teacher's digit. An order
    keyed by (seed, epoch), so a resumed run sees what an uninterrupted one would.
    """
    from .flow import velocity_fn

    n, k = len(states), len(times) - 1
    per = batch_size // k
    v_of = velocity_fn(student)
    dt = np.diff(times).astype(np.float32)
    order = np.random.default_rng([int(seed), int(epoch), 1]).permutation(n)
    for a in range(0, n - per + 1, per):
        p = np.sort(order[a : a + per])
        y = labels[p].astype(np.int32)[:, None]
        own = [states[p, 0]]
        for j in range(k - 1):
            own.append(own[-1] + dt[j] * np.asarray(v_of(own[-1], float(times[j]), y)))
        yield (np.concatenate(own), np.repeat(times[:-1], per).astype(np.float32)[:, None], np.tile(y, (k, 1)),
               np.concatenate([(states[p, j + 1] - own[j]) / dt[j] for j in range(k)]))



def ema_weights(model, opt) -> list[np.ndarray]:
    """The moving average of `model`'s weights that `opt` keeps (the weights a run saves)."""
    if model.non_trainable_weights:
        raise NeuroartError("the student has non-trainable weights: their average is not kept")
    return [np.asarray(v) for v in opt._model_variables_moving_average]


def save_checkpoint(path: Path, model, opt, epoch: int, history: list, recipe: dict, seconds: float) -> None:
    """Weights, then optimizer state (its moving average included), with epoch and recipe:
    atomically, through `neuroart.generate.checkpoint`."""
    from .checkpoint import save_checkpoint as save

    arrays = [np.asarray(v) for v in model.weights] + [np.asarray(v) for v in opt.variables]
    save(path, arrays, {"epoch": epoch, "history": history, "recipe": recipe, "seconds": seconds})


def load_checkpoint(path: Path, model, opt, recipe: dict) -> tuple[int, list, float]:
    """Restore `save_checkpoint`'s file; (epochs done, loss history, seconds). A file that is not
    such a checkpoint (every size and shape checked from the headers before reading) or was made
    with other options is one line naming it."""
    from .checkpoint import load_checkpoint as load

    shapes = [tuple(v.shape) for v in model.weights] + [tuple(v.shape) for v in opt.variables]
    arrays, meta = load(path, {"recipe": recipe}, shapes=shapes)
    for v, a in zip([*model.weights, *opt.variables], arrays, strict=True):
        v.assign(a)
    return int(meta["epoch"]), list(meta["history"]), float(meta["seconds"])


def fit_student(student, opt, strategy, states, labels, times, *, cfg, recipe: dict,
                checkpoint: Path | None = None, progress: bool = True, on_epoch=None) -> tuple[list[float], float]:
    """Train `student` (built with `opt` in `strategy`'s scope) on the teacher's states
    (n, K + 1, 28, 28) at the student's `times`, `cfg.epochs` (a `FewStepConfig`) passes over
    every (path, segment) pair: from the teacher's
    states (`segment_batches`) or, with ``cfg.targets == "rollout"``, the student's own
    (`rollout_batches`).

    A checkpoint is written after every epoch (by the chief) and resumed from;
    `on_epoch(epoch, weights)` gets the moving-average weights after each. Returns the loss per
    epoch and the training seconds (resumed runs included)."""
    from ..distribute import is_chief

    k = len(times) - 1
    replicas = int(strategy.num_replicas_in_sync)
    batch_size = min(int(cfg.batch_size), len(states) * k)
    if cfg.targets == "rollout":  # whole paths: K segments each
        batch_size -= batch_size % k
        while batch_size % replicas:
            batch_size -= k
    batch_size -= batch_size % replicas
    steps = len(states) * k // max(batch_size, 1)
    if steps < 1:
        raise NeuroartError(f"need at least one batch of {replicas} teacher paths (one per replica)")
    done, history, seconds = 0, [], 0.0
    if checkpoint is not None and checkpoint.exists():
        done, history, seconds = load_checkpoint(checkpoint, student, opt, recipe)
    step = _train_step(student, opt, strategy, batch_size)
    per = batch_size // replicas
    for epoch in range(done, cfg.epochs):
        start, total = time.perf_counter(), 0.0
        if cfg.targets == "rollout":
            batches = rollout_batches(student, states, labels, times, seed=cfg.seed, epoch=epoch,
                                      batch_size=batch_size)
        else:
            batches = segment_batches(states, labels, times, seed=cfg.seed, epoch=epoch, batch_size=batch_size)
        with _progress(batches, length=steps, label=f"distilling, epoch {epoch + 1}/{cfg.epochs}",
                       show=progress) as bar:
            for arrays in bar:
                total += float(step(*[_split(strategy, a, per) for a in arrays]))
        history.append(round(total / steps, 5))
        seconds += time.perf_counter() - start
        if checkpoint is not None and is_chief():
            save_checkpoint(checkpoint, student, opt, epoch + 1, history, recipe, round(seconds, 1))
        if on_epoch is not None:
            on_epoch(epoch + 1, ema_weights(student, opt))
    return history, seconds
