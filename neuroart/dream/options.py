"""Which dream options belong to which dream: a pixel dream's own and a dream through the flow's
own, each refused by the other in one line (`neuroart.dream.dreams` checks a config with them).

Importing this module imports nothing heavy.
"""

from __future__ import annotations

from .._util import NeuroartError

#: A pixel dream's options that a dream through the flow does not use.
PIXEL_ONLY = ("lr", "class_score", "temperature", "l1", "l2", "tv", "diversity", "denoise", "blur", "noise",
              "smooth", "warp", "lowres", "bound", "optimizer", "decay_power", "generator", "latent_prior",
              "latent_lr", "latent_anchor")
#: A dream through the flow's own options, unused by a pixel dream.
FLOW_ONLY = ("steer", "strength", "hand", "gradient", "flow")
#: How the steering reaches the flow (`flowdream.Steering`): the predicted digit's ink, the
#: predicted digit itself, or back through the flow.
GRADIENTS = ("ink", "clean", "flow")


def gradient(name):
    """`name` checked as one of `GRADIENTS` (None: the objective's own, left to the dream)."""
    if name is not None and name not in GRADIENTS:
        raise NeuroartError(f"gradient must be one of {', '.join(GRADIENTS)}, got {name!r}")
    return name


def refuse_unused(cfg, defaults, *, flow: bool) -> None:
    """One line naming the options of `cfg` (a `DreamConfig`) set away from `defaults` that its
    kind of dream does not use: a pixel dream's own through the flow (and any ``param`` but
    pixels), the flow's own in a pixel dream."""
    if flow and cfg.param != "pixel":
        raise NeuroartError(f"--param {cfg.param} shapes a pixel dream; a dream through the flow is drawn by "
                            "the flow: add --prior none (or vae) for it")
    unused = [f for f in (PIXEL_ONLY if flow else FLOW_ONLY) if getattr(cfg, f) != getattr(defaults, f)]
    if not unused:
        return
    names = ", ".join("--" + f.replace("_", "-") for f in unused)
    if flow:
        raise NeuroartError(f"{names}: a pixel dream's option, unused through the flow: add --prior none "
                            "(or vae) for it")
    raise NeuroartError(f"{names}: steers a dream through the flow, unused by a pixel dream "
                        f"(--prior {cfg.prior}): drop it, or use --prior flow")
