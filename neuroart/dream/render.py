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
        if name in ("image", "input", "logits", "probs"):
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
class RenderResult:
    images: np.ndarray  # (N, 28, 28) float32 in [0, 1]
    scores: np.ndarray  # (N,) final objective per image (without transforms)
    frames: list = field(default_factory=list)  # list of (N, 28, 28) arrays, first = start


# Image-steps one render may take: its random transform parameters are drawn up front
# (6 float32 each, so this bounds them to ~1.2 GB) and it is hours of work on a laptop.
MAX_WORK = 50_000_000


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
    if optimizer not in ("adam", "normgrad"):
        raise NeuroartError(f"unknown optimizer {optimizer!r} (use adam or normgrad)")
    objective = obj_mod.as_objective(objective)
    taps = taps or ModelTaps(model)
    for name in objective.layers:
        taps.check(name)
    transforms = transforms or Transforms()
    n = param.n
    rng = np.random.default_rng([int(seed), 0x6472])
    views = max(1, int(views)) if transforms else 1
    if steps * n * views > MAX_WORK:
        raise NeuroartError(
            f"too much at once: {steps} steps x {n} images x {views} views is more than {MAX_WORK:,} "
            "image-steps; lower --steps or --per-digit"
        )
    if part is None:
        u_all = t.constant(transforms.draw(rng, steps, n * views).reshape(steps, views, n, transforms.width))
    else:
        n_total, a, b = (int(v) for v in part)
        if b - a != n or not 0 <= a <= b <= n_total:
            raise NeuroartError(f"part {a}:{b} of {n_total} does not match a batch of {n} images")
        u = transforms.draw(rng, steps, n_total * views).reshape(steps, views, n_total, transforms.width)
        u_all = t.constant(np.ascontiguousarray(u[:, :, a:b]))
    prior = param.prior
    to_image = param.to_image

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

    beta1, beta2, eps = 0.9, 0.999, 1e-8

    @t.function(autograph=True, reduce_retracing=True)
    def run(values, m, v, start, count):
        for i in t.range(count):
            step = start + i
            with t.GradientTape() as tape:
                tape.watch(values)
                total = t.reduce_sum(score(values, u_all[step]))
            grads = tape.gradient(total, values)
            new_values, new_m, new_v = [], [], []
            stepf = t.cast(step + 1, t.float32)
            for val, g, mi, vi in zip(values, grads, m, v, strict=True):
                if optimizer == "adam":
                    mi = beta1 * mi + (1 - beta1) * g
                    vi = beta2 * vi + (1 - beta2) * g * g
                    mhat = mi / (1 - beta1**stepf)
                    vhat = vi / (1 - beta2**stepf)
                    val = val + lr * mhat / (t.sqrt(vhat) + eps)
                else:
                    axes = list(range(1, len(val.shape)))
                    gn = g / (t.reduce_mean(t.abs(g), axis=axes, keepdims=True) + 1e-8)
                    val = val + lr * gn
                new_values.append(val)
                new_m.append(mi)
                new_v.append(vi)
            values, m, v = new_values, new_m, new_v
        return values, m, v

    values = [t.constant(a) for a in param.init]
    m = [t.zeros_like(a) for a in values]
    v = [t.zeros_like(a) for a in values]
    snaps = []
    # the compiled loop runs in chunks only to take snapshots or move a progress bar; chunking
    # changes nothing numerically (the same steps, the same random numbers)
    chunks = max(int(frames or 0), 10 if show_progress else 1)
    if frames and frames > 0:
        snaps.append(to_image(values).numpy())
    bounds = np.unique(np.linspace(0, steps, min(chunks, steps) + 1).round().astype(int))
    with progress(length=int(steps), label="dreaming", show=show_progress) as bar:
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            values, m, v = run(values, m, v, t.constant(int(a)), t.constant(int(b - a)))
            if frames and frames > 0:
                snaps.append(to_image(values).numpy())
            bar.update(int(b - a))

    img = to_image(values)
    final = objective(taps(img, img)).numpy()
    images = np.clip(img.numpy().astype(np.float32), 0.0, 1.0)
    return RenderResult(images=images, scores=final, frames=snaps)
