"""What the command line checks before TensorFlow loads: a typo fails in a fraction of a second.

Only what is known without a model: digits, unit numbers, input files, output folders, and
what a model's card says (its kind, its layers and their widths) when the card describes that
very file (same sha256). The library checks everything again when it runs; these checks only
make the common mistakes fail before the seconds TensorFlow and the models take to load.
"""

from __future__ import annotations

import functools
import json
import os
import re
from pathlib import Path

from .._util import NeuroartError, check_digits, input_file  # noqa: F401  (input_file: the commands' check)


def digit_or_file(value: str) -> None:
    """``digit:D`` (a real MNIST test digit of class D) or an image of a digit that reads."""
    if str(value).startswith("digit:") and not os.path.lexists(value):
        check_digits([str(value).split(":", 1)[1]])
    else:
        digit_image(value)


def digit_image(path) -> None:
    """An image file of one digit, read as the library will read it (`classify`'s check): a text
    file, a broken or a blank image fails here, in a fraction of a second."""
    from ..data import load_digit_image

    load_digit_image(path)


def grid(n: int, *, what: str = "digits", advice: str = "") -> None:
    """A grid of `n` pictures is refused over the one limit of a PNG grid (`generate`'s)."""
    from ..generate.sample import MAX_GRID

    if n > MAX_GRID:
        raise NeuroartError(f"a grid of {n:,} {what} is too large to draw (at most {MAX_GRID:,}){advice}")


# --------------------------------------------------------------------------------- dream priors


def prior(name) -> None:
    """``--prior``: a prior's name, or a model that can be one (an autoencoder, not a classifier).

    A typo is told with the names a prior takes (``did you mean 'flow'?``), not every bundled
    model; a name is valid when the library resolves it (`neuroart.dream.priors.resolve_prior`).
    """
    import difflib

    from ..dream import priors
    from ..models import bundled

    if priors.resolve_prior(name) != "custom":  # auto, none, vae, flow, ... (cvae: the library's line)
        if name in priors.BUNDLED and name not in bundled():
            raise NeuroartError(f"--prior {name}: no bundled {name} here; {_priors()}")
        return
    text = str(name)
    if text.endswith(".keras") or "/" in text or os.sep in text or os.path.exists(text):
        kind = (card(text) or {}).get("kind")  # a missing file: the library's line
    elif text in bundled():
        kind = (card(text) or {}).get("kind")
    else:
        close = difflib.get_close_matches(text, _prior_names(), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise NeuroartError(f"unknown --prior {text!r}: {hint}({_priors()})")
    if kind == "classifier":
        raise NeuroartError(f"--prior {text} is a digit classifier, not a prior; {_priors()}")


def _prior_names() -> list[str]:
    from ..dream import priors

    names = ["auto", "none", *priors.BUNDLED, priors.FLOW, *priors._TERMS]
    return [n for n in dict.fromkeys(names) if _valid_prior(n)]


def _valid_prior(name: str) -> bool:
    from ..dream import priors
    from ..models import bundled

    try:
        return priors.resolve_prior(name) != "custom" and (name not in priors.BUNDLED or name in bundled())
    except NeuroartError:
        return False


def _priors() -> str:
    return f"priors: {', '.join(_prior_names())}, or a .keras autoencoder"


def flow_dream(*, prior, steps, strength, hand, flow="flow") -> None:
    """A dream through the flow prior: its numbers checked as `neuroart.dream.flowdream.check`
    will check them (``--steps`` at most 1000 there, not the pixel dream's 100,000; --steer is
    the dream's own check), and a few-step flow's own steps (`few_step`)."""
    from ..dream import flowdream, priors

    if priors.resolve_prior(prior) != priors.FLOW:
        return
    flowdream.check(flowdream.FlowDreamConfig(steps=steps, strength=strength, hand=hand))
    few_step(flow, steps=steps)


def few_step(model, **given) -> None:
    """A few-step flow (its card has ``sampling.times``) samples on its own grid: any of `given`
    (steps, guidance) set is the library's one line, said before TensorFlow loads."""
    from ..generate.config import check_few_step

    times = ((card(model) or {}).get("sampling") or {}).get("times")
    if times:
        check_few_step(len(times) - 1, **given)


def writable(paths: dict) -> None:
    """Every output folder takes a new file (a probe file, removed at once): a folder such as
    /proc or a read-only mount fails here, naming the option and path, before any work."""
    from .._util import temp_beside

    for flag, path in paths.items():
        if path is None:
            continue
        try:
            fd, tmp = temp_beside(Path(path), ".probe")
        except OSError as e:
            raise NeuroartError(f"cannot write {flag} {path}: {e.strerror or e}") from None
        os.close(fd)
        tmp.unlink(missing_ok=True)


# --------------------------------------------------------------------------------- model cards


def card(model) -> dict | None:
    """The card of a model (bundled name or .keras path) when it describes that very file, else None.

    An unknown name or a missing file is the library's one line (`neuroart.models.resolve`).
    """
    if not isinstance(model, (str, os.PathLike)):
        return None
    from ..models import resolve

    path = resolve(model)
    st = path.stat()
    return _card(str(path), st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=8)
def _card(path: str, mtime_ns: int, size: int) -> dict | None:
    from ..models import card_path, file_sha256

    try:
        found = json.loads(card_path(path).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(found, dict) or found.get("sha256") != file_sha256(path):
        return None  # no card, or a card of another file: nothing is known before loading
    return found


_LAYER = re.compile(r"^([\w./-]+): (\w+)\((\d+)?")
#: Layers whose first card argument is their width (units or channels).
_WIDE = ("Dense", "Conv2D")


def layers(found: dict | None) -> dict[str, tuple[str, int | None]] | None:
    """``{layer name: (class, width or None)}`` from a classifier card's architecture lines
    (``"dense: Dense(128, relu)"``), in order; None when the card does not list them."""
    lines = (found or {}).get("architecture")
    if not isinstance(lines, list):
        return None
    out = {}
    for line in lines:
        m = _LAYER.match(str(line))
        if m is None:
            return None
        name, cls, width = m.groups()
        out[name] = (cls, int(width) if width and cls in _WIDE else None)
    return out


def check_layer(model, layer: str | None, units=(), *, first_hidden: bool = True) -> None:
    """`layer` (default: the first hidden Dense/Conv layer) is one of the model's, and `units`
    are in its range -- when the model's card lists its layers."""
    classifier(model)
    known = layers(card(model))
    if known is None:
        return
    if layer is None:
        if not first_hidden:
            return
        dense = [n for n, (cls, _) in known.items() if cls == "Dense"]
        hidden = [n for n, (cls, _) in known.items() if cls in _WIDE and n != (dense[-1] if dense else None)]
        if not hidden:
            return
        layer = hidden[0]
    from ..dream.objectives import RESERVED  # names every classifier answers to

    if layer in RESERVED:
        return
    if layer not in known:
        raise NeuroartError(f"unknown layer {layer!r}; this model has: {', '.join(known)}")
    size = known[layer][1]
    if size is None:
        return
    for u in units or ():
        if not 0 <= int(u) < size:
            raise NeuroartError(f"unit {u} is out of range: layer {layer!r} has {size} units (0-{size - 1})")


_GENERATORS = ("ae", "vae", "cvae", "flow")


def classifier(model) -> None:
    """A model whose card says it is a generator is refused as a classifier (the library's line)."""
    kind = (card(model) or {}).get("kind")
    if kind in _GENERATORS:
        from ..models import resolve

        raise NeuroartError(f"{resolve(model)}: a {kind} generator, not a digit classifier")


def generator_kind(model) -> str | None:
    """``ae``, ``vae`` or ``cvae`` from a generator's card, or None when the card does not say;
    a model whose card says it is a classifier is refused (the library's line)."""
    kind = (card(model) or {}).get("kind")
    if kind == "classifier":
        from ..models import resolve

        raise NeuroartError(f"{resolve(model)}: not a neuroart generator (a classifier?)")
    return kind if kind in _GENERATORS else None


def latent_dim(model) -> int | None:
    """The size of a generator's latent code from its card, or None when the card does not say."""
    n = (card(model) or {}).get("latent_dim")
    return n if isinstance(n, int) and not isinstance(n, bool) else None
