"""The generator architecture: a convolutional autoencoder (``ae``), a VAE (``vae``) and a
class-conditional VAE (``cvae``), as one saveable Keras model, and loading it.

Each generator is one registered Keras model, `Generator`, holding two functional sub-models:

- ``encoder``: image (N, 28, 28) [+ one-hot label (N, 10) for cvae] -> ``z_mean`` (N, latent)
  (and ``z_log_var`` for the VAEs);
- ``decoder``: z (N, latent) [+ one-hot label (N, 10) for cvae] -> image (N, 28, 28) in [0, 1].

`Generator` serialises its sub-models in `get_config`, so a checkpoint is one native ``.keras``
file that loads with ``safe_mode=True`` and keeps its architecture (no weights-only workaround).
Importing this module registers the class (package ``neuroart``); `load_generator` does that.

The VAE losses are summed over the 784 pixels (binary cross-entropy, in nats) plus the KL term
summed over latent dimensions: a per-pixel mean would weight the KL 784x too strongly and
collapse the samples to a blurry average (the training is in `neuroart.generate.train`).
"""

from __future__ import annotations

import numpy as np

from .._util import NeuroartError, tf
from ..models import register_family
from ..validate import finite, integer
from .config import DEFAULT_KIND, DEFAULTS, check_kind, check_latent

# --------------------------------------------------------------------------- architecture


def build_encoder(kind: str, latent_dim: int, *, filters=(32, 64), hidden: int = 256):
    """Conv encoder: (N, 28, 28) [+ one-hot (N, 10)] -> z_mean [, z_log_var]."""
    L = k.layers
    x_in = k.Input((28, 28), name="image")
    inputs = [x_in]
    h = L.Reshape((28, 28, 1), name="to_channels")(x_in)
    h = L.Conv2D(filters[0], 3, strides=2, padding="same", activation="relu", name="conv1")(h)
    h = L.Conv2D(filters[1], 3, strides=2, padding="same", activation="relu", name="conv2")(h)
    h = L.Flatten(name="flatten")(h)
    if kind == "cvae":
        y_in = k.Input((10,), name="label")
        inputs.append(y_in)
        h = L.Concatenate(name="with_label")([h, y_in])
    h = L.Dense(hidden, activation="relu", name="hidden")(h)
    z_mean = L.Dense(latent_dim, name="z_mean")(h)
    if kind == "ae":
        outputs = z_mean
    else:
        outputs = [z_mean, L.Dense(latent_dim, name="z_log_var")(h)]
    return k.Model(inputs if len(inputs) > 1 else x_in, outputs, name=f"{kind}_encoder")


def build_decoder(kind: str, latent_dim: int, *, filters=(32, 64), hidden: int = 256):
    """Light conv decoder: z [+ one-hot] -> (N, 28, 28) in [0, 1] (fast: 10k digits in well under 2 s)."""
    L = k.layers
    z_in = k.Input((latent_dim,), name="z")
    inputs = [z_in]
    h = z_in
    if kind == "cvae":
        y_in = k.Input((10,), name="label")
        inputs.append(y_in)
        h = L.Concatenate(name="with_label")([z_in, y_in])
    h = L.Dense(hidden, activation="relu", name="hidden")(h)
    h = L.Dense(7 * 7 * filters[0], activation="relu", name="expand")(h)
    h = L.Reshape((7, 7, filters[0]), name="to_grid")(h)
    if kind == "cvae":  # the label again as 10 constant planes on the 7x7 grid: hard to ignore
        planes = L.Reshape((7, 7, 10), name="label_planes")(L.RepeatVector(49, name="label_repeat")(y_in))
        h = L.Concatenate(name="grid_with_label")([h, planes])
    h = L.Conv2DTranspose(filters[0], 3, strides=2, padding="same", activation="relu", name="up1")(h)
    h = L.Conv2DTranspose(1, 3, strides=2, padding="same", name="up2_logits")(h)
    h = L.Activation("sigmoid", name="pixels")(h)
    out = L.Reshape((28, 28), name="image")(h)
    return k.Model(inputs if len(inputs) > 1 else z_in, out, name=f"{kind}_decoder")


def chi_quantile(q: float, dof: int) -> float:
    """The q-quantile of the chi distribution (the radius of a standard normal in `dof` dims),
    by the Wilson-Hilferty approximation (within ~0.5% for dof >= 2)."""
    from statistics import NormalDist

    if q >= 1.0:
        return float("inf")
    z = NormalDist().inv_cdf(q)
    k = 2.0 / (9.0 * dof)
    return float(np.sqrt(dof * max(1.0 - k + z * np.sqrt(k), 0.0) ** 3))


def sharpen(p, sharpness: float = 1.0) -> np.ndarray:
    """Bernoulli means -> crisper pixels: sigmoid(sharpness * logit(p)); 1 returns p (clipped)."""
    p = np.clip(np.asarray(p, np.float32), 0.0, 1.0)
    s = finite("sharpness", sharpness, low=0, low_open=True, high=20)
    if s == 1.0:
        return p
    q = np.clip(p, 1e-6, 1 - 1e-6)
    logit = np.log(q) - np.log1p(-q)
    return (1.0 / (1.0 + np.exp(-s * logit))).astype(np.float32)


def _one_hot(labels, n: int | None = None) -> np.ndarray:
    y = np.asarray(labels).reshape(-1).astype(np.int64)
    if n is not None and y.size == 1 and n > 1:
        y = np.full(n, int(y[0]))
    if y.size and (y.min() < 0 or y.max() > 9):
        bad = int(y[(y < 0) | (y > 9)][0])
        raise NeuroartError(f"digit {bad} is out of range (digits are 0-9)")
    return np.eye(10, dtype=np.float32)[y]


# Importing this module imports TensorFlow (it defines a Keras class); nothing imports it at
# start-up: `models.load_model` and the library functions import it when they need it.
tf()  # sets the TensorFlow backend and quiet logging before Keras loads
import keras as k  # noqa: E402  (Keras 3 itself: `tf.keras` lacks `keras.saving` in TF 2.21)


@k.saving.register_keras_serializable(package="neuroart")
class Generator(k.Model):
    """An encoder/decoder pair with its kind and latent size; saves as one .keras file."""

    def __init__(self, encoder, decoder, kind="cvae", latent_dim=16, prior_means=None,
                 prior_chol=None, prior_weights=None, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.kind = check_kind(kind)
        self.latent_dim = int(latent_dim)
        # The sampling prior: a mixture of C Gaussians -- their means (C, latent), the Cholesky
        # factors of their covariances (C, latent, latent) and weights (C,). The cvae has one per
        # class, chosen by the requested digit; the vae/ae pick a component by weight. Fresh
        # models sample N(0, I); `fit_prior` fits the mixture to the training codes.
        self._set_prior(prior_means, prior_chol, prior_weights)
        self.built = True

    def _set_prior(self, means=None, chol=None, weights=None):
        n = self.latent_dim
        c = len(means) if means is not None else (10 if self.kind == "cvae" else 1)
        m = np.zeros((c, n), np.float64) if means is None else np.asarray(means, np.float64)
        L = np.broadcast_to(np.eye(n), (c, n, n)).copy() if chol is None else np.asarray(chol, np.float64)
        w = np.full(c, 1.0 / c) if weights is None else np.asarray(weights, np.float64).reshape(-1)
        if (m.shape != (c, n) or L.shape != (c, n, n) or w.shape != (c,)
                or (self.kind == "cvae" and c != 10) or c not in (1, 10)):
            raise NeuroartError(f"a prior of shapes {m.shape}/{L.shape}/{w.shape} does not fit a {self.kind} "
                                f"with latent size {n}")
        if (w < 0).any() or not np.isclose(w.sum(), 1.0):
            raise NeuroartError("prior weights must be non-negative and sum to 1")
        # plain numpy arrays, kept outside Keras' attribute tracking
        object.__setattr__(self, "_prior", (m.astype(np.float32), L.astype(np.float32), w / w.sum()))

    @property
    def prior_means(self) -> np.ndarray:
        return self._prior[0]

    @property
    def prior_chol(self) -> np.ndarray:
        return self._prior[1]

    @property
    def prior_weights(self) -> np.ndarray:
        return self._prior[2]

    @property
    def fitted_prior(self) -> bool:
        n = self.latent_dim
        return not (np.all(self._prior[0] == 0) and np.all(self._prior[1] == np.eye(n)))

    def prior_gaussian(self, component: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Mean and Cholesky factor of one prior component, or (None) of the whole mixture's
        moment-matched Gaussian (the cvae's component is the digit)."""
        m, L, w = (a.astype(np.float64) for a in self._prior)
        if component is not None:
            return m[component], L[component]
        mean = w @ m
        cov = np.einsum("c,cij->ij", w, L @ L.transpose(0, 2, 1) + m[:, :, None] * m[:, None, :])
        cov -= np.outer(mean, mean)
        return mean, np.linalg.cholesky(cov + 1e-9 * np.eye(self.latent_dim))

    # -- keras plumbing
    def call(self, inputs, training=False):
        if self.kind == "cvae":
            x, y = inputs
            z = self.encoder([x, y], training=training)[0]
            return self.decoder([z, y], training=training)
        z = self.encoder(inputs, training=training)
        if self.kind == "vae":
            z = z[0]
        return self.decoder(z, training=training)

    def get_config(self):
        s = k.saving.serialize_keras_object
        return {
            "name": self.name,
            "kind": self.kind,
            "latent_dim": self.latent_dim,
            "prior_means": np.round(self.prior_means.astype(np.float64), 6).tolist(),
            "prior_chol": np.round(self.prior_chol.astype(np.float64), 6).tolist(),
            "prior_weights": np.round(self.prior_weights.astype(np.float64), 8).tolist(),
            "encoder": s(self.encoder),
            "decoder": s(self.decoder),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        d = k.saving.deserialize_keras_object
        config["encoder"] = d(config["encoder"])
        config["decoder"] = d(config["decoder"])
        return cls(**config)

    # -- the generator API (numpy in, numpy out)
    @property
    def conditional(self) -> bool:
        return self.kind == "cvae"

    @property
    def gaussian_prior(self) -> bool:
        return self.kind in ("vae", "cvae")

    def encode(self, images, labels=None, *, batch_size: int = 2000) -> np.ndarray:
        """Images (N, 28, 28) in [0, 1] [+ labels for cvae] -> latent means (N, latent)."""
        x = np.asarray(images, np.float32).reshape(-1, 28, 28)
        if self.conditional:
            if labels is None:
                raise NeuroartError("the cvae needs the digit labels of the images it encodes")
            y = _one_hot(labels, len(x))
        out = []
        for i in range(0, len(x), batch_size):
            args = [x[i : i + batch_size], y[i : i + batch_size]] if self.conditional else x[i : i + batch_size]
            z = self.encoder(args, training=False)
            out.append(np.asarray(z if self.kind == "ae" else z[0]))
        return np.concatenate(out).astype(np.float32)

    def decode(self, z, labels=None, *, sharpness: float = 1.0, batch_size: int = 10000) -> np.ndarray:
        """Latent codes (N, latent) [+ labels for cvae] -> images (N, 28, 28) float32 in [0, 1].

        The decoder gives each pixel's Bernoulli mean, soft at the stroke edges. `sharpness` > 1
        multiplies the pixel logits (``sigmoid(s * logit(p))``): crisper, MNIST-like ink. 1 = raw.
        """
        z = np.asarray(z, np.float32).reshape(-1, self.latent_dim)
        if self.conditional:
            if labels is None:
                raise NeuroartError("the cvae needs the digits to draw (labels)")
            y = _one_hot(labels, len(z))
        s = finite("sharpness", sharpness, low=0, low_open=True, high=20)
        logits = self._logits_model() if s != 1.0 else None
        out = []
        for i in range(0, len(z), batch_size):
            args = [z[i : i + batch_size], y[i : i + batch_size]] if self.conditional else z[i : i + batch_size]
            if logits is None:
                out.append(np.asarray(self.decoder(args, training=False)))
            else:  # sigmoid(s * logit) on the decoder's own logits: exact, and fast in TensorFlow
                t = tf()
                out.append(np.asarray(t.reshape(t.sigmoid(s * logits(args, training=False)), (-1, 28, 28))))
        if logits is None and s != 1.0:
            return sharpen(np.concatenate(out), s)
        return np.clip(np.concatenate(out), 0.0, 1.0).astype(np.float32)

    def _logits_model(self):
        """The decoder up to its pre-sigmoid layer (cached), or None if it has no such layer."""
        cached = self.__dict__.get("_logits_cache")
        if cached is None:
            try:
                inputs = self.decoder.inputs if len(self.decoder.inputs) > 1 else self.decoder.inputs[0]
                cached = k.Model(inputs, self.decoder.get_layer("up2_logits").output)
            except ValueError:
                cached = False
            object.__setattr__(self, "_logits_cache", cached)
        return cached or None

    def prior(self, n: int | None = None, labels=None, *, temperature: float = 1.0, seed: int = 0,
              truncation: float = 1.0, standard: bool = False) -> np.ndarray:
        """Latent codes drawn from the prior, seeded: `n` of them, or one per label for the cvae.

        `temperature` scales each draw's distance from the prior mean (0 = the mean itself).
        `truncation` < 1 redraws the rare codes farther out than that quantile of the prior's
        radius (the "truncation trick"): the far tails are where the decoder's digits turn
        ambiguous. The fitted prior (per class for the cvae) is used unless `standard` asks for N(0, I).
        """
        if labels is not None:
            labels = np.asarray(labels).reshape(-1).astype(np.int64)
            _one_hot(labels)  # range check
            n = len(labels) if n is None else int(n)
            if len(labels) != n:
                raise NeuroartError(f"{len(labels)} labels for {n} codes")
        elif n is None:
            raise NeuroartError("prior needs n or labels")
        truncation = finite("truncation", truncation, low=0.05, high=1)  # a quantile of the radius
        temperature = finite("temperature", temperature, low=0, high=10)
        rng = np.random.default_rng(integer("seed", seed, low=0))
        means, chol, weights = self._prior
        if self.conditional:
            c = labels if labels is not None else np.arange(int(n)) % 10  # no labels: all classes
        elif len(weights) > 1:
            c = rng.choice(len(weights), int(n), p=weights)
        else:
            c = np.zeros(int(n), np.int64)
        eps = rng.standard_normal((int(n), self.latent_dim))
        if truncation < 1.0:
            r_max = chi_quantile(truncation, self.latent_dim)
            for _ in range(1000):
                far = np.linalg.norm(eps, axis=1) > r_max
                if not far.any():
                    break
                eps[far] = rng.standard_normal((int(far.sum()), self.latent_dim))
        eps = eps.astype(np.float32)
        if standard:
            return (float(temperature) * eps).astype(np.float32)
        z = means[c] + float(temperature) * np.einsum("nij,nj->ni", chol[c], eps)
        return z.astype(np.float32)

    def reconstruct(self, images, labels=None) -> np.ndarray:
        return self.decode(self.encode(images, labels), labels)



def _contract(model, role: str, src: str):
    """What a `Generator` may serve (registered with `neuroart.models`): it generates; the
    unconditional ones (ae, vae) also denoise, as the Plug & Play prior of a dream."""
    if role == "generator":
        return model
    if role == "classifier":
        raise NeuroartError(f"{src}: a {model.kind} generator, not a digit classifier")
    if role == "prior" and model.conditional:
        raise NeuroartError(f"{src}: a conditional generator cannot denoise unlabelled images; use ae or vae")
    if role == "prior":
        return model
    raise NeuroartError(f"{src}: a {model.kind} generator, not a {role}")


register_family(Generator, _contract)


def build_generator(kind: str = DEFAULT_KIND, latent_dim: int | None = None, **arch):
    """A fresh, untrained generator of `kind` (``ae``, ``vae`` or ``cvae``)."""
    check_kind(kind)
    latent_dim = check_latent(DEFAULTS[kind].latent_dim if latent_dim is None else latent_dim)
    enc = build_encoder(kind, latent_dim, **arch)
    dec = build_decoder(kind, latent_dim, **arch)
    return Generator(enc, dec, kind=kind, latent_dim=latent_dim, name=kind)




def describe(model) -> dict:
    """Architecture summary for the model card."""
    from ..classify.model import describe as lines

    return {
        "encoder": lines(model.encoder),
        "decoder": lines(model.decoder),
        "parameters": int(model.encoder.count_params() + model.decoder.count_params()),
    }


# --------------------------------------------------------------------------- loading


def load_generator(name_or_path="cvae"):
    """Load a generator: a bundled name (``cvae``, ``vae``) or a ``.keras`` path (Keras safe mode).

    Returns the `Generator` (a Keras model) with ``.decoder``, ``.encoder``, ``.latent_dim``,
    ``.kind``, ``.encode(x, labels=None)``, ``.decode(z, labels=None)`` and ``.prior(n, ...)``.
    Loaded generators are cached by path and modification time (as by `load_model`).
    """
    from ..models import load_model

    return load_model(name_or_path, role="generator")  # cached, safe mode, one-line errors


