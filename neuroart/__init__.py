"""neuroart: generative art from an MNIST classifier.

The public API, imported lazily (TensorFlow loads only when a model is first needed)::

    import neuroart as na
    (x_train, y_train), (x_test, y_test) = na.load_mnist()
    model = na.load_model("mlp")              # the article's classifier, bundled
    na.save_grid(x_test[:16] / 255, "real.png", captions=[str(d) for d in y_test[:16]])
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
    "save_grid": "imaging",
    "save_image": "imaging",
    "save_gif": "imaging",
    "read_recipe": "imaging",
    "CMAPS": "imaging",
    "load_model": "models",
    "load_card": "models",
    "save_model": "models",
    "train_classifier": "models.classifier",
    "evaluate": "models.classifier",
    "predict": "models.classifier",
    "classify_images": "classify",
    "classify_files": "classify",
}

__all__ = ["NeuroartError", "__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        value = getattr(importlib.import_module(f".{_API[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'neuroart' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
