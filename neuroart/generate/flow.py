"""A flow-matching digit model: a small class-conditional U-Net and its samplers.

Rectified flow (Liu et al. 2023) / flow matching (Lipman et al. 2023): a straight path from
noise to data, ``x_t = (1 - t)·noise + t·data`` for t in [0, 1], and a network that predicts
the velocity ``v = data - noise`` from ``(x_t, t, label)``. Sampling integrates
``dx/dt = v(x_t, t, label)`` from pure noise at t = 0 to a digit at t = 1 in a few Euler (or
Heun) steps. Pixels live in [-1, 1] inside the flow and in [0, 1] everywhere else.

The label is 0-9, or `NULL` (10) for "any digit": training drops the label to `NULL` 10% of the
time, so one network is both the conditional and the unconditional flow, and classifier-free
guidance (Ho & Salimans 2022) mixes the two: ``v = (1 + w)·v(x, t, y) - w·v(x, t, NULL)``.

`integrate` runs the sampler step by step and lets a caller steer each step through a
``steer(x_t, t, v) -> dv`` function (the dream pipeline adds the gradient of a classifier
objective through the predicted clean digit ``x̂ = x_t + (1 - t)·v``).

Importing this module imports TensorFlow (it registers a Keras layer).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .._util import NeuroartError, tf
from ..models import register_family
from .config import (
    FLOW_NULL,
    FLOW_SAMPLE_DEFAULTS,
    GUIDANCE_WINDOW,
    check_few_step,
    check_guidance,
    check_solver,
    check_spacing,
    check_steps,
)

#: The label that means "no class" (classifier-free guidance and unconditional sampling).
NULL = FLOW_NULL


@dataclasses.dataclass(frozen=True)
class FlowConfig:
    """Architecture and training defaults of the flow U-Net (the card records them)."""

    channels: tuple[int, int, int] = (32, 64, 96)  # feature maps at 28, 14 and 7 pixels
    blocks: tuple[int, int, int] = (1, 1, 1)  # residual blocks per level, down and up
    attention: bool = False  # self-attention in the middle, at 7 pixels (tried: docs/flow.md)
    norm: bool = True  # GroupNorm in every block, the embedding as scale and shift (FiLM)
    embed: int = 128  # width of the time + class embedding
    epochs: int = 20  # passes over the 60k training digits
    batch_size: int = 128
    learning_rate: float = 1e-3  # Adam, 500 warm-up steps, then cosine decay to 10%
    label_dropout: float = 0.1  # share of labels replaced by NULL (classifier-free guidance)
    ema: float = 0.999  # the saved weights are this exponential moving average
    seed: int = 0


#: Sampling defaults (`generate --model flow` and the card's sample grid read them).
SAMPLE_DEFAULTS = FLOW_SAMPLE_DEFAULTS

# --------------------------------------------------------------------------- architecture

tf()
import keras as k  # noqa: E402  (Keras 3; `tf()` set the TensorFlow backend first)

L = k.layers

from .flow_layers import GroupNorm, ScaleShift, StepTimes, TimeEmbedding  # noqa: E402


def flow_times(model) -> np.ndarray | None:
    """The step times of a few-step flow (K + 1 of them, 0 to 1), or None for a flow that samples
    on any grid (one trained by flow matching)."""
    for layer in getattr(model, "layers", ()):
        if isinstance(layer, StepTimes):
            return np.asarray(layer.times, np.float32)
    return None


def _res_block(h, emb, ch: int, name: str, norm: bool = True):
    """A residual block conditioned on the time + class embedding; its last convolution starts at
    zero, so every block starts as the identity.

    With `norm` (the bundled model): GroupNorm, swish, conv, GroupNorm scaled and shifted by the
    embedding (FiLM), swish, conv. Without: swish, conv, + the embedding as a shift, swish, conv
    (no normalisation; the first bundled flow).
    """
    skip = h if h.shape[-1] == ch else L.Conv2D(ch, 1, name=f"{name}_skip")(h)
    if norm:
        h = GroupNorm(8, name=f"{name}_norm1")(h)
    h = L.Activation("swish", name=f"{name}_act1")(h)
    h = L.Conv2D(ch, 3, padding="same", name=f"{name}_conv1")(h)
    if norm:
        film = L.Dense(2 * ch, name=f"{name}_embed")(emb)
        h = ScaleShift(name=f"{name}_film")([GroupNorm(8, name=f"{name}_norm2")(h), film])
    else:
        shift = L.Reshape((1, 1, ch), name=f"{name}_shift")(L.Dense(ch, name=f"{name}_embed")(emb))
        h = L.Add(name=f"{name}_with_embed")([h, shift])
    h = L.Activation("swish", name=f"{name}_act2")(h)
    h = L.Conv2D(ch, 3, padding="same", kernel_initializer="zeros", name=f"{name}_conv2")(h)
    return L.Add(name=f"{name}_out")([skip, h])


def _attention(h, name: str):
    """Self-attention over the 7x7 positions (pre-LayerNorm, residual, zero-initialised output):
    lets every stroke see the whole digit, at a few thousand multiply-adds per position."""
    size, ch = h.shape[1], h.shape[-1]
    seq = L.Reshape((size * size, ch), name=f"{name}_seq")(h)
    q = L.LayerNormalization(name=f"{name}_norm")(seq)
    a = L.MultiHeadAttention(4, ch // 4, output_shape=ch, name=f"{name}_mha")(q, q)
    a = L.Dense(ch, kernel_initializer="zeros", name=f"{name}_proj")(a)
    return L.Reshape((size, size, ch), name=f"{name}_grid")(L.Add(name=f"{name}_out")([seq, a]))


def build_flow(config: FlowConfig | None = None, *, times=None):
    """The U-Net: inputs ``x`` (N, 28, 28) in [-1, 1], ``t`` (N, 1), ``label`` (N, 1) int 0-10;
    output the velocity (N, 28, 28). With `times` (a few-step flow's grid) the model carries
    them (`StepTimes`); the weights are the same either way.

    `blocks` residual blocks per level on the way down and on the way up (the first block up
    takes the level's skip connection), one more in the middle at 7 px, with self-attention
    there when `attention` is set.
    """
    cfg = config or FlowConfig()
    c1, c2, c3 = cfg.channels
    x_in = k.Input((28, 28), name="x")
    t_in = k.Input((1,), name="t")
    y_in = k.Input((1,), dtype="int32", name="label")
    t = StepTimes(times, name="step_times")(t_in) if times is not None else t_in
    emb = TimeEmbedding(64, name="time_features")(t)
    emb = L.Dense(cfg.embed, activation="swish", name="time_mlp1")(emb)
    emb = L.Dense(cfg.embed, name="time_mlp2")(emb)
    label = L.Flatten(name="label_flat")(L.Embedding(NULL + 1, cfg.embed, name="label_embed")(y_in))
    emb = L.Activation("swish", name="embed")(L.Add(name="time_and_label")([emb, label]))

    def level(h, ch, n, name, skip=None):
        for i in range(n):
            if i == 0 and skip is not None:
                h = L.Concatenate(name=name.replace("up", "skip"))([h, skip])
            h = _res_block(h, emb, ch, name if i == 0 else f"{name}_{i + 1}", cfg.norm)
        return h

    b1, b2, b3 = cfg.blocks
    h = L.Conv2D(c1, 3, padding="same", name="stem")(L.Reshape((28, 28, 1), name="to_channels")(x_in))
    h28 = level(h, c1, b1, "down28")
    h14 = level(L.Conv2D(c2, 3, strides=2, padding="same", name="pool28")(h28), c2, b2, "down14")
    h7 = level(L.Conv2D(c3, 3, strides=2, padding="same", name="pool14")(h14), c3, b3, "down7")
    h = _res_block(h7, emb, c3, "mid7", cfg.norm)
    if cfg.attention:
        h = _attention(h, "attn7")
    h = level(h, c3, b3, "up7", skip=h7)
    h = L.Conv2D(c2, 3, padding="same", name="grow7")(L.UpSampling2D(2, name="up_to14")(h))
    h = level(h, c2, b2, "up14", skip=h14)
    h = L.Conv2D(c1, 3, padding="same", name="grow14")(L.UpSampling2D(2, name="up_to28")(h))
    h = level(h, c1, b1, "up28", skip=h28)
    if cfg.norm:
        h = GroupNorm(8, name="head_norm")(h)
    h = L.Conv2D(1, 3, padding="same", name="head")(L.Activation("swish", name="head_act")(h))
    out = L.Reshape((28, 28), name="velocity")(h)
    return k.Model([x_in, t_in, y_in], out, name="flow")


def is_flow(model) -> bool:
    """Whether a Keras model is a neuroart flow (a functional model holding a `TimeEmbedding`)."""
    try:
        return any(isinstance(layer, TimeEmbedding) for layer in model.layers)
    except (AttributeError, TypeError):
        return False


def _contract(model, role: str, src: str):
    """What a flow may serve (registered with `neuroart.models`): the ``flow`` role only."""
    if role == "flow":
        return model
    if role == "classifier":
        raise NeuroartError(f"{src}: a flow model, not a digit classifier")
    raise NeuroartError(f"{src}: a flow model, not a {role} (use it with --model flow or --prior flow)")


register_family(is_flow, _contract, roles=("flow",))


# --------------------------------------------------------------------------- sampling


def velocity(model, x, t, y, w: float = 0.0):
    """The velocity at ``(x, t)`` for labels y, as TensorFlow ops (inside a compiled function).

    t is (N, 1); with guidance w > 0 the batch runs twice in one call (labels, then NULL) and
    mixes ``(1 + w)·v_cond - w·v_null``; rows already NULL are unaffected by w. `model` is the
    flow, or any ``(inputs, training=False) -> v`` (`flow_graph` passes its stateless call).
    """
    if not w:
        return model([x, t, y], training=False)
    T = tf()
    n = T.shape(x)[0]
    v = model([T.concat([x, x], 0), T.concat([t, t], 0), T.concat([y, T.fill(T.shape(y), NULL)], 0)],
              training=False)
    return (1.0 + w) * v[:n] - w * v[n:]


def times(x, t):
    """t (a number) as the (N, 1) time column of batch x."""
    T = tf()
    return T.fill((T.shape(x)[0], 1), T.cast(t, "float32"))


_VELOCITY: dict = {}


def velocity_fn(model):
    """A compiled ``(x, t, labels, guidance) -> v`` for `model` (cached per model).

    With guidance w > 0 the batch runs twice in one call (labels, then NULL) and mixes
    ``(1 + w)·v_cond - w·v_null``; rows already NULL are unaffected by w. Each guidance weight's
    graph is traced once per machine and kept (`flow_graph`), not once per process.
    """
    key = id(model)
    if key in _VELOCITY and _VELOCITY[key][0] is model:
        return _VELOCITY[key][1]
    T = tf()
    graphs: dict = {}

    def fn(x, t, y, w: float = 0.0):  # t a number (a tensor: no retracing), w a number (a graph each)
        w = float(w)
        if w not in graphs:
            graphs[w] = _velocity_graph(model, w)
        return graphs[w](T.convert_to_tensor(x, "float32"), T.constant(t, "float32"), T.convert_to_tensor(y, "int32"))

    _VELOCITY[key] = (model, fn)
    return fn


def _velocity_graph(model, w: float):
    """`flow_graph.velocity_graph`, or, for a model it cannot keep (no config, an unusual
    graph), the velocity traced in this process."""
    from .flow_graph import velocity_graph

    def ops(net, x, t, y):  # t a scalar tensor
        return velocity(net, x, times(x, t), y, w)

    try:
        return velocity_graph(model, w, ops)
    except (NotImplementedError, RuntimeError, ImportError, AttributeError):
        T = tf()

        return T.function(lambda x, t, y: ops(model, x, t, y), reduce_retracing=True, autograph=False)


def time_grid(steps: int, start: float = 0.0, spacing: float = 1.0) -> np.ndarray:
    """`steps + 1` times from `start` to 1: ``start + (1 - start)·u**spacing`` for u evenly
    spaced in [0, 1] (1 = even steps; 2 = bunched toward the noise, where the paths bend most)."""
    u = np.linspace(0.0, 1.0, int(steps) + 1, dtype=np.float64) ** float(spacing)
    return (float(start) + (1.0 - float(start)) * u).astype(np.float32)


def model_grid(model, steps: int | None = None, start: float = 0.0, spacing: float = 1.0) -> np.ndarray:
    """The times a flow steps through from `start` to 1: a few-step flow's own grid (from the
    grid time nearest `start`; `steps` must be None), else `time_grid(steps, start, spacing)`."""
    own = flow_times(model)
    if own is None:
        return time_grid(SAMPLE_DEFAULTS["steps"] if steps is None else steps, start, spacing)
    check_few_step(len(own) - 1, steps=steps)
    return own[int(np.argmin(np.abs(own[:-1] - float(start)))):]


def passes(model, steps: int | None = None, guidance: float = 0.0, start: float = 0.0,
           spacing: float = 1.0, guidance_window: tuple[float, float] = GUIDANCE_WINDOW) -> int:
    """Network passes a digit costs with these settings (guided steps count twice)."""
    ts = model_grid(model, steps, start, spacing)[:-1]
    return int(len(ts) + (np.sum((ts >= guidance_window[0]) & (ts < guidance_window[1])) if guidance else 0))


def integrate(model, x0, labels, *, steps: int | None = 25, guidance: float = 0.0, solver: str = "euler",
              start: float = 0.0, steer=None, progress=None, snapshots: list | None = None,
              guidance_window: tuple[float, float] = GUIDANCE_WINDOW, spacing: float = 1.0) -> np.ndarray:
    """Integrate the flow from `x0` (N, 28, 28) in flow space at time `start` to t = 1.

    The steps' times are `model_grid` (a few-step flow's own, with `steps` None; else
    `time_grid`, `spacing` 1: even). Classifier-free `guidance` acts at the steps whose time lies
    in `guidance_window`.
    `steer(x, t, labels) -> v`, if given, replaces the flow's own velocity (a steered one, made
    from it: `neuroart.dream.flowdream`). `progress(n)` is called after each step. `snapshots`,
    a list, receives the predicted clean digit (pixels) at every step and the result (an
    animation of the dream). Returns flow-space images (N, 28, 28).
    """
    T = tf()
    v_of = velocity_fn(model)
    y = T.constant(np.asarray(labels, np.int32).reshape(-1, 1))
    x = T.constant(np.asarray(x0, np.float32))
    w = float(guidance)

    def velocity(x, t):
        return steer(x, t, y) if steer is not None else v_of(x, t, y, w if guidance_window[0] <= t < guidance_window[1] else 0.0)

    ts = model_grid(model, steps, start, spacing)
    for i in range(len(ts) - 1):
        t0, t1 = float(ts[i]), float(ts[i + 1])
        v0 = velocity(x, t0)
        if snapshots is not None:
            snapshots.append(finish(model, x + (1.0 - t0) * v0))
        if solver == "heun" and t1 < 1.0:
            x1 = x + (t1 - t0) * v0
            x = x + (t1 - t0) * 0.5 * (v0 + velocity(x1, t1))
        else:
            x = x + (t1 - t0) * v0
        if progress is not None:
            progress(1)
    if snapshots is not None:
        snapshots.append(finish(model, x))
    return np.asarray(x)


def finish(model, x) -> np.ndarray:
    """Flow space -> pixels in [0, 1], through a few-step flow's ink levels when it has them."""
    pixels = to_pixels(x)
    for layer in getattr(model, "layers", ()):
        if isinstance(layer, StepTimes) and layer.levels is not None:
            return np.interp(pixels, *layer.levels).astype(np.float32)
    return pixels


def to_pixels(x) -> np.ndarray:
    """Flow space [-1, 1] -> float32 pixels in [0, 1]."""
    return np.clip((np.asarray(x, np.float32) + 1.0) * 0.5, 0.0, 1.0)


def to_flow(images) -> np.ndarray:
    """Pixels [0, 1] -> flow space [-1, 1]."""
    return np.asarray(images, np.float32) * 2.0 - 1.0


def sampling(model, *, steps=None, guidance=None, solver=None, spacing=None) -> dict:
    """The sampler settings for `model`, each None meaning the model's own: a few-step flow samples
    on its grid without guidance (it was distilled from a guided sampler) and refuses any other
    setting in one line; a flow-matching flow fills the gaps from `SAMPLE_DEFAULTS`."""
    if flow_times(model) is not None:
        check_few_step(len(flow_times(model)) - 1, steps=steps, guidance=guidance, solver=solver, spacing=spacing)
        return {"steps": None, "guidance": 0.0, "solver": "euler", "spacing": 1.0}
    d = SAMPLE_DEFAULTS
    return {"steps": check_steps(d["steps"] if steps is None else steps),
            "guidance": check_guidance(d["guidance"] if guidance is None else guidance),
            "solver": check_solver(d["solver"] if solver is None else solver),
            "spacing": check_spacing(d["spacing"] if spacing is None else spacing)}


def sample(model, labels, *, steps: int | None = None, guidance: float | None = None, solver: str | None = None,
           spacing: float | None = None, seed: int = 0, batch: int = 500, progress=None) -> np.ndarray:
    """Digits (N, 28, 28) in [0, 1] for `labels` (0-9, or `NULL` for any digit); the sampler
    settings left None are the model's own (`sampling`).

    Row i's starting noise depends on (seed, i) only, so a longer run starts from the same noise
    as a shorter one (the same bytes need the same batches: `generate_rows` fixes them).
    """
    labels = np.asarray(labels, np.int64).reshape(-1)
    how = sampling(model, steps=steps, guidance=guidance, solver=solver, spacing=spacing)
    noise = row_noise(seed, len(labels))
    out = [integrate(model, noise[i : i + batch], labels[i : i + batch], **how, progress=progress)
           for i in range(0, len(labels), batch)]
    return finish(model, np.concatenate(out)) if out else np.zeros((0, 28, 28), np.float32)


def row_noise(seed: int, n: int, first: int = 0) -> np.ndarray:
    """Standard normal starting points (n, 28, 28): row i from its own stream (seed, first + i)."""
    return np.stack([np.random.default_rng([int(seed), first + i]).standard_normal((28, 28))
                     for i in range(n)]).astype(np.float32) if n else np.zeros((0, 28, 28), np.float32)


#: Digits per batch of `generate_rows` (fewer when the whole job is smaller).
BATCH = 100


def job_batch(n_labels: int) -> int:
    """The one batch size of every batch of a `generate_rows` job over `n_labels` digits."""
    return max(1, min(BATCH, int(n_labels)))


def generate_rows(model, labels, *, per_digit: int, rows: range, steps: int | None = None,
                  guidance: float | None = None, solver: str | None = None, spacing: float | None = None,
                  seed: int = 0, progress=None) -> np.ndarray:
    """Digits (in [0, 1]) for grid rows `rows` (``per_digit`` labels each) of a job over `labels`;
    the sampler settings left None are the model's own (`sampling`).

    Item i's noise comes from (seed, i) alone, and every batch of the job has the same size,
    ``min(BATCH, len(labels))`` (a shard's last batch is padded to it): TensorFlow's CPU kernels
    give a digit the same bytes wherever it sits in a batch of a given size, but not at another
    size. So any split of the rows into shards gives, concatenated, the same bytes as the whole
    job, and a 10 x 10 grid is one batch (about 0.65x the time of a batch per row). `progress(1)`
    is called after each step of each batch: ``steps · ceil(digits / batch size)`` calls.
    """
    how = sampling(model, steps=steps, guidance=guidance, solver=solver, spacing=spacing)
    labels = np.asarray(labels, np.int64)
    items = range(rows.start * per_digit, rows.stop * per_digit)
    size = job_batch(len(labels))
    out = [np.zeros((0, 28, 28), np.float32)]
    for a in range(items.start, items.stop, size):
        n = min(size, items.stop - a)
        noise = np.concatenate([row_noise(seed, n, a), np.zeros((size - n, 28, 28), np.float32)])
        batch = np.concatenate([labels[a : a + n], np.full(size - n, NULL, np.int64)])
        x = integrate(model, noise, batch, **how, progress=progress)
        out.append(finish(model, x[:n]))
    return np.concatenate(out)
