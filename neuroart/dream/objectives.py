"""What to maximise: objectives that combine with ``+``, ``-`` and ``*``.

Shaped like lucid's ``optvis/objectives.py``. An :class:`Objective` wraps a function
``T -> tensor (N,)`` -- one score per image in the batch -- where ``T(name)`` gives the
activations the model computed for the batch:

- ``T("image")``  the images as parameterised, before the random transforms, (N, 28, 28)
- ``T("input")``  the images actually fed to the model (after transforms), (N, 28, 28)
- ``T("logits")`` the pre-softmax scores of the last Dense layer, (N, 10)
- ``T("probs")``  the softmax probabilities, (N, 10)
- ``T(layer_name)`` the output of any layer of the model

So a dream is a sentence::

    obj = class_logit(7) - 0.05 * total_variation() - 0.01 * l2()

Scores are per image so that one batch can hold every target digit at once; the render
loop maximises their sum. Penalties default to ``"image"`` (the picture you will look at).
"""

from __future__ import annotations

import numbers

import numpy as np

from .._util import NeuroartError, tf

#: The names `T(name)` knows besides the model's own layers (see above): never a layer dependency.
RESERVED = ("image", "input", "logits", "probs")


class Objective:
    """A function of the model's activations, returning one score per image; combine freely.

    ``a + b``, ``a - b``, ``2 * a``, ``a * b`` and ``-a`` all give new objectives.
    """

    def __init__(self, fn, description: str = "", layers: tuple = ()):
        self.fn = fn
        self.description = description or getattr(fn, "__name__", "objective")
        self.layers = tuple(layers)  # layer names this objective reads (validated up front)

    def __call__(self, T):
        return self.fn(T)

    # -- algebra -----------------------------------------------------------------------
    def __add__(self, other):
        if isinstance(other, numbers.Number):
            return Objective(lambda T: self(T) + float(other), f"({self} + {other})", self.layers)
        other = as_objective(other)
        return Objective(
            lambda T: self(T) + other(T), f"({self} + {other})", self.layers + other.layers
        )

    __radd__ = __add__

    def __neg__(self):
        return Objective(lambda T: -self(T), f"-{self}", self.layers)

    def __sub__(self, other):
        return self + (-other if isinstance(other, numbers.Number) else -as_objective(other))

    def __rsub__(self, other):
        return (-self) + other

    def __mul__(self, other):
        if isinstance(other, numbers.Number):
            w = float(other)
            return Objective(lambda T: w * self(T), f"{other}*{self}", self.layers)
        other = as_objective(other)
        return Objective(
            lambda T: self(T) * other(T), f"{self}*{other}", self.layers + other.layers
        )

    __rmul__ = __mul__

    def __str__(self):
        return self.description

    __repr__ = __str__


def as_objective(obj) -> Objective:
    """An Objective as is; a string ``"layer:unit"`` becomes :func:`neuron`; ``"layer"`` :func:`layer`."""
    if isinstance(obj, Objective):
        return obj
    if isinstance(obj, str):
        name, _, unit = obj.partition(":")
        return neuron(name, int(unit)) if unit else layer(name)
    if callable(obj):
        return Objective(obj)
    raise NeuroartError(f"not an objective: {obj!r}")


def _targets(target):
    """An int, or one target per image (array-like of ints) -> int or int32 ndarray; a
    TensorFlow tensor (targets fed to a compiled function) passes as it is."""
    if _is_tensor(target):
        return target
    if isinstance(target, numbers.Integral):
        return int(target)
    arr = np.asarray(target)
    if arr.ndim == 0:
        return int(arr)
    return arr.astype(np.int32)


def _pick(scores, target):
    """scores (N, K); target int or (N,) ints -> (N,)."""
    t = tf()
    if isinstance(target, int):
        return scores[:, target]
    return t.gather(scores, target if _is_tensor(target) else t.constant(target), axis=1, batch_dims=1)


def _is_tensor(v) -> bool:
    return type(v).__module__.startswith("tensorflow")


def _flat(x):
    t = tf()
    return t.reshape(x, [t.shape(x)[0], -1])


# -- class objectives -------------------------------------------------------------------------


def class_logit(target) -> Objective:
    """The pre-softmax score of digit ``target`` (an int, or one digit per image).

    Logits rather than the softmax: raising the softmax can also be done by lowering the other
    classes, which makes noise; the logit must be earned (keras-vis's advice, Simonyan 2014).
    """
    tgt = _targets(target)
    return Objective(lambda T: _pick(T("logits"), tgt), f"class_logit({_short(target)})")


def class_prob(target) -> Objective:
    """The softmax probability of digit ``target`` (an int, or one digit per image)."""
    tgt = _targets(target)
    return Objective(lambda T: _pick(T("probs"), tgt), f"class_prob({_short(target)})")


def class_logprob(target, temperature: float = 1.0) -> Objective:
    """log p(target | image) (the cross-entropy towards ``target``, negated).

    Unlike the logit it saturates once the classifier is sure, so penalties can then tidy the
    image; a ``temperature`` > 1 (softmax of logits / T) makes it saturate later.
    """
    t = tf()
    tgt = _targets(target)
    tau = float(temperature)
    return Objective(
        lambda T: _pick(t.nn.log_softmax(T("logits") / tau), tgt), f"class_logprob({_short(target)})"
    )


# -- hidden units and layers ------------------------------------------------------------------


def neuron(layer_name: str, unit, x: int | None = None, y: int | None = None) -> Objective:
    """One unit of a Dense layer, or one channel of a Conv layer at (x, y) (default: centre).

    ``unit`` is an int or one unit per image.
    """
    u = _targets(unit)

    def fn(T):
        act = T(layer_name)
        if act.shape.rank == 4:
            h, w = act.shape[1], act.shape[2]
            yy = h // 2 if y is None else y
            xx = w // 2 if x is None else x
            act = act[:, yy, xx, :]
        elif act.shape.rank != 2:
            act = _flat(act)
        return _pick(act, u)

    return Objective(fn, f"neuron({layer_name}, {_short(unit)})", (layer_name,))


def channel(layer_name: str, unit) -> Objective:
    """The mean of one channel of a Conv layer over all positions (a Dense unit for Dense)."""
    t = tf()
    u = _targets(unit)

    def fn(T):
        act = T(layer_name)
        if act.shape.rank == 4:
            act = t.reduce_mean(act, axis=[1, 2])
        elif act.shape.rank != 2:
            act = _flat(act)
        return _pick(act, u)

    return Objective(fn, f"channel({layer_name}, {_short(unit)})", (layer_name,))


def layer(layer_name: str) -> Objective:
    """The activation energy of a whole layer, mean(a**2): the DeepDream objective."""
    t = tf()
    return Objective(
        lambda T: t.reduce_mean(t.square(_flat(T(layer_name))), axis=1),
        f"layer({layer_name})",
        (layer_name,),
    )


# -- batch diversity --------------------------------------------------------------------------


def diversity(layer_name: str = "image", groups=None) -> Objective:
    """Minus the mean cosine similarity of each image to the others of its group (at a layer).

    ``groups`` (one label per image, e.g. the target digits) restricts the comparison to images
    of the same group, so that ten 7s are pushed apart from each other, not from the 3s.
    """
    t = tf()
    g = None if groups is None else np.asarray(groups)

    def fn(T):
        f = _flat(T(layer_name))
        f = f - t.reduce_mean(f, axis=1, keepdims=True)
        f = t.math.l2_normalize(f, axis=1, epsilon=1e-8)
        sim = t.matmul(f, f, transpose_b=True)
        n = t.shape(f)[0]
        if g is None:
            mask = 1.0 - t.eye(n)
        else:
            same = (g[:, None] == g[None, :]).astype(np.float32)
            mask = t.constant(same) * (1.0 - t.eye(n))
        cnt = t.maximum(t.reduce_sum(mask, axis=1), 1.0)
        return -t.reduce_sum(sim * mask, axis=1) / cnt

    return Objective(fn, f"diversity({layer_name})", _layer_dep(layer_name))


# -- penalties (subtract them) ----------------------------------------------------------------


def _mean_penalty(op, label: str, layer_name: str, constant: float) -> Objective:
    """Mean op(x - constant) per image, x the layer's (flattened) values."""
    t = tf()
    return Objective(
        lambda T: t.reduce_mean(op(_flat(T(layer_name)) - constant), axis=1),
        f"{label}({layer_name})",
        _layer_dep(layer_name),
    )


def l1(layer_name: str = "image", constant: float = 0.0) -> Objective:
    """Mean |x - constant| per image (subtract it: sparse strokes on a black ground)."""
    return _mean_penalty(tf().abs, "l1", layer_name, constant)


def l2(layer_name: str = "image", constant: float = 0.0) -> Objective:
    """Mean (x - constant)**2 per image."""
    return _mean_penalty(tf().square, "l2", layer_name, constant)


def total_variation(layer_name: str = "image", power: float = 1.0) -> Objective:
    """Sum of |neighbour differences|**power per image (subtract it: smooth, stroke-like images)."""
    t = tf()

    def fn(T):
        x = T(layer_name)
        dy = x[:, 1:, :] - x[:, :-1, :]
        dx = x[:, :, 1:] - x[:, :, :-1]
        if power == 1.0:
            fy, fx = t.abs(dy), t.abs(dx)
        elif power == 2.0:
            fy, fx = t.square(dy), t.square(dx)
        else:
            fy, fx = t.pow(t.abs(dy) + 1e-8, power), t.pow(t.abs(dx) + 1e-8, power)
        return t.reduce_sum(_flat(fy), axis=1) + t.reduce_sum(_flat(fx), axis=1)

    return Objective(fn, f"tv({layer_name})", _layer_dep(layer_name))


tv = total_variation


def input_diff(reference) -> Objective:
    """RMS difference between the image and ``reference`` (N, 28, 28) (subtract: stay close)."""
    t = tf()
    ref = np.asarray(reference, dtype=np.float32)
    return Objective(
        lambda T: t.sqrt(t.reduce_mean(t.square(_flat(T("image") - ref)), axis=1) + 1e-12),
        "input_diff",
    )


def denoise(autoencoder, layer_name: str = "image") -> Objective:
    """Plug & Play prior: minus half the squared distance to the autoencoder's reconstruction.

    Its gradient is ``R(x) - x`` (the reconstruction is held constant), so each step also moves
    the image towards what the autoencoder thinks a digit looks like (Nguyen et al. 2017).
    ``autoencoder`` is a callable images (N, 28, 28) -> reconstructions (N, 28, 28).
    """
    t = tf()

    def fn(T):
        x = T(layer_name)
        r = t.stop_gradient(t.reshape(autoencoder(x, training=False), t.shape(x)))
        return -0.5 * t.reduce_sum(t.square(_flat(x - r)), axis=1)

    return Objective(fn, "denoise")


def _layer_dep(name):
    return () if name in RESERVED else (name,)


def _short(v):
    if isinstance(v, numbers.Number):
        return str(v)
    if _is_tensor(v):
        return "each row's"
    arr = np.asarray(v).ravel()
    return "[" + ",".join(map(str, arr[:4])) + (",...]" if arr.size > 4 else "]")


#: names understood by ``--objective`` on the command line
OBJECTIVES = ("class", "prob", "neuron", "channel", "layer")
