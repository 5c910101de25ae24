"""neuroart: generative art from an MNIST classifier.

The public API, imported lazily (TensorFlow loads only when a model is first needed)::

    import neuroart as na
    result = na.dream_digits([3, 7], per_digit=4, seed=1)     # dreamed out of the article's MLP
    images, labels = na.generate_digits([8], per_digit=16)    # sampled from the bundled CVAE
    na.save_grid(images, "eights.png", ncols=8, cmap="magma")

Top-level names differ from the subpackage names (`neuroart.dream`, `neuroart.generate`) on
purpose, so that importing a subpackage never replaces a function here.
"""

from __future__ import annotations

import importlib

from ._util import NeuroartError
from ._version import __version__

# public name -> module that defines it
_API = {
    "load_mnist": "data",
    "to_float": "data",
    "load_digit_image": "data",
    "load_picture": "data",
    "mnist_style": "data",
    "make_grid": "imaging",
    "save_grid": "outputs",
    "save_image": "outputs",
    "save_gif": "outputs",
    "save_npz": "outputs",
    "read_recipe": "outputs",
    "read_label": "outputs",
    "CMAPS": "imaging",
    "load_model": "models",
    "load_card": "models",
    "save_model": "models",
    "train_classifier": "classify",
    "evaluate": "classify",
    "predict": "classify",
    "classify_images": "classify",
    "classify_files": "classify",
    # dreaming (neuroart.dream)
    "dream_digits": ("dream", "dream"),
    "DreamConfig": "dream",
    "deepdream": "dream",
    "DeepDreamConfig": "dream",
    "render": "dream",
    "objectives": "dream",
    "params": "dream",
    "transforms": "dream",
    # generators (neuroart.generate)
    "generate_digits": ("generate", "generate"),
    "reconstruct": "generate",
    "morph": "generate",
    "latent_map": "generate",
    "load_generator": "generate",
    "train_generator": "generate",
    "restyle": ("generate", "restyle"),
    "mix_styles": "generate",
    "similar": "generate",
    # attribution: the package `neuroart.explain` itself (importing it would replace a function of
    # the same name here); call `na.explain.explain(...)` (CHANGELOG.md)
    "explain": ("explain", None),
    # scores for generated digits
    "judge_agreement": "metrics",
    "frechet_distance": "metrics",
    "novelty": "metrics",
    "diversity": "metrics",
    "deletion_auc": "metrics",
    "style_consistency": "metrics",
    # pen plotters and the check for copies (docs/artists.md)
    "strokes": "pen",
    "near_copies": "copies",
    # writing results (every command and the studio's Save go through these)
    "Sheet": "outputs",
    "save": "outputs",
}

__all__ = ["NeuroartError", "__version__", *_API]


# Model families whose Keras class lives with its pipeline: the class name a model file carries ->
# the module that defines the class and registers its contract with `neuroart.models` (imported
# only when a model file is loaded). A new family (a flow model, ...) adds one line here.
MODEL_FAMILIES = {
    "neuroart>Generator": "neuroart.generate.model",
    "neuroart>TimeEmbedding": "neuroart.generate.flow",
}


def _declare_families() -> None:
    from .models import declare_family

    for keras_class, module in MODEL_FAMILIES.items():
        declare_family(keras_class, module)


_declare_families()


def __getattr__(name: str):
    if name in _API:
        module, attr = _API[name] if isinstance(_API[name], tuple) else (_API[name], name)
        value = importlib.import_module(f".{module}", __name__)
        value = value if attr is None else getattr(value, attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'neuroart' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
