"""The render loop (lucid's ``optvis/render.py``): one compiled loop for the whole batch.

Every target digit x every sample is one row of one tensor; a single ``tf.function`` runs all
the steps (random transforms, forward pass, gradient, normalised update) without returning to
Python, so 100 dreams cost about what one does. Frames for an animation are taken by running
the compiled loop in chunks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._util import NeuroartError, progress, tf
from ..display import Displayed
from . import objectives as obj_mod
from .transforms import Transforms


class ModelTaps:
    """Run a classifier and expose what objectives read: logits, probs and every layer's output.

    Works on any Keras model ending in ``Dense(10, activation="softmax")`` (or a Dense layer
    followed by a Softmax/Activation layer); logits are that Dense layer's pre-activation.
    """

    def __init__(self, model):
        keras = tf().keras
        self.model = model
        self.layers = {l.name: l for l in model.layers if not isinstance(l, keras.layers.InputLayer)}
        dense = None
        for l in reversed(model.layers):
            if isinstance(l, keras.layers.Dense):
                dense = l
                break
        if dense is None:
            raise NeuroartError("the model has no Dense output layer to take logits from")
        self._dense = dense
        act = getattr(dense.activation, "__name__", "")
        self._dense_is_softmax = act == "softmax"
        outputs = {name: l.output for name, l in self.layers.items()}
        outputs["__logit_input__"] = dense.input
        try:
            self._extract = keras.Model(model.inputs, outputs)
        except Exception as e:  # pragma: no cover - exotic models
            raise NeuroartError(f"cannot read the layers of this model: {e}") from None
        self.input_shape = tuple(model.inputs[0].shape[1:])

    def layer_names(self):
        return list(self.layers)

    def units(self, name: str) -> int:
        """How many units (Dense) or channels (Conv) a layer has."""
        self.check(name)
        return int(self.layers[name].output.shape[-1])

    def check(self, name: str):
        if name in obj_mod.RESERVED:
            return
        if name not in self.layers:
            raise NeuroartError(
                f"unknown layer {name!r}; this model has: {', '.join(self.layer_names())}"
            )

    def __call__(self, x, image=None):
        """Activations for a batch x (N, 28, 28): a function T(name) -> tensor."""
        t = tf()
        feed = x
        if len(self.input_shape) == 3 and self.input_shape[-1] == 1:
            feed = x[..., None]
        acts = self._extract(feed, training=False)
        logits = t.linalg.matmul(acts["__logit_input__"], self._dense.kernel) + self._dense.bias
        if not self._dense_is_softmax:  # a Dense without softmax: its output already is logits
            logits = acts[self._dense.name]
        cache = {"input": x, "image": x if image is None else image, "logits": logits}

        def T(name):
            if name == "probs":
                if "probs" not in cache:
                    cache["probs"] = t.nn.softmax(cache["logits"])
                return cache["probs"]
            if name in cache:
                return cache[name]
            if name not in acts:
                raise NeuroartError(f"unknown layer {name!r}")
            return acts[name]

        return T


@dataclass
class RenderResult(Displayed):
    images: np.ndarray  # (N, 28, 28) float32 in [0, 1]
    scores: np.ndarray  # (N,) final objective per image (without transforms)
    frames: list = field(default_factory=list)  # list of (N, 28, 28) arrays, first = start


# Image-steps one render may take: its random transform parameters are drawn up front
# (6 float32 each, so this bounds them to ~1.2 GB) and it is hours of work on a laptop.
MAX_WORK = 50_000_000


# --------------------------------------------------------------------------- optimizers
#
# An optimizer is ``update(value, grad, m, v, step) -> (value, m, v)`` on tensors, ascending:
# `step` is the float32 step count starting at 1; `m`, `v` are its running moments (unused ones
# pass through).


def adam(lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
    """Adam ascent (lucid's choice): per-value normalised steps of size about `lr`."""
    t = tf()

    def update(val, g, m, v, stepf):
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        mhat = m / (1 - beta1**stepf)
        vhat = v / (1 - beta2**stepf)
        return val + lr * mhat / (t.sqrt(vhat) + eps), m, v

    return update


def normgrad(lr: float):
    """Plain ascent with each image's gradient divided by its mean |g| (DeepDream's step)."""
    t = tf()

    def update(val, g, m, v, stepf):
        axes = list(range(1, len(val.shape)))
        return val + lr * (g / (t.reduce_mean(t.abs(g), axis=axes, keepdims=True) + 1e-8)), m, v

    return update


OPTIMIZERS = {"adam": adam, "normgrad": normgrad}


def check_optimizer(name: str) -> str:
    """`name` if it is one of `OPTIMIZERS`, else one clear error (the one check of the name)."""
    if name not in OPTIMIZERS:
        raise NeuroartError(f"unknown optimizer {name!r} (use {' or '.join(OPTIMIZERS)})")
    return name


# --------------------------------------------------------------------------- the loop


def draw_transforms(transforms: Transforms, *, steps: int, n: int, views: int, seed: int, part=None):
    """Every step's random transform parameters, (steps, views, n, width), drawn up front from `seed`.

    ``part`` ``(n_total, start, stop)``: draw for all n_total images and keep start:stop, so each
    image gets the same random numbers as in the whole run (sharded jobs).
    """
    rng = np.random.default_rng([int(seed), 0x6472])
    if steps * n * views > MAX_WORK:
        raise NeuroartError(
            f"too much at once: {steps} steps x {n} images x {views} views is more than {MAX_WORK:,} "
            "image-steps; lower --steps or --per-digit"
        )
    if part is None:
        return transforms.draw(rng, steps, n * views).reshape(steps, views, n, transforms.width)
    n_total, a, b = (int(v) for v in part)
    if b - a != n or not 0 <= a <= b <= n_total:
        raise NeuroartError(f"part {a}:{b} of {n_total} does not match a batch of {n} images")
    u = transforms.draw(rng, steps, n_total * views).reshape(steps, views, n_total, transforms.width)
    return np.ascontiguousarray(u[:, :, a:b])


def _score_fn(objective, param, taps, transforms, views):
    """values, this step's transform parameters (views, n, width) -> the score of each image."""
    prior, to_image = param.prior, param.to_image

    def score(values, u):
        img = to_image(values)
        s = 0.0
        for k in range(views):
            x = transforms.apply(img, u[k]) if transforms else img
            s = s + objective(taps(x, img))
        s = s / views
        if prior is not None:
            s = s + prior(values)
        return s

    return score


def _compiled_steps(score, update, u_all):
    """One `tf.function` running `count` steps from step `start` for the whole batch.

    Written as an explicit `tf.while_loop` and traced without AutoGraph: converting the model's
    and the objectives' Python code took most of a default dream's time (issue 19).
    """
    t = tf()

    def one_step(step, values, m, v):
        with t.GradientTape() as tape:
            tape.watch(values)
            total = t.reduce_sum(score(values, u_all[step]))
        grads = tape.gradient(total, values)
        stepf = t.cast(step + 1, t.float32)
        new = [update(val, g, mi, vi, stepf) for val, g, mi, vi in zip(values, grads, m, v, strict=True)]
        return [a for a, _, _ in new], [b for _, b, _ in new], [c for _, _, c in new]

    @t.function(autograph=False, reduce_retracing=True)
    def run(values, m, v, start, count):
        def body(i, values, m, v):
            return (i + 1, *one_step(start + i, values, m, v))

        _, values, m, v = t.while_loop(lambda i, *_: i < count, body, (t.constant(0), values, m, v))
        return values, m, v

    return run


def render(
    model,
    objective,
    param,
    *,
    steps: int = 128,
    lr: float = 0.05,
    optimizer: str = "adam",
    transforms: Transforms | None = None,
    seed: int = 0,
    frames: int = 0,
    views: int = 1,
    taps: ModelTaps | None = None,
    show_progress: bool = False,
    part: tuple[int, int, int] | None = None,
) -> RenderResult:
    """Maximise ``objective`` over ``param`` for ``steps`` steps, the whole batch at once.

    ``optimizer``: ``"adam"`` (lucid's choice; per-value normalised steps) or ``"normgrad"``
    (plain ascent with each image's gradient divided by its mean |g|, as in DeepDream).
    ``frames``: how many intermediate snapshots to keep for an animation (0 = none).
    ``views``: random transforms per image per step; the score is averaged over them
    (expectation over transformations: the dream must work from every viewpoint).
    Random transform parameters for every step are drawn from ``seed`` up front.
    ``part`` ``(n_total, start, stop)``: this batch is images start:stop of a larger batch of
    n_total; the random transforms are drawn for all n_total images and sliced, so each image
    gets the same random numbers as in the whole run (sharded jobs, `neuroart.distribute`).
    """
    t = tf()
    if steps < 1:
        raise NeuroartError(f"steps must be at least 1, got {steps}")
    update = OPTIMIZERS[check_optimizer(optimizer)](lr)
    objective = obj_mod.as_objective(objective)
    taps = taps or ModelTaps(model)
    for name in objective.layers:
        taps.check(name)
    transforms = transforms or Transforms()
    views = max(1, int(views)) if transforms else 1
    u_all = t.constant(draw_transforms(transforms, steps=steps, n=param.n, views=views, seed=seed, part=part))
    run = _compiled_steps(_score_fn(objective, param, taps, transforms, views), update, u_all)
    values = [t.constant(a) for a in param.init]
    state = (values, [t.zeros_like(a) for a in values], [t.zeros_like(a) for a in values])
    snaps = _run_in_chunks(run, state, param.to_image, steps=steps, frames=frames, show_progress=show_progress)
    img = param.to_image(snaps.pop())
    final = objective(taps(img, img)).numpy()
    images = np.clip(img.numpy().astype(np.float32), 0.0, 1.0)
    return RenderResult(images=images, scores=final, frames=snaps)


def _run_in_chunks(run, state, to_image, *, steps, frames, show_progress):
    """Run the compiled loop over all steps; returns the snapshots (when `frames`) and, last,
    the final values. Chunks only take snapshots or move a progress bar: the same steps and the
    same random numbers whatever the chunking."""
    t = tf()
    snaps = []
    chunks = max(int(frames or 0), 10 if show_progress else 1)
    if frames and frames > 0:
        snaps.append(to_image(state[0]).numpy())
    bounds = np.unique(np.linspace(0, steps, min(chunks, steps) + 1).round().astype(int))
    with progress(length=int(steps), label="dreaming", show=show_progress) as bar:
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            state = run(*state, t.constant(int(a)), t.constant(int(b - a)))
            if frames and frames > 0:
                snaps.append(to_image(state[0]).numpy())
            bar.update(int(b - a))
    return snaps + [state[0]]
