"""Dreams through a flow prior: the classifier steers a flow-matching model (`--prior flow`).

A pixel dream climbs an objective on the pixels themselves, so it ends wherever the classifier
is happiest, which is rarely where handwriting lives. Here the flow model
(`neuroart.generate.flow`) draws the digit and the objective only steers it: at each step of
the flow from noise (t = 0) to a digit (t = 1), the predicted clean digit
``x̂ = x_t + (1 - t)·v`` is shown to the classifier under a few random small transforms (the
dream loop's jitter, zoom and rotation: without them the gradient is an adversarial attack on
the classifier), and x̂ is moved up the gradient ``scale · ∇ mean_k objective(T_k(x̂))``: the
velocity becomes the one that lands on the moved x̂ (`Steering`).

Any objective of `neuroart.dream.objectives` steers: a class (its log-probability), a hidden
unit, ``class_logprob(3) + class_logprob(8)``. For a class objective the flow is also
conditioned on that class (cheaper and better than steering an unconditional flow); other
objectives use the unconditional flow. From a drawing, the flow starts part-way
(`strength`: 1 = from pure noise, 0.5 = the drawing half noised, SDEdit, Meng et al. 2022),
so the result keeps the drawer's hand.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .._util import tf
from ..generate.config import FLOW_NULL
from ..validate import finite, positive_int
from . import objectives as O
from . import transforms as TR
from .options import gradient as check_gradient
from .render import ModelTaps

#: The flow's label for "any digit" (its unconditional flow).
NULL = FLOW_NULL
#: Euler steps through a flow trained by flow matching (a few-step flow takes its own grid).
FLOW_STEPS = 25


@dataclasses.dataclass(frozen=True)
class FlowDreamConfig:
    """Defaults of a dream through the flow prior (the CLI reads them)."""

    steps: int | None = None  # Euler steps of the flow (None: a few-step flow's own, else 25)
    scale: float = 1.0  # strength of the classifier's steering (the dream's `steer`: bench_flow.py)
    views: int = 8  # random transforms the objective is averaged over, per step
    jitter: float = 2.0  # pixels
    zoom: float = 0.1  # +- zoom (scale 0.9 .. 1.1)
    rotate: float = 10.0  # +- degrees
    blur: float = 0.0  # the views' Gaussian blur (sigma, pixels, a random share of it per view)
    guidance: float = 0.0  # classifier-free guidance of the flow's own class conditioning
    strength: float = 0.9  # from a start image: how far back to noise it (1 = all the way; 0.7 kept too
    #                        little room to change the class in the few-step flow's 3 last steps)
    hand: float = 1.0  # from a start image: how strongly to keep its slant and stroke width, relative to `scale`
    flow: str = "flow"  # the flow model (bundled name or .keras path)
    gate: float = 1.0  # steer only the rows whose class probability is below this (the geometric mean
    #                    over the views, at each pass's predicted digit; 1 = every row; a class objective only)
    gradient: str = "ink"  # "clean": step the predicted clean digit up the objective (MPGD); "ink": step
    #                        its ink (multiplicatively: blank stays blank); "flow": the objective's gradient
    #                        taken through the flow back to x_t (DPS; ~2.5x the cost)


FLOW_DEFAULTS = FlowDreamConfig()


def check(cfg: FlowDreamConfig) -> FlowDreamConfig:
    """`cfg` with every number checked (one clear line for a bad one)."""
    if cfg.steps is not None:
        positive_int("steps", cfg.steps, high=1000)
    finite("scale", cfg.scale, low=0, high=1000)
    positive_int("views", cfg.views, high=64)
    finite("jitter", cfg.jitter, low=0, high=8)
    finite("zoom", cfg.zoom, low=0, high=0.5)
    finite("rotate", cfg.rotate, low=0, high=90)
    finite("blur", cfg.blur, low=0, high=4)
    finite("guidance", cfg.guidance, low=0, high=20)
    finite("strength", cfg.strength, low=0, low_open=True, high=1)
    finite("hand", cfg.hand, low=0, high=100)
    finite("gate", cfg.gate, low=0, low_open=True, high=1)
    check_gradient(cfg.gradient)
    return cfg


def load_flow(name="flow"):
    """The flow model by bundled name or ``.keras`` path (contract checked; a flow that has
    sampled on this machine before opens as a `generate.flow_graph.FlowFile`)."""
    from ..generate.flow_graph import load
    from ..models import check_model

    return check_model(name, "flow") if hasattr(name, "layers") else load(name, role="flow")


#: The spread of slant and stroke width over real test digits (`metrics.slant`, `metrics.thickness`):
#: the hand term counts a miss in these units.
SLANT_SPREAD, THICKNESS_SPREAD = 0.25, 0.5


def _hand(x):
    """(slant, stroke width) of digits x (N, 28, 28) in [0, 1] as TensorFlow ops, (N, 2): the
    measures of `metrics.slant` and `metrics.thickness`, differentiable."""
    T = tf()
    grid = T.range(28, dtype="float32")
    yy, xx = grid[None, :, None], grid[None, None, :]
    ink = T.reduce_sum(x, axis=(1, 2)) + 1e-6
    my = T.reduce_sum(x * yy, axis=(1, 2)) / ink
    mx = T.reduce_sum(x * xx, axis=(1, 2)) / ink
    dy, dx = yy - my[:, None, None], xx - mx[:, None, None]
    slant = -T.reduce_sum(x * dx * dy, axis=(1, 2)) / (T.reduce_sum(x * dy * dy, axis=(1, 2)) + 1e-6)
    p = T.pad(x, [[0, 0], [1, 1], [1, 1]])
    outline = (T.reduce_sum(T.abs(p[:, 1:, 1:-1] - p[:, :-1, 1:-1]), axis=(1, 2))
               + T.reduce_sum(T.abs(p[:, 1:-1, 1:] - p[:, 1:-1, :-1]), axis=(1, 2)))
    return T.stack([slant, 2.0 * ink / (outline + 1e-6)], axis=1)


def hand_of(images) -> np.ndarray:
    """(slant, stroke width) of digits (N, 28, 28) in [0, 1], (N, 2): what `hand` keeps, measured
    by `metrics.slant` and `metrics.thickness` themselves."""
    from ..metrics import slant, thickness

    return np.stack([slant(images), thickness(images)], axis=1).astype(np.float32)


class Steering:
    """The compiled steered velocity of one flow, classifier and objective.

    ``velocity(x_t, t, labels, targets, u, guidance, scale, style, hand)``: the flow's velocity v,
    steered by ``g = scale · ∇ mean_k objective(T_k(x̂))`` at ``x̂ = x_t + (1 - t)·v``, the
    predicted clean digit. `objective` is an `Objective`; or a function ``targets -> Objective``
    (`unit_objective`: each row's hidden unit), or None (each row's class log-probability): then
    the targets are an input and one compiled function serves any targets.

    With ``cfg.gradient == "clean"`` (manifold-preserving guidance, MPGD, He et al. 2024) g is
    taken at x̂ alone and x̂ is moved by ``t·g``: the velocity that lands there in the time left
    is ``v + t·g / (1 - t)``; one forward pass of the flow a step. ``t / (1 - t)`` is the ratio
    of signal to noise in x_t on the flow's straight paths: early, x̂ is the flow's blurred first
    guess, where a classifier trained on clean digits says little. With ``"ink"`` (the dream's
    default) the step is ``t·x̂·g``, pixel by pixel (x̂ clipped to [0, 1]): multiplicative, a
    step of log-ink (mirror ascent), so strokes are reshaped and blank paper stays blank. Moved
    by ``t·g``, the MLP's gradient leaves faint specks on the background that a pixel detector
    finds (61% against 54%, docs/flow.md); but a hidden unit's pattern needs new ink, which only
    "clean" draws (the neuron atlas). With ``"flow"`` (DPS, Chung et al. 2023) g is taken
    through the flow back to x_t and added to v: a backward pass through the flow as well, about
    2.5x the time; it keeps a drawing's hand far better (the studio's "Dream it into…").

    With ``cfg.gate`` < 1 (and the class objective) a row is steered at a pass only while the
    classifier's probability of its class at x̂ (the geometric mean over the views) is below the
    gate: the flow alone draws the rows the classifier already reads, so steering costs their
    realness and variety nothing (`neuroart dream`: `dreams.FLOW_GATE`).

    With ``hand`` > 0 the gradient also pulls x̂'s slant and stroke width towards each row's
    `style` (N, 2), counted in units of their spread over real digits, with weight
    ``scale · hand``: a drawing's hand, kept while the class changes, in proportion to how hard
    the class is pushed.
    """

    def __init__(self, flow, classifier, objective=None, *, cfg: FlowDreamConfig = FLOW_DEFAULTS):
        from ..generate.flow import times, velocity, velocity_fn

        T = tf()
        taps = classifier if isinstance(classifier, ModelTaps) else ModelTaps(classifier)
        transforms = TR.standard(cfg.jitter, cfg.zoom, cfg.rotate, cfg.blur)
        views = int(cfg.views)
        by_ink = cfg.gradient == "ink"

        def score(x, u, targets):
            if isinstance(objective, O.Objective):  # its targets (if any) fit one batch: view by view
                return sum(objective(taps(transforms.apply(x, u[k]), image=x)) for k in range(views)) / views
            # every view in one batch (views x N rows, view-major), each row's targets repeated
            n = T.shape(x)[0]
            many = T.tile(x, [views, 1, 1])
            obj = (objective or _logprob)(T.tile(targets, [views]))
            seen = obj(taps(transforms.apply(many, T.reshape(u, (-1, T.shape(u)[-1]))), image=many))
            return T.reduce_mean(T.reshape(seen, (views, n)), axis=0)

        spread = T.constant([SLANT_SPREAD, THICKNESS_SPREAD])

        gate = float(cfg.gate) if objective is None else 1.0

        def aim(x_hat, targets, u, scale, style, hand):
            miss = (_hand(T.clip_by_value(x_hat, 0.0, 1.0)) - style) / spread
            s = score(x_hat, u, targets)
            if gate < 1.0:  # rows the classifier already reads as their class are left to the flow
                s = s * T.stop_gradient(T.cast(s < float(np.log(gate)), s.dtype))
            return scale * (T.reduce_sum(s) - hand * 0.5 * T.reduce_sum(T.square(miss)))

        @T.function(autograph=False, reduce_retracing=True)
        def through(x, t, y, targets, u, w, scale, style, hand):
            with T.GradientTape() as tape:
                tape.watch(x)
                v = velocity(flow, x, times(x, t), y, w)
                x_hat = (x + (1.0 - t) * v + 1.0) * 0.5  # the predicted clean digit, in pixels
                s = aim(x_hat, targets, u, scale, style, hand)
            return v + tape.gradient(s, x)

        @T.function(autograph=False, reduce_retracing=True)
        def pull(x, v, t, targets, u, scale, style, hand):
            x_hat = (x + (1.0 - t) * v + 1.0) * 0.5
            with T.GradientTape() as tape:
                tape.watch(x_hat)
                s = aim(x_hat, targets, u, scale, style, hand)
            # x̂ moved by t·g, or t·x̂·g ("ink": blank paper left blank), in pixels (twice that in
            # flow space), over the time left
            g = tape.gradient(s, x_hat) * (T.clip_by_value(x_hat, 0.0, 1.0) if by_ink else 1.0)
            return v + 2.0 * t * g / (1.0 - t)

        flow_velocity = velocity_fn(flow)  # its graph kept between runs (`generate.flow_graph`)

        def clean(x, t, y, targets, u, w, scale, style, hand):
            return pull(x, flow_velocity(x, t, y, w), t, targets, u, scale, style, hand)

        self.velocity = through if cfg.gradient == "flow" else clean


_STEERING: dict = {}


def steering_for(flow, classifier, objective=None, *, cfg: FlowDreamConfig = FLOW_DEFAULTS) -> Steering:
    """A `Steering`; the steering by each row's class (objective None) or each row's unit
    (`unit_objective`) is compiled once per flow and classifier and kept (the studio dreams into
    any digit, and the neuron atlas runs its batches, without tracing again); a fixed
    `Objective`'s own is made anew."""
    if isinstance(objective, O.Objective):
        return Steering(flow, classifier, objective, cfg=cfg)
    model = getattr(classifier, "model", classifier)
    key = (id(flow), id(model), cfg.views, cfg.jitter, cfg.zoom, cfg.rotate, cfg.blur, cfg.gradient, cfg.gate,
           getattr(objective, "key", "class"))
    if key not in _STEERING or _STEERING[key][0] is not model or _STEERING[key][1] is not flow:
        if len(_STEERING) >= 8:
            _STEERING.pop(next(iter(_STEERING)))
        _STEERING[key] = (model, flow, Steering(flow, classifier, objective, cfg=cfg))
    return _STEERING[key][2]


def unit_objective(kind: str, layer: str):
    """``targets -> Objective``: each row's unit of `layer` (`kind` "neuron" or "channel", as in
    `neuroart.dream.objectives`), for a `Steering` that takes the units as an input."""
    make = O.neuron if kind == "neuron" else O.channel

    def of(targets):
        return make(layer, targets)

    of.key = (kind, layer)
    return of


def _logprob(targets):
    T = tf()

    def fn(Tap):
        return T.gather(T.nn.log_softmax(Tap("logits")), targets, axis=1, batch_dims=1)

    return O.Objective(fn, "class log-probability")


def _steer(steering: Steering, targets, u_rows, cfg: FlowDreamConfig, ts, style=None):
    """A ``steer(x_t, t, labels) -> v`` for `integrate` over the step times `ts`, reading step
    i's transforms from u_rows; `style` (N, 2): the hand to keep (None: none)."""
    T = tf()
    targets = T.constant(np.asarray(targets, np.int32))
    ts = np.asarray(ts, np.float64)[:-1]
    u_all = T.constant(np.transpose(u_rows, (1, 2, 0, 3)))  # (steps, views, N, 6)
    scale, w = T.constant(cfg.scale, "float32"), float(cfg.guidance)
    hand = T.constant(cfg.hand if style is not None else 0.0, "float32")
    style = T.constant(np.zeros((len(u_rows), 2), np.float32) if style is None else np.asarray(style, np.float32))

    def steer(x, t, y):
        i = int(np.argmin(np.abs(ts - float(t))))
        return steering.velocity(x, T.constant(t, "float32"), y, targets, u_all[i], w, scale, style, hand)

    return steer


def dream_flow(labels, *, classifier, objective=None, targets=None, cfg: FlowDreamConfig = FLOW_DEFAULTS,
               seed: int = 0, first: int = 0, start_images=None, progress=None, snapshots=None) -> np.ndarray:
    """Digits (N, 28, 28) in [0, 1] drawn by the flow and steered by `classifier`.

    `labels` (N,) condition the flow (0-9, or `NULL` for the unconditional flow); `objective`
    steers (None: the log-probability of `targets`, default `labels`; `unit_objective(kind,
    layer)`: each row's unit, `targets` holding the units). `start_images` (N, 28, 28)
    in [0, 1] start the flow part-way (``cfg.strength``), and ``cfg.hand`` keeps their slant and
    stroke width. Row i's randomness comes from
    (seed, first + i) alone, so shards of a job concatenate to the whole job. `progress(n)` is
    called after each step; `snapshots` (a list) receives the predicted digit at every step.
    """
    from ..generate.flow import finish, flow_times, integrate, model_grid, row_noise, to_flow

    cfg = check(cfg)
    flow = load_flow(cfg.flow)
    labels = np.asarray(labels, np.int64).reshape(-1)
    n = len(labels)
    targets = labels if targets is None else np.asarray(targets, np.int64).reshape(-1)
    steering = steering_for(flow, classifier, objective, cfg=cfg) if cfg.scale > 0 else None
    steps = cfg.steps if cfg.steps is not None or flow_times(flow) is not None else FLOW_STEPS
    ts = model_grid(flow, steps, 0.0 if start_images is None else 1.0 - float(cfg.strength))
    start = float(ts[0])  # a few-step flow starts at its grid time nearest 1 - strength
    x0 = row_noise(seed, n, first)
    if start_images is not None:
        x0 = (1.0 - start) * x0 + start * to_flow(start_images)
    k = len(ts) - 1
    u = np.stack([np.random.default_rng([int(seed), first + i, 1]).random((k, cfg.views, 6), np.float32)
                  for i in range(n)]) if n else np.zeros((0, k, cfg.views, 6), np.float32)
    style = hand_of(start_images) if steering is not None and start_images is not None and cfg.hand > 0 else None
    steer = _steer(steering, targets, u, cfg, ts, style) if steering is not None else None
    x = integrate(flow, x0, labels, steps=steps if flow_times(flow) is None else None, guidance=cfg.guidance,
                  start=start, steer=steer, progress=progress, snapshots=snapshots)
    return finish(flow, x)
