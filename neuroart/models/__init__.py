"""Model files: the registry of bundled models, loading, saving and model cards.

The architectures and their training live with their pipelines (`neuroart.classify`,
`neuroart.generate`); this module is the one door every model file goes through.

Every model is one native ``.keras`` file with a JSON *model card* beside it (same stem):
architecture, data source, test scores, epochs, seed, training seconds, neuroart version and the
sha256 of the ``.keras`` file. Files load with Keras ``safe_mode=True``. Bundled models live in
``neuroart/weights/`` and are addressed by name (``mlp``, ``cnn``, ``vae``, ``cvae``).
"""

from __future__ import annotations

import contextlib
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


def model_stamp(model, key: str = "model") -> dict:
    """What a recipe records of a model: ``{key: name, key_sha256: short hash}``.

    The hash is None for a model that is not a file (a Keras object passed in from a script).
    """
    name = model if isinstance(model, (str, os.PathLike)) else getattr(model, "name", type(model).__name__)
    try:
        digest = model_hash(model) if isinstance(model, (str, os.PathLike)) else None
    except NeuroartError:
        digest = None
    return {key: str(name), f"{key}_sha256": digest}


# --------------------------------------------------------------------------- model families
#
# Some model files hold a Keras class of neuroart's own (the generators' `Generator`, and any new
# family: a flow model, ...). The class and its contract live with the family's pipeline, which
# sits above this module; so a family *registers itself* here:
#
# 1. `declare_family("neuroart>Generator", "neuroart.generate.model")` -- a cheap declaration (no
#    import) made by the package root (`neuroart/__init__.py`, which lists the built-in families):
#    a file carrying that Keras class is defined by that module, imported before such a file loads;
# 2. that module, on import, defines the Keras class (``@keras.saving.register_keras_serializable(
#    package="neuroart")``) and calls `register_family(TheClass, contract)` (or, for functional
#    models holding a custom layer, `register_family(is_member, contract)` with a predicate): `contract(model, role,
#    source)` returns the model when it may serve `role` (``generator``, ``prior``, ``classifier``,
#    or a role of its own, given in `roles`), else raises one `NeuroartError` line.
#
# `check_model` asks a registered family first; plain Keras models get the checks below. Nothing
# here imports a family: the arrows point down (docs/architecture.md).

_DECLARED: dict[str, str] = {}  # Keras class name in a file -> the module that defines it
_FAMILIES: dict = {}  # the family's model class (or a predicate model -> bool) -> its contract
ROLES = ["classifier", "generator", "prior"]


def declare_family(keras_class: str, module: str) -> None:
    """Files carrying `keras_class` (``"neuroart>Generator"``) are defined by `module`, which is
    imported (and so registers the family) before any model file is loaded."""
    _DECLARED[str(keras_class)] = str(module)


def register_family(member, contract, *, roles=()) -> None:
    """A model family and its contract ``(model, role, source) -> model`` (raises `NeuroartError`
    when the model cannot serve the role). `member` is the family's model class, or a predicate
    ``model -> bool`` for a family of functional models (one holding its custom layer, say);
    `roles` adds roles of its own."""
    _FAMILIES[member] = contract
    ROLES.extend(r for r in roles if r not in ROLES)


def _import_families() -> None:
    """Import the declared families' modules (they register their Keras classes and contracts)."""
    import importlib

    for module in list(_DECLARED.values()):
        importlib.import_module(module)


def family_of(model):
    """The registered family (its class or predicate) `model` belongs to, or None (a plain Keras model)."""
    for member in _FAMILIES:
        if isinstance(member, type) and isinstance(model, member):
            return member
        if not isinstance(member, type) and member(model):
            return member
    return None


_cache: dict[tuple[str, int, bool], object] = {}


def load_model(name_or_path: str | os.PathLike = "mlp", *, compile: bool = False, role: str | None = None):
    """Load a bundled model by name, or a ``.keras`` file, with Keras safe mode on.

    With a `role` (``classifier``, ``generator`` or ``prior``) the model must keep that role's
    contract (see `check_model`), else one `NeuroartError` line names the file and the fault.
    """
    if role is not None and role not in ROLES:
        _import_families()  # a family may bring a role of its own
    if role is not None and role not in ROLES:
        raise ValueError(f"unknown model role {role!r} (one of {', '.join(ROLES)})")
    path = resolve(name_or_path)
    key = (str(path.resolve()), path.stat().st_mtime_ns, compile)
    if key in _cache:
        return check_model(_cache[key], role, path) if role else _cache[key]
    if not zipfile.is_zipfile(path):
        raise NeuroartError(f"{path}: not a .keras model file (corrupted or wrong format)")
    _import_families()
    k = keras()
    try:
        with zipfile.ZipFile(path) as z:  # which architecture it was (`generate.flow_graph` keys graphs by it)
            config_sha = hashlib.sha256(z.read("config.json")).hexdigest()
    except (KeyError, OSError, zipfile.BadZipFile):
        config_sha = None
    try:
        model = k.models.load_model(path, compile=compile, safe_mode=True)
    except Exception as e:  # a truncated zip, a missing config, a foreign layer
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise NeuroartError(f"{path}: cannot load model ({first[:200]})") from None
    if len(_cache) >= 8:  # a few models at once (a dream uses a classifier, a prior and a judge)
        _cache.pop(next(iter(_cache)))
    _cache[key] = model
    with contextlib.suppress(Exception):  # remembered, so a later contract error names the file
        model._neuroart_source = str(path)
        model._neuroart_config_sha = config_sha
    return check_model(model, role, path) if role else model


def load_classifier(model="mlp"):
    """A digit classifier: a bundled name, a ``.keras`` path or a Keras model, contract checked."""
    if isinstance(model, (str, os.PathLike)):
        return load_model(model, role="classifier")
    return check_model(model, "classifier")


def _shape(shape) -> str:
    return "x".join("?" if d is None else str(d) for d in tuple(shape)[1:]) or "a scalar"


def _io_shapes(model):
    """([input shapes], [output shapes]) of a Keras model, or (None, None) when it cannot tell."""
    try:
        return [tuple(t.shape) for t in model.inputs], [tuple(t.shape) for t in model.outputs]
    except (AttributeError, ValueError, TypeError):  # a subclassed model that was never called
        return None, None


def _is_image_input(shape) -> bool:
    dims = tuple(shape)[1:]
    if dims in ((784,), (None,)):
        return False
    return len(dims) in (2, 3) and all(d in (28, None) for d in dims[:2]) and (len(dims) == 2 or dims[2] in (1, None))


def check_model(model, role: str, source=None):
    """`model` if it keeps the contract of `role`, else a one-line `NeuroartError` naming `source`.

    * ``classifier``: one input of 28x28 (or 28x28x1) images, one output of 10 digit scores;
    * ``generator``: a model of a registered family that says it generates (the generators'
      `neuroart.generate.model.Generator`: encoder, decoder, prior);
    * ``prior`` (the Plug & Play denoiser): an unconditional generator, or a Keras model with one
      input of 28x28 (or 28x28x1, or 784) images and one output of 784 values (28x28 images).

    A model of a registered family is judged by that family's contract (see `register_family`).
    """
    if source is None:
        source = getattr(model, "_neuroart_source", None)
    src = str(source) if source is not None else f"model {getattr(model, 'name', type(model).__name__)!r}"
    family = family_of(model)
    if family is not None:
        return _FAMILIES[family](model, role, src)
    if role == "generator" or role not in ("classifier", "prior"):
        raise NeuroartError(f"{src}: not a neuroart {role} (a classifier?)")
    if not callable(model):
        raise NeuroartError(f"{src}: not a Keras model")
    ins, outs = _io_shapes(model)
    if ins is None:  # a script's own subclassed model: it is trusted to do its job
        return model
    want = "one 28x28 image input" if role == "classifier" else "28x28 images in"
    if len(ins) != 1:
        raise NeuroartError(f"{src}: not a digit {role} (it has {len(ins)} inputs; a {role} takes {want})")
    if not (_is_image_input(ins[0]) or (role == "prior" and tuple(ins[0])[1:] == (784,))):
        raise NeuroartError(f"{src}: not a digit {role} (its input is {_shape(ins[0])}, not 28x28 images)")
    if role == "classifier":
        if len(outs) != 1:
            raise NeuroartError(f"{src}: not a digit classifier (it has {len(outs)} outputs; "
                                "a classifier has one output of 10 digit scores)")
        if tuple(outs[0])[1:] != (10,):
            raise NeuroartError(f"{src}: not a digit classifier (its output is {_shape(outs[0])}, "
                                "not 10 digit scores)")
    else:
        size = 1
        for d in tuple(outs[0])[1:] if len(outs) == 1 else ():
            size = size * d if d is not None else -1
        if len(outs) != 1 or size != 28 * 28:
            what = f"{len(outs)} outputs" if len(outs) != 1 else f"an output of {_shape(outs[0])}"
            raise NeuroartError(f"{src}: not an autoencoder (it has {what}, not 28x28 images)")
    return model


def check_model_path(path: str | os.PathLike) -> Path:
    """Where a trained model will be saved: a ``.keras`` file in an existing folder (checked before training)."""
    path = Path(path)
    if path.suffix != ".keras":
        raise NeuroartError(f"{path}: model files must end in .keras")
    if path.is_dir():
        raise NeuroartError(f"{path}: is a folder")
    if not path.parent.is_dir():
        raise NeuroartError(f"folder does not exist: {path.parent}")
    return path


@contextlib.contextmanager
def _weights_only(model):
    """While saving, `model` has no optimizer and no compile config (Keras 3 writes both into a
    ``.keras`` file, doubling or tripling it with Adam's moments); both are restored after."""
    saved = {k: model.__dict__[k] for k in ("optimizer", "compiled") if k in model.__dict__}
    try:
        for k in saved:
            setattr(model, k, None if k == "optimizer" else False)
        yield model
    finally:
        for k, v in saved.items():
            setattr(model, k, v)


def save_model(model, path: str | os.PathLike, card: dict) -> Path:
    """Write `model` as ``.keras`` and its card as ``.json``, both atomically.

    The card gains ``file``, ``sha256`` and ``neuroart_version``. If anything fails the previous
    model (if any) is left untouched. The file holds the weights only, never the optimizer's
    state (training resumes from the card's recipe): see `_weights_only`.
    """
    path = check_model_path(path)
    # The card is written to its temporary file first and renamed last, after the model: an
    # interruption leaves the old pair, or a new model beside the old card, never a new card
    # describing an old model.
    with atomic_path(card_path(path)) as ctmp:
        with atomic_path(path, suffix=".keras") as tmp:
            with _weights_only(model):
                model.save(tmp)
            card = {**card, "file": path.name, "sha256": file_sha256(tmp), "neuroart_version": __version__}
            ctmp.write_text(json.dumps(card, indent=2, sort_keys=False) + "\n")
    return path
