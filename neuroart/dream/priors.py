"""What keeps a dream handwritten: its priors, in one place.

A dream climbs a classifier's score; a *prior* keeps the pixels on the manifold of handwriting.
Two kinds exist today:

- the **Plug & Play denoiser** (``--prior``): each step is also pulled towards an autoencoder's
  reconstruction (`objectives.denoise`). ``auto`` is the bundled ``vae``, else a bundled ``ae``,
  else ``none`` (pixels alone); a ``.keras`` path or a model object is a custom one;
- the **generator prior** (``--param latent``): the dream optimises a decoder's latent code
  (`params.latent`), loaded here by `load_generator`.

Every model loads through `neuroart.models` with its role (``prior``, ``generator``): the model
families register their contracts there, so nothing here imports a generator's code.

A new kind of prior (a flow model guiding each step, ...) registers a *term* with
`register_prior(name, term)`: ``term(config, labels) -> Objective`` is added to the dream's
objective when ``--prior name`` is asked for (see `objective_term`).
"""

from __future__ import annotations

import os

from .._util import NeuroartError
from . import objectives as O

BUNDLED = ("vae", "ae")  # bundled autoencoders that can denoise, in the order `auto` tries them
#: The flow prior: not a term of the objective but another loop (`neuroart.dream.flowdream`): the
#: flow model draws the digit and the dream's objective steers it.
FLOW = "flow"

#: prior name -> term(config, labels) -> Objective: the kinds of prior beyond the denoiser
_TERMS: dict = {}


def register_prior(name: str, term) -> None:
    """A new kind of prior: ``--prior name`` adds ``term(config, labels)`` (an `Objective`) to the
    dream, weighted by the term itself; the recipe records the name."""
    _TERMS[str(name)] = term


def resolve_prior(prior) -> str:
    """'auto' -> 'vae' / 'ae' / 'none' by what is bundled; a registered kind -> its name;
    a model object or path -> 'custom'."""
    if not isinstance(prior, str):
        return "custom"
    if prior in _TERMS or prior == FLOW:
        return prior
    if prior == "auto":
        from ..models import bundled

        have = set(bundled())
        return next((p for p in BUNDLED if p in have), "none")
    if prior in ("none", *BUNDLED):
        return prior
    if prior == "cvae":
        raise NeuroartError("--prior cvae cannot denoise unlabelled images; use vae or ae")
    return "custom"


def prior_name(prior, resolved: str) -> str:
    """What the recipe records: the resolved name, or the path of a custom prior."""
    return resolved if resolved != "custom" else str(prior)


def objective_term(cfg, resolved: str, labels):
    """The prior's term of the dream's objective (None when there is none)."""
    if resolved in _TERMS:
        return _TERMS[resolved](cfg, labels)
    if resolved == "none" or not cfg.denoise:
        return None
    return cfg.denoise * O.denoise(load_autoencoder(cfg.prior if resolved == "custom" else resolved))


def load_autoencoder(name):
    """A callable images -> reconstructions: a bundled/neuroart generator, or any Keras model."""
    from ..models import check_model, load_model

    if not isinstance(name, str) and not hasattr(name, "__fspath__"):
        return check_model(name, "prior")
    return load_model(name, role="prior")  # an unconditional generator, or images -> images


def load_generator(name):
    """The decoder family behind ``--param latent``: a bundled name, a ``.keras`` path or a model."""
    from ..models import load_model

    if not isinstance(name, (str, os.PathLike)):
        return name  # already a model (a Generator, or a script's own decoder)
    return load_model(name, role="generator")


def stamp(resolved: str) -> dict:
    """What a recipe records of the prior: its name and, for a bundled one, its hash."""
    from ..models import model_stamp

    return {"prior_sha256": model_stamp(resolved)["model_sha256"] if resolved in (*BUNDLED, FLOW) else None}
