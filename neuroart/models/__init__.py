"""Model files: the registry of bundled models, loading, saving and model cards.

The architectures and their training live with their pipelines (`neuroart.classify`,
`neuroart.generate`); this module is the one door every model file goes through.

Every model is one native ``.keras`` file with a JSON *model card* beside it (same stem):
architecture, data source, test scores, epochs, seed, training seconds, neuroart version and the
sha256 of the ``.keras`` file. Files load with Keras ``safe_mode=True``. Bundled models live in
``neuroart/weights/`` and are addressed by name (``mlp``, ``cnn``, ``vae``, ``cvae``).
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from importlib.resources import files
from pathlib import Path

from .._util import NeuroartError, atomic_path, keras
from .._version import __version__

WEIGHTS_DIR = Path(str(files("neuroart.weights")))
CLASSIFIERS = ("mlp", "cnn")


def bundled() -> list[str]:
    """Names of the bundled models (each a ``neuroart/weights/<name>.keras`` with its card)."""
    return sorted(p.stem for p in WEIGHTS_DIR.glob("*.keras"))


def resolve(name_or_path: str | os.PathLike) -> Path:
    """A bundled model name or a path -> the ``.keras`` path (must exist)."""
    text = str(name_or_path)
    path = Path(text).expanduser()
    if path.suffix != ".keras" and os.sep not in text and "/" not in text:
        candidate = WEIGHTS_DIR / f"{text}.keras"
        if candidate.is_file():
            return candidate
        if not path.exists():
            names = ", ".join(bundled()) or "none"
            raise NeuroartError(f"unknown model {text!r} (bundled: {names}; or give a .keras path)")
    if not path.exists():
        raise NeuroartError(f"{path}: no such model file")
    if path.is_dir():
        raise NeuroartError(f"{path}: is a folder, not a .keras model file")
    return path


def card_path(model_path: str | os.PathLike) -> Path:
    return Path(model_path).with_suffix(".json")


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_card(name_or_path: str | os.PathLike) -> dict:
    """The model card beside a model file (a minimal one when the card is missing)."""
    path = resolve(name_or_path)
    cp = card_path(path)
    if not cp.is_file():
        return {"name": path.stem, "file": path.name, "sha256": file_sha256(path)}
    try:
        return json.loads(cp.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise NeuroartError(f"{cp}: broken model card ({e})") from None


def model_hash(name_or_path: str | os.PathLike) -> str:
    """Short sha256 of a model file (the card's value when present), for recipes."""
    card = load_card(name_or_path)
    return (card.get("sha256") or file_sha256(resolve(name_or_path)))[:16]


def _register_custom_objects() -> None:
    """Import the modules whose custom layers generator files need (they register on import)."""
    import importlib.util

    if importlib.util.find_spec("neuroart.generate.model") is not None:
        from ..generate import model  # noqa: F401


_cache: dict[tuple[str, int, bool], object] = {}


def load_model(name_or_path: str | os.PathLike = "mlp", *, compile: bool = False):
    """Load a bundled model by name, or a ``.keras`` file, with Keras safe mode on."""
    path = resolve(name_or_path)
    key = (str(path.resolve()), path.stat().st_mtime_ns, compile)
    if key in _cache:
        return _cache[key]
    if not zipfile.is_zipfile(path):
        raise NeuroartError(f"{path}: not a .keras model file (corrupted or wrong format)")
    _register_custom_objects()
    k = keras()
    try:
        model = k.models.load_model(path, compile=compile, safe_mode=True)
    except Exception as e:  # a truncated zip, a missing config, a foreign layer
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise NeuroartError(f"{path}: cannot load model ({first[:200]})") from None
    if len(_cache) >= 8:  # a few models at once (a dream uses a classifier, a prior and a judge)
        _cache.pop(next(iter(_cache)))
    _cache[key] = model
    return model


def save_model(model, path: str | os.PathLike, card: dict) -> Path:
    """Write `model` as ``.keras`` and its card as ``.json``, both atomically.

    The card gains ``file``, ``sha256`` and ``neuroart_version``. If anything fails the previous
    model (if any) is left untouched.
    """
    path = Path(path)
    if path.suffix != ".keras":
        raise NeuroartError(f"{path}: model files must end in .keras")
    # The card is written to its temporary file first and renamed last, after the model: an
    # interruption leaves the old pair, or a new model beside the old card, never a new card
    # describing an old model.
    with atomic_path(card_path(path)) as ctmp:
        with atomic_path(path, suffix=".keras") as tmp:
            model.save(tmp)
            card = {**card, "file": path.name, "sha256": file_sha256(tmp), "neuroart_version": __version__}
            ctmp.write_text(json.dumps(card, indent=2, sort_keys=False) + "\n")
    return path
