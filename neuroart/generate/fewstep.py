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

A second round (``targets="rollout"``, from the first round's weights, ``init``) trains each
segment from where the student's own steps stand, toward the teacher's next state
(`fewstep_fit.rollout_batches`): the misses of the earlier segments no longer add up.

No new architecture: the student has the teacher's inputs ``(x, t, label)``; its grid and ink
levels travel in the model file (`flow_layers.StepTimes`), which the samplers read, so
`neuroart generate --model flow` takes 4 passes a digit without further options.

Importing this module imports TensorFlow.
"""

from __future__ import annotations

import dataclasses
import json
import os
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
    targets: str = "teacher"  # each segment from the teacher's states, or "rollout": from the student's own
    init: str | None = None  # start from this few-step flow (same grid) instead of the teacher's weights
    levels: str = "blank"  # how its pixels are finished (`fit_levels`): blank | ot | none
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


#: Where each segment of a step starts (`fewstep_fit`): the teacher's states ("teacher"), or the
#: student's own rollout toward the teacher's next state ("rollout", a second round after `init`).
TARGETS = ("teacher", "rollout")

# --------------------------------------------------------------------------- ink levels

#: How the student's pixels are finished (`fit_levels`): "blank" only blanks as many pixels as
#: the training digits leave blank, "ot" maps their whole histogram onto the training digits'
#: (1-D optimal transport), "none" keeps them as drawn. Blank costs no FID; ot moves the ink's
#: grey levels too (+0.09x the floor on the bundled flow, docs/flow.md).
LEVELS = ("blank", "ot", "none")
#: Options that only finish the trained weights (a checkpoint serves a run that changes them).
FINISH = ("levels", "level_samples")


def fit_levels(model, x_train, *, mode: str = "blank", n: int = 2000, seed: int = 1, knots: int = 257):
    """Set a few-step flow's ink levels (`flow_layers.StepTimes.levels`) from `n` of its own
    digits (seed `seed`: not the streams `generate` draws from by default) and training digits
    `x_train` in [0, 1]; returns the knots ``(x, y)``.

    A flow's background is not the data's: where about 81% of an MNIST digit's pixels are exactly
    0, a flow's are faint haze around 0 (a detector trained on pixels finds it). The monotone
    map that sends the quantiles of the flow's pixel values to those of the training digits' is
    the optimal transport between the two histograms ("ot"); "blank" (the default) keeps the ink
    as drawn and blanks the faintest pixels up to the data's share of blank ones.
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
    from .fewstep_fit import ema_weights, fit_student
    from .flow import FlowConfig, build_flow, k
    from .flow_train import save_sample_grid
    from .train import _load_data

    cfg = _config(teacher=teacher, paths=paths, epochs=epochs, batch_size=batch_size, seed=seed, **config)
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
    start, init = _start(cfg, teacher_model, times)
    (xtr, _), (xte, yte), source = _load_data(data)
    build_cache(teacher_model, cfg, cache, teacher_sha=teacher_sha, progress=progress)
    states, labels = load_cache(cache, cfg)
    arch = FlowConfig()
    with dist.scope():
        student = build_flow(arch, times=times)
        if len(student.weights) != len(teacher_model.weights):
            raise NeuroartError(f"{teacher_path}: not the bundled flow's architecture (FlowConfig defaults)")
        student.set_weights(start.get_weights())
        schedule = k.optimizers.schedules.CosineDecay(
            cfg.learning_rate, max(cfg.epochs * (len(states) * (len(times) - 1) // cfg.batch_size), 1), alpha=0.1)
        opt = k.optimizers.Adam(schedule, global_clipnorm=1.0, use_ema=True, ema_momentum=cfg.ema,
                                ema_overwrite_frequency=None)
        opt.build(student.trainable_variables)
    recipe = {**{f: v for f, v in dataclasses.asdict(cfg).items() if f not in FINISH}, "grid": list(cfg.grid),
              "teacher_sha256": teacher_sha,
              "strategy": describe_strategy(dist), **({"init_sha256": init["sha256"]} if init else {})}
    history, seconds = fit_student(student, opt, dist, states, labels, times, cfg=cfg, recipe=recipe,
                                   checkpoint=ckpt, progress=progress, on_epoch=on_epoch)
    final = build_flow(arch, times=times)
    final.set_weights(ema_weights(student, opt))
    fit_levels(final, xtr, mode=cfg.levels, n=cfg.level_samples)
    card = _card(final, cfg, out, teacher_path, teacher_sha, len(states), history, seconds, describe_strategy(dist))
    card["data_source"] = source
    if init:
        card["init"] = init
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


def _config(*, teacher, paths, epochs, batch_size, seed, **config) -> FewStepConfig:
    """`FewStepConfig` from the run's options (None: the default), each checked in one line."""
    from ..validate import finite, integer, positive_int

    d = FewStepConfig()
    cfg = dataclasses.replace(
        d, teacher=str(d.teacher if teacher is None else teacher),
        paths=positive_int("paths", d.paths if paths is None else paths, high=1_000_000),
        epochs=positive_int("epochs", d.epochs if epochs is None else epochs, high=10_000),
        batch_size=positive_int("batch_size", d.batch_size if batch_size is None else batch_size, high=100_000),
        seed=integer("seed", d.seed if seed is None else seed, low=0), **config)
    if cfg.levels not in LEVELS:
        raise NeuroartError(f"levels must be one of {', '.join(LEVELS)}, got {cfg.levels!r}")
    if cfg.targets not in TARGETS:
        raise NeuroartError(f"targets must be one of {', '.join(TARGETS)}, got {cfg.targets!r}")
    finite("learning_rate", cfg.learning_rate, low=0, low_open=True, high=1)
    finite("ema", cfg.ema, low=0, high=1, high_open=True)
    return cfg


def _start(cfg: FewStepConfig, teacher, times) -> tuple:
    """The weights the student starts from: the teacher's, or `cfg.init`'s (a few-step flow on the
    same grid: a second round), with what the card says of it (None for the teacher)."""
    if cfg.init is None:
        return teacher, None
    from ..models import file_sha256, load_model, resolve

    path = resolve(cfg.init)
    model = load_model(path, role="flow")
    own = flow_times(model)
    if own is None or len(own) != len(times) or not np.allclose(own, times, atol=1e-6):
        raise NeuroartError(f"{path}: not a few-step flow on this run's grid {[round(float(t), 4) for t in times]}")
    card = path.with_suffix(".json")
    before = json.loads(card.read_text()).get("trained_with") if card.exists() else None
    return model, {"file": path.name, "sha256": file_sha256(path), "trained_with": before}


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
                  "start (teacher guidance baked in; a tenth of the paths unconditional)"
                  + ("; this round from the student's own states, toward the teacher's next state"
                     if cfg.targets == "rollout" else ""),
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
        "targets": cfg.targets,
        "trained_with": _command(cfg),
    }


def _command(cfg: FewStepConfig) -> str:
    """The command line that makes this run's model (options left at their defaults left out)."""
    words = ["neuroart train generator --kind fewstep", f"--teacher {cfg.teacher}", f"--paths {cfg.paths}",
             f"--epochs {cfg.epochs}", f"--seed {cfg.seed}"]
    d = FewStepConfig()
    for flag, value in (("--init", cfg.init), ("--targets", cfg.targets), ("--learning-rate", cfg.learning_rate),
                        ("--ema", cfg.ema), ("--levels", cfg.levels)):
        if value != getattr(d, flag[2:].replace("-", "_")):
            words.append(f"{flag} {value:g}" if isinstance(value, float) else f"{flag} {value}")
    return " ".join(words)


__all__ = ["FewStepConfig", "distil_flow", "build_cache", "load_cache", "student_times", "teacher_states", "to_pixels"]
