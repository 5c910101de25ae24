"""Dreaming: gradient ascent on a classifier, shaped like lucid's ``optvis``.

- :mod:`.objectives` -- what to maximise (class logit/probability, a unit, a layer's energy,
  batch diversity, L1/L2/TV penalties), combined with ``+ - *``;
- :mod:`.params`     -- how the image is represented (pixels, 1/f Fourier, a decoder's latent);
- :mod:`.transforms` -- seeded random jitter/scale/rotate/blur applied every step;
- :mod:`.render`     -- the one compiled loop that optimises a whole batch;
- :func:`dream`      -- the recipe behind ``neuroart dream`` (readable digits, all ten at once);
- :func:`deepdream`  -- octaves + random-shift tiles of the 28-pixel classifier over any picture
  (module :mod:`.picture`; "deepdream" names the function and the command only).

Example::

    from neuroart.dream import dream, objectives as O
    result = dream([3, 7], per_digit=4, seed=1)      # result.images: (8, 28, 28) in [0, 1]
    obj = O.class_logit(7) - 0.05 * O.total_variation()
"""

from . import objectives, params, transforms  # noqa: F401
from .dreams import DEFAULTS, DreamConfig, DreamResult, dream, dream_sheet  # noqa: F401
from .picture import DeepDreamConfig, deepdream, deepdream_sheet  # noqa: F401
from .render import ModelTaps, RenderResult, render  # noqa: F401

__all__ = [
    "dream",
    "dream_sheet",
    "DreamConfig",
    "DreamResult",
    "DEFAULTS",
    "deepdream",
    "deepdream_sheet",
    "DeepDreamConfig",
    "render",
    "RenderResult",
    "ModelTaps",
    "objectives",
    "params",
    "transforms",
]
