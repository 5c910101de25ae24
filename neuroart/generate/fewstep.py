"""A few-step flow: the bundled flow distilled into 4 network passes a digit.

The teacher (`neuroart.generate.flow`, trained by flow matching) needs about 26 passes a digit
(20 Euler steps bunched toward the noise, classifier-free guidance in the middle of the path).
Its sampler is a deterministic map from noise to a digit, so a student can learn that map in a
few large steps instead of many small ones.

Segment distillation (in the family of progressive distillation, Salimans & Ho 2022, and the
average velocity of MeanFlow, Geng et al. 2025, on a fixed grid): the teacher integrates N
noises with its default sampler and records its state at every one of its step times; the
student, the same U-Net started from the teacher's weights, learns on a coarse grid
``0 = t_0 < t_1 < ... < t_K = 1`` (K = 4, chosen among the teacher's step times) the *average*
velocity of each segment, ``(x(t_{k+1}) - x(t_k)) / (t_{k+1} - t_k)``, from the teacher's state
at ``t_k``. One Euler step of the student over a segment lands where the teacher's many steps
landed. The teacher's guidance is baked in (the student needs no second pass), and labels are
`NULL` for a tenth of the paths, so the student also draws "any digit".

No new architecture: the student has the teacher's inputs ``(x, t, label)``; its grid travels in
its card (``sampling.times``), which the samplers read, so `neuroart generate --model flow` takes
4 passes a digit without further options.

Importing this module imports TensorFlow.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
import zipfile
from pathlib import Path

import numpy as np

from .._util import NeuroartError, atomic_path, tf
from .._util import progress as _progress
from .flow import GUIDANCE_WINDOW, NULL, SAMPLE_DEFAULTS, flow_times, row_noise, time_grid, to_pixels, velocity_fn


@dataclasses.dataclass(frozen=True)
class FewStepConfig:
    """Defaults of a few-step distillation (the card records them)."""

    teacher: str = "flow-teacher"  # the flow it learns from (bundled name or .keras path)
    paths: int = 10_000  # teacher paths (noise -> digit): 900 per class and 1,000 NULL
    grid: tuple[int, ...] = (0, 7, 12, 16, 20)  # the student's times, as indices of the teacher's step times
    epochs: int = 8  # passes over the paths (each pass: every path at every segment)
    batch_size: int = 128
    learning_rate: float = 2e-4  # Adam from the teacher's weights, cosine decay to 10%
    ema: float = 0.999  # the saved weights are this exponential moving average
    null_share: float = 0.1  # paths drawn for "any digit"
    levels: str = "ot"  # how its pixels are finished (`fit_levels`): ot | blank | none
    level_samples: int = 2000  # the student's own digits those levels are fitted on
    seed: int = 0


#: Paths per chunk of the teacher's cache (each chunk is written at once: an interrupted run
#: resumes from the last whole chunk).
CHUNK = 1000
#: The noise of path i comes from ``row_noise(NOISE_SEED + seed, ...)``: never the streams
#: that `generate` samples from (seed 0, 1, ...), so the benchmarks see noises the student did not.
NOISE_SEED = 1_000_003


def path_labels(cfg: FewStepConfig) -> np.ndarray:
    """Labels of the teacher's paths: every `1 / null_share`-th is `NULL`, the others 0-9 in turn
    (path i's label does not depend on how many paths there are)."""
    i = np.arange(int(cfg.paths))
    every = int(round(1.0 / cfg.null_share)) if cfg.null_share > 0 else 0
    if not every:
        return (i % 10).astype(np.int64)
    labels = (i - i // every) % 10  # 0-9 in turn over the paths that are not NULL
    return np.where(i % every == every - 1, NULL, labels).astype(np.int64)


def teacher_times() -> np.ndarray:
    """The teacher's default step times (the grid `FewStepConfig.grid` indexes)."""
    return time_grid(SAMPLE_DEFAULTS["steps"], 0.0, SAMPLE_DEFAULTS["spacing"])


def student_times(cfg: FewStepConfig) -> np.ndarray:
    """The student's K + 1 times, from 0 to 1."""
    ts = teacher_times()
    grid = tuple(int(i) for i in cfg.grid)
    if grid[0] != 0 or grid[-1] != len(ts) - 1 or list(grid) != sorted(set(grid)):
        raise NeuroartError(f"grid must rise from 0 to {len(ts) - 1}, got {grid}")
    return ts[list(grid)]


def teacher_states(teacher, noise, labels) -> np.ndarray:
    """Run the teacher's default sampler from `noise` (n, 28, 28); its state at every step time,
    (n, steps + 1, 28, 28) in flow space (the last is the digit)."""
    T = tf()
    v_of = velocity_fn(teacher)
    w = float(SAMPLE_DEFAULTS["guidance"])
    y = T.constant(np.asarray(labels, np.int32).reshape(-1, 1))
    x = T.constant(np.asarray(noise, np.float32))
    ts = teacher_times()
    out = [np.asarray(x)]
    for i in range(len(ts) - 1):
        t0, t1 = float(ts[i]), float(ts[i + 1])
        guided = GUIDANCE_WINDOW[0] <= t0 < GUIDANCE_WINDOW[1]
        x = x + (t1 - t0) * v_of(x, t0, y, w if guided else 0.0)
        out.append(np.asarray(x))
    return np.stack(out, axis=1)


def chunk_path(cache: Path, i: int) -> Path:
    return cache / f"paths-{i:05d}.npz"


def cache_recipe(cfg: FewStepConfig, teacher_sha: str) -> dict:
    return {"teacher_sha256": teacher_sha, "seed": int(cfg.seed), "noise_seed": NOISE_SEED,
            "sampler": dict(SAMPLE_DEFAULTS), "guidance_window": list(GUIDANCE_WINDOW), "chunk": CHUNK,
            "null_share": cfg.null_share}


def build_cache(teacher, cfg: FewStepConfig, cache: Path, *, teacher_sha: str, progress: bool = True) -> None:
    """Write the teacher's paths to `cache` in chunks of `CHUNK` (existing whole chunks are kept:
    an interrupted run resumes). The folder's ``recipe.json`` must match, or it is refused."""
    cache.mkdir(parents=True, exist_ok=True)
    recipe = cache_recipe(cfg, teacher_sha)
    rfile = cache / "recipe.json"
    if rfile.exists():
        if json.loads(rfile.read_text()) != recipe:
            raise NeuroartError(f"{cache}: teacher paths of another recipe; delete the folder or use its options")
    else:
        rfile.write_text(json.dumps(recipe, indent=1))
    labels = path_labels(cfg)
    chunks = range((len(labels) + CHUNK - 1) // CHUNK)
    todo = [c for c in chunks if _chunk_size(chunk_path(cache, c)) != min(CHUNK, len(labels) - c * CHUNK)]
    with _progress(todo, label="teacher paths (chunks of 1000)", show=progress) as bar:
        for c in bar:
            a, b = c * CHUNK, min((c + 1) * CHUNK, len(labels))
            noise = row_noise(NOISE_SEED + int(cfg.seed), b - a, a)
            states = np.concatenate([teacher_states(teacher, noise[j : j + 100], labels[a + j : a + j + 100])
                                     for j in range(0, b - a, 100)])
            with atomic_path(chunk_path(cache, c), suffix=".npz") as tmp, open(tmp, "wb") as f:
                np.savez(f, states=states.astype(np.float32), labels=labels[a:b])


def _chunk_size(path: Path) -> int:
    """Paths in a cached chunk (-1: none or unreadable, so it is made again; a run with fewer
    paths leaves its last chunk short)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return len(z["labels"])
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return -1


def load_cache(cache: Path, cfg: FewStepConfig) -> tuple[np.ndarray, np.ndarray]:
    """The student's states at its grid times (n, K + 1, 28, 28) and the paths' labels."""
    labels = path_labels(cfg)
    n_chunks = (len(labels) + CHUNK - 1) // CHUNK
    grid = list(cfg.grid)
    states, ys = [], []
    for c in range(n_chunks):
        with np.load(chunk_path(cache, c), allow_pickle=False) as z:
            states.append(z["states"][:, grid])
            ys.append(z["labels"])
    return np.concatenate(states), np.concatenate(ys)


# --------------------------------------------------------------------------- the student


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


def fit_student(student, opt, strategy, states, labels, *, cfg: FewStepConfig, recipe: dict,
                checkpoint: Path | None = None, progress: bool = True, on_epoch=None) -> tuple[list[float], float]:
    """Train `student` (built with `opt` in `strategy`'s scope) on the teacher's states
    (n, K + 1, 28, 28), `cfg.epochs` passes over every (path, segment) pair.

    A checkpoint is written after every epoch (by the chief) and resumed from;
    `on_epoch(epoch, weights)` gets the moving-average weights after each. Returns the loss per
    epoch and the training seconds (resumed runs included)."""
    from ..distribute import is_chief

    times = student_times(cfg)
    replicas = int(strategy.num_replicas_in_sync)
    batch_size = min(int(cfg.batch_size), len(states) * (len(times) - 1))
    batch_size -= batch_size % replicas
    steps = len(states) * (len(times) - 1) // max(batch_size, 1)
    if steps < 1:
        raise NeuroartError(f"need at least one batch of {replicas} teacher paths (one per replica)")
    done, history, seconds = 0, [], 0.0
    if checkpoint is not None and checkpoint.exists():
        done, history, seconds = load_checkpoint(checkpoint, student, opt, recipe)
    step = _train_step(student, opt, strategy, batch_size)
    per = batch_size // replicas
    for epoch in range(done, cfg.epochs):
        start, total = time.perf_counter(), 0.0
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


# --------------------------------------------------------------------------- ink levels

#: How the student's pixels are finished (`fit_levels`): "ot" maps their histogram onto the
#: training digits' (1-D optimal transport), "blank" only blanks as many pixels as the training
#: digits leave blank, "none" keeps them as drawn.
LEVELS = ("ot", "blank", "none")


def fit_levels(model, x_train, *, mode: str = "ot", n: int = 2000, seed: int = 1, knots: int = 257):
    """Set a few-step flow's ink levels (`flow_layers.StepTimes.levels`) from `n` of its own
    digits (seed `seed`: not the streams `generate` draws from by default) and training digits
    `x_train` in [0, 1]; returns the knots ``(x, y)``.

    A flow's background is not the data's: where about 81% of an MNIST digit's pixels are exactly
    0, a flow's are faint haze around 0 (a detector trained on pixels finds it). The monotone
    map that sends the quantiles of the flow's pixel values to those of the training digits' is
    the optimal transport between the two histograms ("ot"); "blank" keeps the ink as drawn and
    blanks the faintest pixels up to the data's share of blank ones.
    """
    from .flow import StepTimes, sample

    if mode not in LEVELS:
        raise NeuroartError(f"levels must be one of {', '.join(LEVELS)}, got {mode!r}")
    layer = next((la for la in model.layers if isinstance(la, StepTimes)), None)
    if layer is None:
        raise NeuroartError("ink levels belong to a few-step flow")
    layer.levels = None
    if mode == "none":
        return None
    drawn = sample(model, np.arange(n) % 10, seed=seed).ravel()
    real = np.asarray(x_train, np.float32).ravel()
    if mode == "blank":
        t = float(np.quantile(drawn, float(np.mean(real == 0))))
        xs, ys = [0.0, t, t + 1e-6, 1.0], [0.0, 0.0, t + 1e-6, 1.0]
    else:
        q = np.linspace(0.0, 1.0, knots)
        xs = np.maximum.accumulate(np.quantile(drawn, q) + np.arange(knots) * 1e-6)  # strictly rising
        ys = np.quantile(real, q)
        xs[0], ys[0], xs[-1], ys[-1] = 0.0, 0.0, max(float(xs[-1]), 1.0), 1.0
        xs, ys = [round(float(v), 7) for v in xs], [round(float(v), 7) for v in ys]
    layer.levels = (tuple(xs), tuple(ys))
    return layer.levels


# --------------------------------------------------------------------------- the run


def distil_flow(*, teacher: str | None = None, paths: int | None = None, epochs: int | None = None,
                batch_size: int | None = None, seed: int | None = None, data: str = "auto",
                out: str | os.PathLike | None = None, cache: str | os.PathLike | None = None,
                checkpoint: str | os.PathLike | None = None, strategy: str = "default", progress: bool = True,
                scores: bool = True, on_epoch=None, **config) -> tuple[Path, dict]:
    """Distil `teacher` into a few-step flow; write ``out`` (.keras, the moving-average weights),
    its card (.json) and a sample grid (.png).

    The teacher's paths go to `cache` (default ``<out>.paths/``, chunks of `CHUNK`, kept between
    runs: delete the folder once the model is saved), the training to `checkpoint` (default
    ``<out>.ckpt.npz``, after every epoch, resumed from, removed once the model is saved).
    `strategy`: a `neuroart.distribute` strategy (``default``, ``mirrored``, ``multiworker``):
    the student and its optimizer live in its scope and the card says which. `scores=False`
    skips the card's sample scores (1,000 digits judged by the cnn); `data` is where those real
    digits, and the training digits the ink levels are fitted to, come from. Other keywords are
    `FewStepConfig` fields (``levels="blank"``, ``level_samples=100``).
    """
    from ..distribute import describe_strategy, resolve_strategy
    from ..models import check_model_path, file_sha256, resolve, save_model
    from ..validate import integer, positive_int
    from .flow import FlowConfig, build_flow, k
    from .flow_train import save_sample_grid
    from .train import _load_data

    d = FewStepConfig()
    cfg = dataclasses.replace(
        d, teacher=str(d.teacher if teacher is None else teacher),
        paths=positive_int("paths", d.paths if paths is None else paths, high=1_000_000),
        epochs=positive_int("epochs", d.epochs if epochs is None else epochs, high=10_000),
        batch_size=positive_int("batch_size", d.batch_size if batch_size is None else batch_size, high=100_000),
        seed=integer("seed", d.seed if seed is None else seed, low=0), **config)
    if cfg.levels not in LEVELS:
        raise NeuroartError(f"levels must be one of {', '.join(LEVELS)}, got {cfg.levels!r}")
    times = student_times(cfg)
    out = check_model_path(Path(out) if out is not None else Path("flow.keras"))
    cache = Path(cache) if cache is not None else out.with_name(out.name + ".paths")
    ckpt = Path(checkpoint) if checkpoint is not None else out.with_name(out.name + ".ckpt.npz")
    teacher_path = resolve(cfg.teacher)
    dist = resolve_strategy(strategy)  # before any model loads: a cluster renames the devices
    from ..models import load_model

    teacher_model = load_model(teacher_path, role="flow")
    if flow_times(teacher_model) is not None:
        raise NeuroartError(f"{teacher_path}: already a few-step flow; distil a flow trained by flow matching")
    teacher_sha = file_sha256(teacher_path)
    (xtr, _), (xte, yte), source = _load_data(data)
    build_cache(teacher_model, cfg, cache, teacher_sha=teacher_sha, progress=progress)
    states, labels = load_cache(cache, cfg)
    arch = FlowConfig()
    with dist.scope():
        student = build_flow(arch, times=times)
        if len(student.weights) != len(teacher_model.weights):
            raise NeuroartError(f"{teacher_path}: not the bundled flow's architecture (FlowConfig defaults)")
        student.set_weights(teacher_model.get_weights())
        schedule = k.optimizers.schedules.CosineDecay(
            cfg.learning_rate, max(cfg.epochs * (len(states) * (len(times) - 1) // cfg.batch_size), 1), alpha=0.1)
        opt = k.optimizers.Adam(schedule, global_clipnorm=1.0, use_ema=True, ema_momentum=cfg.ema,
                                ema_overwrite_frequency=None)
        opt.build(student.trainable_variables)
    recipe = {**dataclasses.asdict(cfg), "grid": list(cfg.grid), "teacher_sha256": teacher_sha,
              "strategy": describe_strategy(dist)}
    history, seconds = fit_student(student, opt, dist, states, labels, cfg=cfg, recipe=recipe, checkpoint=ckpt,
                                   progress=progress, on_epoch=on_epoch)
    final = build_flow(arch, times=times)
    final.set_weights(ema_weights(student, opt))
    fit_levels(final, xtr, mode=cfg.levels, n=cfg.level_samples)
    card = _card(final, cfg, out, teacher_path, teacher_sha, len(states), history, seconds, describe_strategy(dist))
    card["data_source"] = source
    if scores:
        from .flow_train import sample_scores

        card["test_samples"] = sample_scores(final, xte, yte)
    from ..distribute import is_chief

    if not is_chief():
        return out, card
    save_model(final, out, card)
    ckpt.unlink(missing_ok=True)
    save_sample_grid(final, out, seed=cfg.seed)
    return out, json.loads(out.with_suffix(".json").read_text())


def _card(model, cfg: FewStepConfig, out: Path, teacher_path: Path, teacher_sha: str, n_paths: int, history,
          seconds: float, strategy: dict) -> dict:
    from .._version import __version__

    times = student_times(cfg)
    return {
        "name": out.stem,
        "kind": "flow",
        "task": "generate MNIST digits of a requested class (or any digit) in 4 network passes, steerable "
                "by a classifier",
        "method": "segment distillation of a flow-matching teacher: the student learns the teacher sampler's "
                  "average velocity over each of its K segments, from the teacher's state at the segment's "
                  "start (teacher guidance baked in; a tenth of the paths unconditional)",
        "architecture": {"u_net": "the teacher's (FlowConfig defaults), started from its weights",
                         "parameters": int(model.count_params()),
                         "inputs": "x (28x28 in [-1, 1]), t (one of the grid's times), label (0-10)"},
        "sampling": {"passes_per_digit": len(times) - 1, "times": [round(float(t), 6) for t in times],
                     "levels": cfg.levels},
        "teacher": {"file": teacher_path.name, "sha256": teacher_sha,
                    "sampler": {**SAMPLE_DEFAULTS, "guidance_window": list(GUIDANCE_WINDOW)}},
        "teacher_paths": int(n_paths),
        "loss_per_epoch": history,
        "epochs": cfg.epochs,
        "batch_size": cfg.batch_size,
        "learning_rate": cfg.learning_rate,
        "ema": cfg.ema,
        "seed": cfg.seed,
        "train_seconds": round(seconds, 1),
        **strategy,
        "version": __version__,
        "trained_with": f"neuroart train generator --kind fewstep --teacher {cfg.teacher} --paths {cfg.paths} "
                        f"--epochs {cfg.epochs} --seed {cfg.seed}",
    }


__all__ = ["FewStepConfig", "distil_flow", "build_cache", "load_cache", "student_times", "teacher_states", "to_pixels"]
