"""Dreams through a flow prior: the classifier steers a flow-matching model (`--prior flow`).

A pixel dream climbs an objective on the pixels themselves, so it ends wherever the classifier
is happiest, which is rarely where handwriting lives. Here the flow model
(`neuroart.generate.flow`) draws the digit and the objective only steers it: at each step of
the flow from noise (t = 0) to a digit (t = 1), the predicted clean digit
``x̂ = x_t + (1 - t)·v`` is shown to the classifier under a few random small transforms (the
dream loop's jitter, zoom and rotation: without them the gradient is an adversarial attack on
the classifier), and ``scale · ∇ mean_k objective(T_k(x̂))`` is added to the velocity.

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
from ..validate import finite, positive_int
from . import objectives as O
from . import transforms as TR
from .render import ModelTaps

#: The flow's label for "any digit" (its unconditional flow), as in `neuroart.generate.flow`.
NULL = 10


@dataclasses.dataclass(frozen=True)
class FlowDreamConfig:
    """Defaults of a dream through the flow prior (the CLI reads them)."""

    steps: int = 50  # Euler steps of the flow
    scale: float = 20.0  # strength of the classifier's steering
    views: int = 8  # random transforms the objective is averaged over, per step
    jitter: float = 2.0  # pixels
    zoom: float = 0.1  # +- zoom (scale 0.9 .. 1.1)
    rotate: float = 10.0  # +- degrees
    guidance: float = 0.0  # classifier-free guidance of the flow's own class conditioning
    strength: float = 0.6  # from a start image: how far back to noise it (1 = all the way)
    flow: str = "flow"  # the flow model (bundled name or .keras path)


FLOW_DEFAULTS = FlowDreamConfig()


def check(cfg: FlowDreamConfig) -> FlowDreamConfig:
    """`cfg` with every number checked (one clear line for a bad one)."""
    positive_int("steps", cfg.steps, high=1000)
    finite("scale", cfg.scale, low=0, high=1000)
    positive_int("views", cfg.views, high=64)
    finite("jitter", cfg.jitter, low=0, high=8)
    finite("zoom", cfg.zoom, low=0, high=0.5)
    finite("rotate", cfg.rotate, low=0, high=90)
    finite("guidance", cfg.guidance, low=0, high=20)
    finite("strength", cfg.strength, low=0, low_open=True, high=1)
    return cfg


def load_flow(name="flow"):
    """The flow model by bundled name or ``.keras`` path (contract checked)."""
    from ..models import check_model, load_model

    return check_model(name, "flow") if hasattr(name, "layers") else load_model(name, role="flow")


class Steering:
    """The compiled ``(x̂ pixels, u, labels) -> ∇ mean_k objective`` of one classifier and objective.

    `objective` is an `Objective`, or None for the class log-probability of each row's label
    (the labels are then an input, so one compiled function serves every target digit).
    """

    def __init__(self, classifier, objective=None, *, cfg: FlowDreamConfig = FLOW_DEFAULTS):
        T = tf()
        self.taps = classifier if isinstance(classifier, ModelTaps) else ModelTaps(classifier)
        self.transforms = TR.standard(cfg.jitter, cfg.zoom, cfg.rotate)
        self.views = int(cfg.views)
        self.objective = objective
        taps, transforms, views = self.taps, self.transforms, self.views

        def score(x, u, labels):
            obj = objective if objective is not None else _logprob(labels)
            total = 0.0
            for k in range(views):
                total += obj(taps(transforms.apply(x, u[k]), image=x))
            return total / views

        @T.function(autograph=False, reduce_retracing=True)
        def grad(x, u, labels):
            with T.GradientTape() as tape:
                tape.watch(x)
                s = T.reduce_sum(score(x, u, labels))
            return tape.gradient(s, x)

        self.grad = grad


_STEERING: dict = {}


def steering_for(classifier, objective=None, *, cfg: FlowDreamConfig = FLOW_DEFAULTS) -> Steering:
    """A `Steering`; the class steering of a classifier is compiled once and kept (the studio
    dreams into any digit without tracing again), an objective's own is made anew."""
    if objective is not None:
        return Steering(classifier, objective, cfg=cfg)
    model = getattr(classifier, "model", classifier)
    key = (id(model), cfg.views, cfg.jitter, cfg.zoom, cfg.rotate)
    if key not in _STEERING or _STEERING[key][0] is not model:
        if len(_STEERING) >= 8:
            _STEERING.pop(next(iter(_STEERING)))
        _STEERING[key] = (model, Steering(classifier, None, cfg=cfg))
    return _STEERING[key][1]


def _logprob(labels):
    T = tf()

    def fn(Tap):
        return T.gather(T.nn.log_softmax(Tap("logits")), labels, axis=1, batch_dims=1)

    return O.Objective(fn, "class log-probability")


def _steer(steering: Steering, labels, u_rows, scale: float, steps: int, start: float):
    """A ``steer(x_t, t, v) -> dv`` for `integrate`, reading step i's transforms from u_rows."""
    T = tf()
    y = T.constant(np.asarray(labels, np.int32))
    dt = (1.0 - start) / steps
    u_all = T.constant(np.transpose(u_rows, (1, 2, 0, 3)))  # (steps, views, N, 6)

    def steer(x, t, v):
        i = min(int(round((float(t) - start) / dt)), steps - 1)
        x_hat = (x + (1.0 - float(t)) * v + 1.0) * 0.5  # the predicted clean digit, in pixels
        return scale * steering.grad(x_hat, u_all[i], y)

    return steer


def dream_flow(labels, *, classifier, objective=None, targets=None, cfg: FlowDreamConfig = FLOW_DEFAULTS,
               seed: int = 0, first: int = 0, start_images=None, progress=None, snapshots=None) -> np.ndarray:
    """Digits (N, 28, 28) in [0, 1] drawn by the flow and steered by `classifier`.

    `labels` (N,) condition the flow (0-9, or `NULL` for the unconditional flow); `objective`
    steers (None: the log-probability of `targets`, default `labels`). `start_images` (N, 28, 28)
    in [0, 1] start the flow part-way (``cfg.strength``). Row i's randomness comes from
    (seed, first + i) alone, so shards of a job concatenate to the whole job. `progress(n)` is
    called after each step; `snapshots` (a list) receives the predicted digit at every step.
    """
    from ..generate.flow import integrate, row_noise, to_flow, to_pixels

    cfg = check(cfg)
    flow = load_flow(cfg.flow)
    labels = np.asarray(labels, np.int64).reshape(-1)
    n = len(labels)
    targets = labels if targets is None else np.asarray(targets, np.int64).reshape(-1)
    steering = steering_for(classifier, objective, cfg=cfg) if cfg.scale > 0 else None
    start = 0.0 if start_images is None else 1.0 - float(cfg.strength)
    x0 = row_noise(seed, n, first)
    if start_images is not None:
        x0 = (1.0 - start) * x0 + start * to_flow(start_images)
    u = np.stack([np.random.default_rng([int(seed), first + i, 1]).random((cfg.steps, cfg.views, 6), np.float32)
                  for i in range(n)]) if n else np.zeros((0, cfg.steps, cfg.views, 6), np.float32)
    steer = _steer(steering, targets, u, cfg.scale, cfg.steps, start) if steering is not None else None
    x = integrate(flow, x0, labels, steps=cfg.steps, guidance=cfg.guidance, start=start, steer=steer,
                  progress=progress, snapshots=snapshots)
    return to_pixels(x)
