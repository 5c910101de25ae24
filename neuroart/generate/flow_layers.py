"""The flow U-Net's own Keras layers (registered, so a ``.keras`` file of a flow loads in safe
mode): the time features, FiLM, a faster GroupNorm, and a few-step flow's grid.

Importing this module imports TensorFlow.
"""

from __future__ import annotations

import numpy as np

from .._util import tf

tf()
import keras as k  # noqa: E402  (Keras 3; `tf()` set the TensorFlow backend first)

L = k.layers


@k.saving.register_keras_serializable(package="neuroart")
class TimeEmbedding(L.Layer):
    """t in [0, 1], shape (N, 1) -> sinusoidal features (N, dim), as in DDPM."""

    def __init__(self, dim: int = 64, **kwargs):
        super().__init__(**kwargs)
        self.dim = int(dim)

    def call(self, t):
        T = tf()
        half = self.dim // 2
        freqs = T.exp(-np.log(1000.0) * T.range(half, dtype="float32") / half)
        angle = T.reshape(T.cast(t, "float32"), (-1, 1)) * 1000.0 * freqs[None]
        return T.concat([T.sin(angle), T.cos(angle)], axis=-1)

    def get_config(self):
        return {**super().get_config(), "dim": self.dim}


@k.saving.register_keras_serializable(package="neuroart")
class ScaleShift(L.Layer):
    """FiLM: ``h·(1 + scale) + shift`` with [scale, shift] = an (N, 2·C) input, per channel."""

    def call(self, inputs):
        h, film = inputs
        T = tf()
        scale, shift = T.split(film[:, None, None, :], 2, axis=-1)
        return h * (1.0 + scale) + shift


@k.saving.register_keras_serializable(package="neuroart")
class GroupNorm(L.GroupNormalization):
    """Keras's `GroupNormalization`, with the same weights and the same result up to float32
    round-off, computed faster on CPU over the last axis: per-channel means of x and x² over
    the pixels, then per group, instead of one reduction over a 5-D reshape (the flow's forward
    pass of 100 digits takes about 0.8x the time, ``bench/bench_flow_speed.py``)."""

    def call(self, x):
        if not (self.axis in (-1, len(x.shape) - 1) and self.center and self.scale):
            return super().call(x)
        T = tf()
        n, c, g = T.shape(x)[0], x.shape[-1], self.groups
        flat = T.reshape(x, (n, -1, c))
        mean = T.reduce_mean(T.reshape(T.reduce_mean(flat, 1), (n, g, c // g)), -1, keepdims=True)
        mean_sq = T.reduce_mean(T.reshape(T.reduce_mean(T.square(flat), 1), (n, g, c // g)), -1, keepdims=True)
        inv = T.math.rsqrt(T.maximum(mean_sq - T.square(mean), 0.0) + self.epsilon)
        scale = T.reshape(T.broadcast_to(inv, (n, g, c // g)), (n, 1, 1, c)) * self.gamma
        mean = T.reshape(T.broadcast_to(mean, (n, g, c // g)), (n, 1, 1, c))
        return x * scale + (self.beta - mean * scale)


@k.saving.register_keras_serializable(package="neuroart")
class StepTimes(L.Layer):
    """How a few-step flow samples (`neuroart.generate.fewstep`): an identity on t that carries,
    in its config, the grid of times it was distilled to step through and its ink levels, so
    both travel inside the model file (`flow.flow_times`, `flow.finish`). No weights.

    `levels` ``(x, y)``: a monotone map of the output pixels, piecewise linear through the knots
    (pixel x in [0, 1] becomes y), fitted once after training to the training digits
    (`fewstep.fit_levels`); None leaves the pixels as the flow draws them.
    """

    def __init__(self, times=(), levels=None, **kwargs):
        super().__init__(**kwargs)
        self.times = tuple(float(t) for t in times)
        self.levels = None if levels is None else (tuple(map(float, levels[0])), tuple(map(float, levels[1])))

    def call(self, t):
        return t

    def get_config(self):
        levels = None if self.levels is None else [list(self.levels[0]), list(self.levels[1])]
        return {**super().get_config(), "times": list(self.times), "levels": levels}
